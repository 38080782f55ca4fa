// The two-layer ReLU network as the reports derive it by hand:
//   H = max(0, W1 X + b1),  S = W2 H + b2,  P = softmax(S),
//   J = -1/n sum_i log P[y_i, i] + lambda (||W1||_F^2 + ||W2||_F^2),
//   G2 = P - Y,  dW2 = G2 H^T / n + 2 lambda W2,  db2 = G2 1 / n,
//   G1 = (W2^T G2) o 1[H > 0],  dW1 = G1 X^T / n + 2 lambda W1,  db1 = G1 1 / n.
// W1 is m x d, b1 m x 1, W2 K x m, b2 K x 1, X d x n (examples are columns); labels 0..K-1 or one-hot Y (K x n).
#pragma once

#include <span>
#include <vector>

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
struct TwoLayerWorkspace {
  Matrix<T> hidden;           // H, m x n
  Matrix<T> scores;           // S, then in place G2 = P - Y, K x n
  Matrix<T> hidden_gradient;  // G1, m x n
};

template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                              const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                              std::span<const int> labels, ScalarArgument<T> lambda);
template <typename T>
LossAndCost<T> two_layer_cost(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                              const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                              InputView<T> targets, ScalarArgument<T> lambda);

template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                      const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                      InputView<T> inputs, std::span<const int> labels, ScalarArgument<T> lambda);
template <typename T>
TwoLayerResult<T> two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                      const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                      InputView<T> inputs, InputView<T> targets, ScalarArgument<T> lambda);

// For training loops: writes into `result` and reuses `workspace`, so that after the first call with given shapes
// no matrix is allocated.
template <typename T>
void two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                         const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                         std::span<const int> labels, ScalarArgument<T> lambda, TwoLayerResult<T>& result,
                         TwoLayerWorkspace<T>& workspace);
template <typename T>
void two_layer_gradients(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                         const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs,
                         InputView<T> targets, ScalarArgument<T> lambda, TwoLayerResult<T>& result,
                         TwoLayerWorkspace<T>& workspace);

// S = W2 max(0, W1 X + b1) + b2, K x n.
template <typename T>
Matrix<T> two_layer_scores(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                           const Matrix<T>& second_weights, const Matrix<T>& second_bias, InputView<T> inputs);
// P = softmax(S), K x n.
template <typename T>
Matrix<T> two_layer_probabilities(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                  const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                  InputView<T> inputs);
// The class of the largest score of each column.
template <typename T>
std::vector<int> two_layer_predictions(const Matrix<T>& first_weights, const Matrix<T>& first_bias,
                                       const Matrix<T>& second_weights, const Matrix<T>& second_bias,
                                       InputView<T> inputs);

}  // namespace tapegrad::reference
