#include <tapegrad/nn/reference/sigmoid_regression.h>

#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> sigmoid_regression_cost(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X, InputView<T> Y,
                                       ScalarArgument<T> lambda) {
  check_linear_model("sigmoid_regression_cost", shape_of(W), shape_of(b), shape_of(X), shape_of(Y), lambda);
  const T loss = binary_cross_entropy(linear_scores(W, b, X), Y);
  return {loss, loss + lambda * W.squaredNorm()};
}

template <typename T>
LinearModelResult<T> sigmoid_regression_gradients(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X,
                                                  InputView<T> Y, ScalarArgument<T> lambda) {
  check_linear_model("sigmoid_regression_gradients", shape_of(W), shape_of(b), shape_of(X), shape_of(Y), lambda);
  const T n = static_cast<T>(X.cols());
  const T K = static_cast<T>(W.rows());
  const Matrix<T> S = linear_scores(W, b, X);
  const Matrix<T> P = sigmoid(S);
  const T loss = binary_cross_entropy(S, Y);

  const Matrix<T> G = P - Y;
  const Matrix<T> dW = (1 / (K * n)) * G * X.transpose() + 2 * lambda * W;
  const Matrix<T> db = (1 / (K * n)) * G.rowwise().sum();
  return {loss, loss + lambda * W.squaredNorm(), {dW, db}};
}

#define TAPEGRAD_INSTANTIATE_SIGMOID_REGRESSION(T)                                                                \
  template LossAndCost<T> sigmoid_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>,            \
                                                     InputView<T>, ScalarArgument<T>);                            \
  template LinearModelResult<T> sigmoid_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, \
                                                                InputView<T>, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_SIGMOID_REGRESSION(float)
TAPEGRAD_INSTANTIATE_SIGMOID_REGRESSION(double)

}  // namespace tapegrad::reference
