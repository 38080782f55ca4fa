#include <tapegrad/nn/reference/softmax_regression.h>

#include <tapegrad/nn/reference/linear_layer.h>
#include <tapegrad/nn/reference/losses.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

// Labels and targets share every line except the loss call, which overload resolution picks.
template <typename T, typename Targets>
LossAndCost<T> cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs, const Targets& targets,
                    T lambda) {
  constexpr const char* function = "softmax_regression_cost";
  check_linear_shapes(function, shape_of(weights), shape_of(bias), shape_of(inputs));
  check_targets(function, targets, weights.rows(), inputs.cols());
  check_regularisation(function, lambda);
  const Matrix<T> scores = linear_scores(weights, bias, inputs);
  const T loss = softmax_cross_entropy(scores, targets);
  return {loss, loss + l2_penalty(weights, lambda)};
}

template <typename T, typename Targets>
void gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs, const Targets& targets,
               T lambda, LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace) {
  constexpr const char* function = "softmax_regression_gradients";
  check_linear_shapes(function, shape_of(weights), shape_of(bias), shape_of(inputs));
  check_targets(function, targets, weights.rows(), inputs.cols());
  check_regularisation(function, lambda);
  linear_scores(weights, bias, inputs, workspace.scores);
  result.loss = softmax_cross_entropy_in_place(workspace.scores, targets);  // scores are now P - Y
  result.cost = result.loss + l2_penalty(weights, lambda);
  const T mean = T(1) / static_cast<T>(inputs.cols());
  linear_backward(workspace.scores, inputs, weights, mean, lambda, result.gradient);
}

}  // namespace

template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       std::span<const int> labels, ScalarArgument<T> lambda) {
  return cost(weights, bias, inputs, labels, lambda);
}

template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       InputView<T> targets, ScalarArgument<T> lambda) {
  return cost(weights, bias, inputs, targets, lambda);
}

template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, std::span<const int> labels,
                                                  ScalarArgument<T> lambda) {
  LinearModelResult<T> result;
  LinearModelWorkspace<T> workspace;
  gradients(weights, bias, inputs, labels, lambda, result, workspace);
  return result;
}

template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, InputView<T> targets,
                                                  ScalarArgument<T> lambda) {
  LinearModelResult<T> result;
  LinearModelWorkspace<T> workspace;
  gradients(weights, bias, inputs, targets, lambda, result, workspace);
  return result;
}

template <typename T>
void softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  std::span<const int> labels, ScalarArgument<T> lambda,
                                  LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace) {
  gradients(weights, bias, inputs, labels, lambda, result, workspace);
}

template <typename T>
void softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  InputView<T> targets, ScalarArgument<T> lambda, LinearModelResult<T>& result,
                                  LinearModelWorkspace<T>& workspace) {
  gradients(weights, bias, inputs, targets, lambda, result, workspace);
}

template <typename T>
Matrix<T> softmax_regression_probabilities(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs) {
  Matrix<T> probabilities = linear_scores(weights, bias, inputs);
  softmax_columns_in_place(probabilities);
  return probabilities;
}

#define TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(T)                                                                \
  template LossAndCost<T> softmax_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,            \
                                                     std::span<const int>, ScalarArgument<T>);                    \
  template LossAndCost<T> softmax_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,            \
                                                     InputView<T>, ScalarArgument<T>);                            \
  template LinearModelResult<T> softmax_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, \
                                                                std::span<const int>, ScalarArgument<T>);         \
  template LinearModelResult<T> softmax_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, \
                                                                InputView<T>, ScalarArgument<T>);                 \
  template void softmax_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,                 \
                                                std::span<const int>, ScalarArgument<T>, LinearModelResult<T>&,   \
                                                LinearModelWorkspace<T>&);                                        \
  template void softmax_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, InputView<T>,   \
                                                ScalarArgument<T>, LinearModelResult<T>&,                         \
                                                LinearModelWorkspace<T>&);                                        \
  template Matrix<T> softmax_regression_probabilities<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);

TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(float)
TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(double)

}  // namespace tapegrad::reference
