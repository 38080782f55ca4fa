#include <tapegrad/nn/reference/softmax_regression.h>

#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_arguments(const char* function, const Matrix<T>& W, const Matrix<T>& b, const InputView<T>& X,
                     const InputView<T>& Y, T lambda) {
  check_linear_model(function, shape_of(W), shape_of(b), shape_of(X), shape_of(Y), lambda);
  check_probability_columns(function, Y);
}

}  // namespace

template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X, InputView<T> Y,
                                       ScalarArgument<T> lambda) {
  check_arguments("softmax_regression_cost", W, b, X, Y, lambda);
  const T loss = cross_entropy(linear_scores(W, b, X), Y);
  return {loss, loss + lambda * W.squaredNorm()};
}

template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X,
                                                  InputView<T> Y, ScalarArgument<T> lambda) {
  check_arguments("softmax_regression_gradients", W, b, X, Y, lambda);
  const T n = static_cast<T>(X.cols());
  const Matrix<T> S = linear_scores(W, b, X);
  const Matrix<T> P = softmax(S);
  const T loss = cross_entropy(S, Y);

  const Matrix<T> G = P - Y;
  const Matrix<T> dW = (1 / n) * G * X.transpose() + 2 * lambda * W;
  const Matrix<T> db = (1 / n) * G.rowwise().sum();
  return {loss, loss + lambda * W.squaredNorm(), {dW, db}};
}

#define TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(T)                                                                \
  template LossAndCost<T> softmax_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,            \
                                                     InputView<T>, ScalarArgument<T>);                            \
  template LinearModelResult<T> softmax_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, \
                                                                InputView<T>, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(float)
TAPEGRAD_INSTANTIATE_SOFTMAX_REGRESSION(double)

}  // namespace tapegrad::reference
