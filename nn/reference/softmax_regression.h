// Softmax regression with cross-entropy and L2 regularisation, as the reports derive it by hand:
//   S = W X + b,   P = softmax(S) per column,
//   J = -(1/n) sum_i y_i^T log p_i + lambda ||W||_F^2,
//   G = P - Y,   dJ/dW = (1/n) G X^T + 2 lambda W,   dJ/db = (1/n) G 1.
// W is K x d, b K x 1, X d x n (examples are columns), Y K x n: one-hot labels (one_hot in functions.h), or any
// columns of probabilities.
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> softmax_regression_cost(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X, InputView<T> Y,
                                       ScalarArgument<T> lambda);

template <typename T>
LinearModelResult<T> softmax_regression_gradients(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X,
                                                  InputView<T> Y, ScalarArgument<T> lambda);

}  // namespace tapegrad::reference
