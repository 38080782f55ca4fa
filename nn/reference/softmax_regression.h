// Softmax regression as the reports derive it by hand:
//   S = W X + b,  P = softmax(S) per column,  J = -1/n sum_i log P[y_i, i] + lambda ||W||_F^2,
//   dJ/dW = (P - Y) X^T / n + 2 lambda W,  dJ/db = (P - Y) 1 / n.
// W is K x d, b is K x 1, X is d x n (examples are columns); labels are 0..K-1, or one-hot targets Y (K x n).
#pragma once

#include <span>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       std::span<const int> labels, ScalarArgument<T> lambda);
template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                       InputView<T> targets, ScalarArgument<T> lambda);

template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, std::span<const int> labels,
                                                  ScalarArgument<T> lambda);
template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                  InputView<T> inputs, InputView<T> targets,
                                                  ScalarArgument<T> lambda);

// For training loops: writes into `result` and reuses `workspace`, so that after the first call with given shapes
// no matrix is allocated.
template <typename T>
void softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  std::span<const int> labels, ScalarArgument<T> lambda,
                                  LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace);
template <typename T>
void softmax_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                  InputView<T> targets, ScalarArgument<T> lambda, LinearModelResult<T>& result,
                                  LinearModelWorkspace<T>& workspace);

// P = softmax(W X + b), K x n.
template <typename T>
Matrix<T> softmax_regression_probabilities(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs);

}  // namespace tapegrad::reference
