// Binary logistic regression as the reports derive it by hand:
//   s = w^T X + b,   yhat = sigmoid(s),   C_i = -(y_i ln yhat_i + (1 - y_i) ln(1 - yhat_i)),
//   J = (1/n) sum_i C_i + lambda ||w||^2,
//   g = yhat - y,   dJ/dw = (1/n) X g^T + 2 lambda w,   dJ/db = (1/n) g 1.
// w is d x 1, b 1 x 1, X d x n (examples are columns), y 1 x n with entries in [0, 1] (binary_targets in
// functions.h makes it from labels 0 and 1). The predicted class is 1 where s >= 0.
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& w, const Matrix<T>& b, InputView<T> X, InputView<T> y,
                                        ScalarArgument<T> lambda);

// gradient.weights is d x 1 (dJ/dw), gradient.bias is 1 x 1 (dJ/db).
template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& w, const Matrix<T>& b, InputView<T> X,
                                                   InputView<T> y, ScalarArgument<T> lambda);

}  // namespace tapegrad::reference
