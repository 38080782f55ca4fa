// Sigmoid regression: the linear classifier of softmax regression trained with multiple binary cross-entropy, as
// the reports derive it by hand:
//   S = W X + b,  P = sigmoid(S) entrywise,
//   J = -1/n sum_i 1/K sum_k [(1 - y_ki) log(1 - p_ki) + y_ki log p_ki] + lambda ||W||_F^2,
//   dJ/dS = (P - Y) / (K n),  dJ/dW = (P - Y) X^T / (K n) + 2 lambda W,  dJ/db = (P - Y) 1 / (K n).
// W is K x d, b is K x 1, X is d x n (examples are columns); labels are 0..K-1 (one-hot Y), or targets Y (K x n)
// with entries in [0, 1], several of which may be 1 (multi-label).
#pragma once

#include <span>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> sigmoid_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       std::span<const int> labels, ScalarArgument<T> lambda);
template <typename T>
LossAndCost<T> sigmoid_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       InputView<T> targets, ScalarArgument<T> lambda);

template <typename T>
LinearModelResult<T> sigmoid_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, std::span<const int> labels,
                                                  ScalarArgument<T> lambda);
template <typename T>
LinearModelResult<T> sigmoid_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, InputView<T> targets,
                                                  ScalarArgument<T> lambda);

// For training loops: writes into `result` and reuses `workspace`, so that after the first call with given shapes
// no matrix is allocated.
template <typename T>
void sigmoid_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  std::span<const int> labels, ScalarArgument<T> lambda,
                                  LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace);
template <typename T>
void sigmoid_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  InputView<T> targets, ScalarArgument<T> lambda, LinearModelResult<T>& result,
                                  LinearModelWorkspace<T>& workspace);

// P = sigmoid(W X + b), K x n.
template <typename T>
Matrix<T> sigmoid_regression_probabilities(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs);

}  // namespace tapegrad::reference
