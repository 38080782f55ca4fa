#include <tapegrad/nn/reference/logistic_regression.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <tapegrad/nn/reference/linear_layer.h>
#include <tapegrad/nn/reference/losses.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_model(const char* function, const Matrix<T>& weights, const Matrix<T>& bias,
                 const InputView<T>& inputs) {
  // The message is built only on failure: a training step must not allocate.
  if (weights.rows() != inputs.rows() || weights.cols() != 1) {
    check_shape(
        function,
        fmt::format("weights w (one entry per row of the inputs {})", shape_text(inputs.rows(), inputs.cols())),
        shape_of(weights), {inputs.rows(), 1});
  }
  check_shape(function, "bias b", shape_of(bias), {1, 1});
  check_nonempty_batch(function, inputs.cols());
}

template <typename Targets>
void check_binary_targets(const char* function, const Targets& targets, Eigen::Index examples) {
  if constexpr (std::is_same_v<Targets, std::span<const int>>) {
    check_binary_labels(function, targets, examples);
  } else {
    check_targets(function, targets, 1, examples);
  }
}

template <typename T>
void scores_into(const Matrix<T>& weights, const Matrix<T>& bias, const InputView<T>& inputs, Matrix<T>& scores) {
  scores.resize(1, inputs.cols());
  scores.noalias() = weights.transpose() * inputs;
  scores.array() += bias(0, 0);
}

// The binary cross-entropy of labels 0/1 from the logits s, C = log(1 + exp(s)) - y s written so that it stays
// finite; returns the mean and, when asked, leaves yhat - y in the scores.
template <typename T>
T binary_cross_entropy(Matrix<T>& scores, std::span<const int> labels, bool keep_gradient) {
  double total = 0;
  for (Eigen::Index i = 0; i < scores.cols(); ++i) {
    const T score = scores(0, i);
    const T label = static_cast<T>(labels[static_cast<std::size_t>(i)]);
    total += static_cast<double>(std::max(score, T(0)) - label * score + std::log1p(std::exp(-std::abs(score))));
    if (keep_gradient) scores(0, i) = T(1) / (T(1) + std::exp(-score)) - label;
  }
  return static_cast<T>(total / static_cast<double>(scores.cols()));
}

template <typename T>
T binary_cross_entropy(Matrix<T>& scores, const InputView<T>& targets, bool keep_gradient) {
  // With one row, the multiple binary cross-entropy is exactly C averaged over the batch.
  return keep_gradient ? sigmoid_binary_cross_entropy_in_place(scores, targets)
                       : sigmoid_binary_cross_entropy(scores, targets);
}

template <typename T, typename Targets>
LossAndCost<T> cost(const Matrix<T>& weights, const Matrix<T>& bias, const InputView<T>& inputs,
                    const Targets& targets, T lambda) {
  constexpr const char* function = "logistic_regression_cost";
  check_model(function, weights, bias, inputs);
  check_binary_targets(function, targets, inputs.cols());
  check_regularisation(function, lambda);
  Matrix<T> scores;
  scores_into(weights, bias, inputs, scores);
  const T loss = binary_cross_entropy(scores, targets, false);
  return {loss, loss + l2_penalty(weights, lambda)};
}

template <typename T, typename Targets>
void gradients(const Matrix<T>& weights, const Matrix<T>& bias, const InputView<T>& inputs, const Targets& targets,
               T lambda, LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace) {
  constexpr const char* function = "logistic_regression_gradients";
  check_model(function, weights, bias, inputs);
  check_binary_targets(function, targets, inputs.cols());
  check_regularisation(function, lambda);
  Matrix<T>& scores = workspace.scores;
  scores_into(weights, bias, inputs, scores);
  result.loss = binary_cross_entropy(scores, targets, true);  // scores are now yhat - y
  result.cost = result.loss + l2_penalty(weights, lambda);
  const T mean = T(1) / static_cast<T>(inputs.cols());
  // dJ/dw = X (yhat - y)^T / n + 2 lambda w: a matrix-vector product accumulated onto the L2 term.
  result.gradient.weights = (T(2) * lambda) * weights;
  result.gradient.weights.noalias() += mean * inputs * scores.transpose();
  result.gradient.bias.resize(1, 1);
  result.gradient.bias(0, 0) = mean * scores.sum();
}

}  // namespace

template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                        std::span<const int> labels, ScalarArgument<T> lambda) {
  return cost(weights, bias, inputs, labels, lambda);
}

template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                        InputView<T> targets, ScalarArgument<T> lambda) {
  return cost(weights, bias, inputs, targets, lambda);
}

template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                   InputView<T> inputs, std::span<const int> labels,
                                                   ScalarArgument<T> lambda) {
  LinearModelResult<T> result;
  LinearModelWorkspace<T> workspace;
  gradients(weights, bias, inputs, labels, lambda, result, workspace);
  return result;
}

template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                   InputView<T> inputs, InputView<T> targets,
                                                   ScalarArgument<T> lambda) {
  LinearModelResult<T> result;
  LinearModelWorkspace<T> workspace;
  gradients(weights, bias, inputs, targets, lambda, result, workspace);
  return result;
}

template <typename T>
void logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                   std::span<const int> labels, ScalarArgument<T> lambda,
                                   LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace) {
  gradients(weights, bias, inputs, labels, lambda, result, workspace);
}

template <typename T>
void logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                   InputView<T> targets, ScalarArgument<T> lambda, LinearModelResult<T>& result,
                                   LinearModelWorkspace<T>& workspace) {
  gradients(weights, bias, inputs, targets, lambda, result, workspace);
}

template <typename T>
Matrix<T> logistic_regression_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs) {
  check_model("logistic_regression_scores", weights, bias, inputs);
  Matrix<T> scores;
  scores_into(weights, bias, inputs, scores);
  return scores;
}

template <typename T>
Matrix<T> logistic_regression_probabilities(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs) {
  Matrix<T> probabilities = logistic_regression_scores(weights, bias, inputs);
  sigmoid_in_place(probabilities);
  return probabilities;
}

template <typename T>
std::vector<int> logistic_regression_predictions(const Matrix<T>& weights, const Matrix<T>& bias,
                                                 InputView<T> inputs) {
  const Matrix<T> scores = logistic_regression_scores(weights, bias, inputs);
  std::vector<int> predictions(static_cast<std::size_t>(scores.cols()));
  for (Eigen::Index i = 0; i < scores.cols(); ++i) predictions[static_cast<std::size_t>(i)] = scores(0, i) >= T(0);
  return predictions;
}

#define TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(T)                                                              \
  template LossAndCost<T> logistic_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,          \
                                                      std::span<const int>, ScalarArgument<T>);                  \
  template LossAndCost<T> logistic_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,          \
                                                      InputView<T>, ScalarArgument<T>);                          \
  template LinearModelResult<T> logistic_regression_gradients<T>(                                                \
      const Matrix<T>&, const Matrix<T>&, InputView<T>, std::span<const int>, ScalarArgument<T>);                \
  template LinearModelResult<T> logistic_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&,             \
                                                                 InputView<T>, InputView<T>, ScalarArgument<T>); \
  template void logistic_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,               \
                                                 std::span<const int>, ScalarArgument<T>, LinearModelResult<T>&, \
                                                 LinearModelWorkspace<T>&);                                      \
  template void logistic_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, InputView<T>, \
                                                 ScalarArgument<T>, LinearModelResult<T>&,                       \
                                                 LinearModelWorkspace<T>&);                                      \
  template Matrix<T> logistic_regression_scores<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);            \
  template Matrix<T> logistic_regression_probabilities<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);     \
  template std::vector<int> logistic_regression_predictions<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);

TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(float)
TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(double)

}  // namespace tapegrad::reference
