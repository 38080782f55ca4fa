#include <tapegrad/nn/reference/sgd.h>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {

template <typename T>
void sgd_step(Matrix<T>& parameter, InputView<T> gradient, ScalarArgument<T> learning_rate) {
  check_learning_rate("sgd_step", learning_rate);
  check_shape("sgd_step", "the gradient", shape_of(gradient), shape_of(parameter));
  parameter.noalias() -= learning_rate * gradient;
}

template <typename T>
void sgd_step(Matrix<T>& weights, Matrix<T>& bias, const LinearGradient<T>& gradient,
              ScalarArgument<T> learning_rate) {
  // Both shapes are checked before either parameter moves, so a mistake leaves the model as it was.
  check_learning_rate("sgd_step", learning_rate);
  check_shape("sgd_step", "the weight gradient", shape_of(gradient.weights), shape_of(weights));
  check_shape("sgd_step", "the bias gradient", shape_of(gradient.bias), shape_of(bias));
  weights.noalias() -= learning_rate * gradient.weights;
  bias.noalias() -= learning_rate * gradient.bias;
}

#define TAPEGRAD_INSTANTIATE_REFERENCE_SGD(T)                             \
  template void sgd_step<T>(Matrix<T>&, InputView<T>, ScalarArgument<T>); \
  template void sgd_step<T>(Matrix<T>&, Matrix<T>&, const LinearGradient<T>&, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_REFERENCE_SGD(float)
TAPEGRAD_INSTANTIATE_REFERENCE_SGD(double)

}  // namespace tapegrad::reference
