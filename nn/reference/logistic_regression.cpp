#include <tapegrad/nn/reference/logistic_regression.h>

#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_arguments(const char* function, const Matrix<T>& w, const Matrix<T>& b, const InputView<T>& X,
                     const InputView<T>& y, T lambda) {
  check_shape(function, "weights w (one entry per row of the inputs " + shape_text(X.rows(), X.cols()) + ")",
              shape_of(w), {X.rows(), 1});
  check_shape(function, "bias b", shape_of(b), {1, 1});
  check_nonempty_batch(function, X.cols());
  check_shape(function, "targets y", shape_of(y), {1, X.cols()});
  check_regularisation(function, lambda);
}

}  // namespace

template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& w, const Matrix<T>& b, InputView<T> X, InputView<T> y,
                                        ScalarArgument<T> lambda) {
  check_arguments("logistic_regression_cost", w, b, X, y, lambda);
  // With one row, the multiple binary cross-entropy is C averaged over the batch.
  const T loss = binary_cross_entropy(linear_scores<T>(w.transpose(), b, X), y);
  return {loss, loss + lambda * w.squaredNorm()};
}

template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& w, const Matrix<T>& b, InputView<T> X,
                                                   InputView<T> y, ScalarArgument<T> lambda) {
  check_arguments("logistic_regression_gradients", w, b, X, y, lambda);
  const T n = static_cast<T>(X.cols());
  const Matrix<T> s = linear_scores<T>(w.transpose(), b, X);
  const Matrix<T> yhat = sigmoid(s);
  const T loss = binary_cross_entropy(s, y);

  const Matrix<T> g = yhat - y;
  const Matrix<T> dw = (1 / n) * X * g.transpose() + 2 * lambda * w;
  const Matrix<T> db = (1 / n) * g.rowwise().sum();
  return {loss, loss + lambda * w.squaredNorm(), {dw, db}};
}

#define TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(T)                                                     \
  template LossAndCost<T> logistic_regression_cost<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>, \
                                                      InputView<T>, ScalarArgument<T>);                 \
  template LinearModelResult<T> logistic_regression_gradients<T>(const Matrix<T>&, const Matrix<T>&,    \
                                                                 InputView<T>, InputView<T>, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(float)
TAPEGRAD_INSTANTIATE_LOGISTIC_REGRESSION(double)

}  // namespace tapegrad::reference
