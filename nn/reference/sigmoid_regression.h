// Sigmoid regression: the linear classifier of softmax regression trained with multiple binary cross-entropy, as
// the reports derive it by hand:
//   S = W X + b,   P = sigmoid(S) entrywise,
//   J = -(1/n) sum_i (1/K) sum_k [(1 - y_ki) log(1 - p_ki) + y_ki log p_ki] + lambda ||W||_F^2,
//   G = P - Y,   dJ/dW = (1/(K n)) G X^T + 2 lambda W,   dJ/db = (1/(K n)) G 1.
// W is K x d, b K x 1, X d x n (examples are columns), Y K x n with entries in [0, 1]: one-hot labels
// (one_hot in functions.h), or several ones per column (multi-label).
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> sigmoid_regression_cost(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X, InputView<T> Y,
                                       ScalarArgument<T> lambda);

template <typename T>
LinearModelResult<T> sigmoid_regression_gradients(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X,
                                                  InputView<T> Y, ScalarArgument<T> lambda);

}  // namespace tapegrad::reference
