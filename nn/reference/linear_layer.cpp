#include <tapegrad/nn/reference/linear_layer.h>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {

template <typename T>
void linear_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs, Matrix<T>& scores) {
  check_linear_shapes("linear_scores", shape_of(weights), shape_of(bias), shape_of(inputs));
  // Eigen's own product, not the tape's kernels (core/kernels): the reference stays an independent check.
  scores.noalias() = weights * inputs;
  scores.colwise() += bias.col(0);
}

template <typename T>
Matrix<T> linear_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs) {
  Matrix<T> scores;
  linear_scores(weights, bias, inputs, scores);
  return scores;
}

template <typename T>
void linear_backward(const Matrix<T>& score_gradient, InputView<T> inputs, const Matrix<T>& weights,
                     ScalarArgument<T> scale, ScalarArgument<T> lambda, LinearGradient<T>& gradient) {
  check_shape("linear_backward", "the score gradient", shape_of(score_gradient), {weights.rows(), inputs.cols()});
  check_shape("linear_backward", "the weights", shape_of(weights), {score_gradient.rows(), inputs.rows()});
  // dW = scale G X^T + 2 lambda W
  gradient.weights = (T(2) * lambda) * weights;
  gradient.weights.noalias() += scale * (score_gradient * inputs.transpose());
  gradient.bias.resize(score_gradient.rows(), 1);
  gradient.bias.noalias() = scale * score_gradient.rowwise().sum();
}

template <typename T>
T l2_penalty(const Matrix<T>& weights, ScalarArgument<T> lambda) {
  return lambda * weights.squaredNorm();
}

#define TAPEGRAD_INSTANTIATE_REFERENCE_LINEAR_LAYER(T)                                                  \
  template void linear_scores<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, Matrix<T>&);         \
  template Matrix<T> linear_scores<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);                \
  template void linear_backward<T>(const Matrix<T>&, InputView<T>, const Matrix<T>&, ScalarArgument<T>, \
                                   ScalarArgument<T>, LinearGradient<T>&);                              \
  template T l2_penalty<T>(const Matrix<T>&, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_REFERENCE_LINEAR_LAYER(float)
TAPEGRAD_INSTANTIATE_REFERENCE_LINEAR_LAYER(double)

}  // namespace tapegrad::reference
