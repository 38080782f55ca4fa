#include <tapegrad/nn/reference/two_layer_network.h>

#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_network(const char* function, const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2,
                   const Matrix<T>& b2, const InputView<T>& X) {
  check_linear_shapes(function, shape_of(W1), shape_of(b1), shape_of(X), "first-layer weights W1",
                      "first-layer bias b1");
  check_shape(
      function,
      "second-layer weights W2 (one column per hidden unit, a row of W1 " + shape_text(W1.rows(), W1.cols()) + ")",
      shape_of(W2), {W2.rows(), W1.rows()});
  check_shape(function, "second-layer bias b2", shape_of(b2), {W2.rows(), 1});
}

template <typename T>
void check_arguments(const char* function, const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2,
                     const Matrix<T>& b2, const InputView<T>& X, const InputView<T>& Y, T lambda) {
  check_network(function, W1, b1, W2, b2, X);
  check_shape(function, "targets", shape_of(Y), {W2.rows(), X.cols()});
  check_regularisation(function, lambda);
  check_probability_columns(function, Y);
}

}  // namespace

template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2, const Matrix<T>& b2,
                              InputView<T> X, InputView<T> Y, ScalarArgument<T> lambda) {
  check_arguments("two_layer_cost", W1, b1, W2, b2, X, Y, lambda);
  const T loss = cross_entropy(two_layer_scores(W1, b1, W2, b2, X), Y);
  return {loss, loss + lambda * (W1.squaredNorm() + W2.squaredNorm())};
}

template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2,
                                      const Matrix<T>& b2, InputView<T> X, InputView<T> Y,
                                      ScalarArgument<T> lambda) {
  check_arguments("two_layer_gradients", W1, b1, W2, b2, X, Y, lambda);
  const T n = static_cast<T>(X.cols());
  const Matrix<T> H = linear_scores(W1, b1, X).cwiseMax(T(0));
  const Matrix<T> S = linear_scores(W2, b2, H);
  const Matrix<T> P = softmax(S);
  const T loss = cross_entropy(S, Y);

  TwoLayerResult<T> result{loss, loss + lambda * (W1.squaredNorm() + W2.squaredNorm()), {}, {}};
  Matrix<T> G = P - Y;
  result.second_layer.weights = (1 / n) * G * H.transpose() + 2 * lambda * W2;
  result.second_layer.bias = (1 / n) * G.rowwise().sum();
  G = ((W2.transpose() * G).array() * (H.array() > T(0)).template cast<T>()).matrix();
  result.first_layer.weights = (1 / n) * G * X.transpose() + 2 * lambda * W1;
  result.first_layer.bias = (1 / n) * G.rowwise().sum();
  return result;
}

template <typename T>
Matrix<T> two_layer_scores(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2, const Matrix<T>& b2,
                           InputView<T> X) {
  check_network("two_layer_scores", W1, b1, W2, b2, X);
  return linear_scores(W2, b2, linear_scores(W1, b1, X).cwiseMax(T(0)));
}

#define TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(T)                                                                \
  template LossAndCost<T> two_layer_cost<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,                \
                                            const Matrix<T>&, InputView<T>, InputView<T>, ScalarArgument<T>);    \
  template TwoLayerResult<T> two_layer_gradients<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,        \
                                                    const Matrix<T>&, InputView<T>, InputView<T>,                \
                                                    ScalarArgument<T>);                                          \
  template Matrix<T> two_layer_scores<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, \
                                         InputView<T>);

TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(float)
TAPEGRAD_INSTANTIATE_TWO_LAYER_NETWORK(double)

}  // namespace tapegrad::reference
