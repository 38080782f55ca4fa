#include <tapegrad/nn/reference/two_layer_network.h>

#include <fmt/format.h>

#include <tapegrad/nn/reference/evaluation.h>
#include <tapegrad/nn/reference/linear_layer.h>
#include <tapegrad/nn/reference/losses.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_network(const char* function, const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                   const Matrix<T>& second_weights, const Matrix<T>& second_bias, const InputView<T>& inputs,
                   T lambda) {
  check_linear_shapes(function, shape_of(first_weights), shape_of(first_bias), shape_of(inputs),
                      "first-layer weights W1", "first-layer bias b1");
  // The message is built only on failure: a training step must not allocate.
  if (second_weights.cols() != first_weights.rows()) {
    check_shape(function,
                fmt::format("second-layer weights W2 (one column per hidden unit, a row of W1 {})",
                            shape_text(first_weights.rows(), first_weights.cols())),
                shape_of(second_weights), {second_weights.rows(), first_weights.rows()});
  }
  check_shape(function, "second-layer bias b2", shape_of(second_bias), {second_weights.rows(), 1});
  check_regularisation(function, lambda);
}

// H = max(0, W1 X + b1), then S = W2 H + b2, both into reused matrices.
template <typename T>
void forward(const Matrix<T>& first_weights, const Matrix<T>& first_bias, const Matrix<T>& second_weights,
             const Matrix<T>& second_bias, const InputView<T>& inputs, Matrix<T>& hidden, Matrix<T>& scores) {
  linear_scores(first_weights, first_bias, inputs, hidden);
  hidden.array() = hidden.array().max(T(0));
  linear_scores(second_weights, second_bias, hidden, scores);
}

template <typename T>
T penalty(const Matrix<T>& first_weights, const Matrix<T>& second_weights, T lambda) {
  return l2_penalty(first_weights, lambda) + l2_penalty(second_weights, lambda);
}

template <typename T, typename Targets>
LossAndCost<T> cost(const Matrix<T>& first_weights, const Matrix<T>& first_bias, const Matrix<T>& second_weights,
                    const Matrix<T>& second_bias, const InputView<T>& inputs, const Targets& targets, T lambda) {
  constexpr const char* function = "two_layer_cost";
  check_network(function, first_weights, first_bias, second_weights, second_bias, inputs, lambda);
  check_targets(function, targets, second_weights.rows(), inputs.cols());
  Matrix<T> hidden;
  Matrix<T> scores;
  forward(first_weights, first_bias, second_weights, second_bias, inputs, hidden, scores);
  const T loss = softmax_cross_entropy(scores, targets);
  return {loss, loss + penalty(first_weights, second_weights, lambda)};
}

template <typename T, typename Targets>
void gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias, const Matrix<T>& second_weights,
               const Matrix<T>& second_bias, const InputView<T>& inputs, const Targets& targets, T lambda,
               TwoLayerResult<T>& result, TwoLayerWorkspace<T>& workspace) {
  constexpr const char* function = "two_layer_gradients";
  check_network(function, first_weights, first_bias, second_weights, second_bias, inputs, lambda);
  check_targets(function, targets, second_weights.rows(), inputs.cols());
  Matrix<T>& hidden = workspace.hidden;
  Matrix<T>& scores = workspace.scores;
  Matrix<T>& hidden_gradient = workspace.hidden_gradient;
  forward(first_weights, first_bias, second_weights, second_bias, inputs, hidden, scores);
  result.loss = softmax_cross_entropy_in_place(scores, targets);  // scores are now G2 = P - Y
  result.cost = result.loss + penalty(first_weights, second_weights, lambda);

  const T mean = T(1) / static_cast<T>(inputs.cols());
  linear_backward(scores, hidden, second_weights, mean, lambda, result.second_layer);
  // G1 = (W2^T G2) o 1[H > 0]; the 1/n stays folded into the products of linear_backward.
  hidden_gradient.noalias() = second_weights.transpose() * scores;
  hidden_gradient.array() = (hidden.array() > T(0)).select(hidden_gradient.array(), T(0));
  linear_backward(hidden_gradient, inputs, first_weights, mean, lambda, result.first_layer);
}

}  // namespace

template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                              const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                              std::span<const int> labels, ScalarArgument<T> lambda) {
  return cost(first_weights, first_bias, second_weights, second_bias, inputs, labels, lambda);
}

template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                              const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                              InputView<T> targets, ScalarArgument<T> lambda) {
  return cost(first_weights, first_bias, second_weights, second_bias, inputs, targets, lambda);
}

template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                      const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                      InputView<T> inputs, std::span<const int> labels, ScalarArgument<T> lambda) {
  TwoLayerResult<T> result;
  TwoLayerWorkspace<T> workspace;
  gradients(first_weights, first_bias, second_weights, second_bias, inputs, labels, lambda, result, workspace);
  return result;
}

template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                      const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                      InputView<T> inputs, InputView<T> targets, ScalarArgument<T> lambda) {
  TwoLayerResult<T> result;
  TwoLayerWorkspace<T> workspace;
  gradients(first_weights, first_bias, second_weights, second_bias, inputs, targets, lambda, result, workspace);
  return result;
}

template <typename T>
void two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                         const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                         std::span<const int> labels, ScalarArgument<T> lambda, TwoLayerResult<T>& result,
                         TwoLayerWorkspace<T>& workspace) {
  gradients(first_weights, first_bias, second_weights, second_bias, inputs, labels, lambda, result, workspace);
}

template <typename T>
void two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                         const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                         InputView<T> targets, ScalarArgument<T> lambda, TwoLayerResult<T>& result,
                         TwoLayerWorkspace<T>& workspace) {
  gradients(first_weights, first_bias, second_weights, second_bias, inputs, targets, lambda, result, workspace);
}

template <typename T>
Matrix<T> two_layer_scores(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                           const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs) {
  check_network("two_layer_scores", first_weights, first_bias, second_weights, second_bias, inputs, T(0));
  Matrix<T> hidden;
  Matrix<T> scores;
  forward(first_weights, first_bias, second_weights, second_bias, inputs, hidden, scores);
  return scores;
}

template <typename T>
Matrix<T> two_layer_probabilities(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                  const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                  InputView<T> inputs) {
  Matrix<T> probabilities = two_layer_scores(first_weights, first_bias, second_weights, second_bias, inputs);
  softmax_columns_in_place(probabilities);
  return probabilities;
}

template <typename T>
std::vector<int> two_layer_predictions(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                       const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                       InputView<T> inputs) {
  return predict_classes(two_layer_scores(first_weights, first_bias, second_weights, second_bias, inputs));
}

#define TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(T)                                                                 \
  template LossAndCost<T> two_layer_cost<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,                 \
                                            const Matrix<T>&, InputView<T>, std::span<const int>,                 \
                                            ScalarArgument<T>);                                                   \
  template LossAndCost<T> two_layer_cost<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,                 \
                                            const Matrix<T>&, InputView<T>, InputView<T>, ScalarArgument<T>);     \
  template TwoLayerResult<T> two_layer_gradients<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,         \
                                                    const Matrix<T>&, InputView<T>, std::span<const int>,         \
                                                    ScalarArgument<T>);                                           \
  template TwoLayerResult<T> two_layer_gradients<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,         \
                                                    const Matrix<T>&, InputView<T>, InputView<T>,                 \
                                                    ScalarArgument<T>);                                           \
  template void two_layer_gradients<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,    \
                                       InputView<T>, std::span<const int>, ScalarArgument<T>, TwoLayerResult<T>&, \
                                       TwoLayerWorkspace<T>&);                                                    \
  template void two_layer_gradients<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,    \
                                       InputView<T>, InputView<T>, ScalarArgument<T>, TwoLayerResult<T>&,         \
                                       TwoLayerWorkspace<T>&);                                                    \
  template Matrix<T> two_layer_scores<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,  \
                                         InputView<T>);                                                           \
  template Matrix<T> two_layer_probabilities<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,             \
                                                const Matrix<T>&, InputView<T>);                                  \
  template std::vector<int> two_layer_predictions<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,        \
                                                     const Matrix<T>&, InputView<T>);

TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(float)
TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(double)

}  // namespace tapegrad::reference
