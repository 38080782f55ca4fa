// Binary logistic regression as the reports derive it by hand:
//   yhat = sigmoid(w^T x + b),  C = -(y ln yhat + (1 - y) ln(1 - yhat)),
//   J = mean of C over the batch + lambda ||w||^2,
//   dC/dw = -(y - yhat) x  (mean over the batch, plus 2 lambda w),  dC/db = -(y - yhat)  (mean over the batch).
// w is d x 1, b is 1 x 1, X is d x n (examples are columns); labels are 0 or 1, one per example, or targets y
// (1 x n) with entries in [0, 1].
#pragma once

#include <span>
#include <vector>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                        std::span<const int> labels, ScalarArgument<T> lambda);
template <typename T>
LossAndCost<T> logistic_regression_cost(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                        InputView<T> targets, ScalarArgument<T> lambda);

// gradient.weights is d x 1 (dJ/dw), gradient.bias is 1 x 1 (dJ/db).
template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                   InputView<T> inputs, std::span<const int> labels,
                                                   ScalarArgument<T> lambda);
template <typename T>
LinearModelResult<T> logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias,
                                                   InputView<T> inputs, InputView<T> targets,
                                                   ScalarArgument<T> lambda);

// For training loops: writes into `result` and reuses `workspace`, so that after the first call with given shapes
// no matrix is allocated.
template <typename T>
void logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                   std::span<const int> labels, ScalarArgument<T> lambda,
                                   LinearModelResult<T>& result, LinearModelWorkspace<T>& workspace);
template <typename T>
void logistic_regression_gradients(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs,
                                   InputView<T> targets, ScalarArgument<T> lambda, LinearModelResult<T>& result,
                                   LinearModelWorkspace<T>& workspace);

// s = w^T X + b, 1 x n.
template <typename T>
Matrix<T> logistic_regression_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs);
// yhat = sigmoid(s), 1 x n.
template <typename T>
Matrix<T> logistic_regression_probabilities(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs);
// 1 where yhat >= 1/2 (s >= 0), else 0.
template <typename T>
std::vector<int> logistic_regression_predictions(const Matrix<T>& weights, const Matrix<T>& bias,
                                                 InputView<T> inputs);

}  // namespace tapegrad::reference
