// The two-layer ReLU network with cross-entropy and L2 regularisation, as the reports derive it by hand:
//   H = max(0, W1 X + b1),   S = W2 H + b2,   P = softmax(S) per column,
//   J = -(1/n) sum_i y_i^T log p_i + lambda (||W1||_F^2 + ||W2||_F^2),
//   G = P - Y,               dJ/dW2 = (1/n) G H^T + 2 lambda W2,   dJ/db2 = (1/n) G 1,
//   G = (W2^T G) .* 1[H > 0],  dJ/dW1 = (1/n) G X^T + 2 lambda W1,   dJ/db1 = (1/n) G 1.
// W1 is m x d, b1 m x 1, W2 K x m, b2 K x 1, X d x n (examples are columns), Y K x n: one-hot labels (one_hot in
// functions.h), or any columns of probabilities.
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
struct TwoLayerResult {
  T loss = 0;
  T cost = 0;
  LinearGradient<T> first_layer;   // dJ/dW1, dJ/db1
  LinearGradient<T> second_layer;  // dJ/dW2, dJ/db2
};

template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2, const Matrix<T>& b2,
                              InputView<T> X, InputView<T> Y, ScalarArgument<T> lambda);

template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2,
                                      const Matrix<T>& b2, InputView<T> X, InputView<T> Y,
                                      ScalarArgument<T> lambda);

// S = W2 max(0, W1 X + b1) + b2, K x n.
template <typename T>
Matrix<T> two_layer_scores(const Matrix<T>& W1, const Matrix<T>& b1, const Matrix<T>& W2, const Matrix<T>& b2,
                           InputView<T> X);

}  // namespace tapegrad::reference
