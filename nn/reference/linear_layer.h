// The affine map S = W X + b of every reference model, forward and backward, on reused matrices.
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// scores = W X + b; scores is resized only when its shape changes. W (K x d), b (K x 1), X (d x n).
template <typename T>
void linear_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs, Matrix<T>& scores);
template <typename T>
Matrix<T> linear_scores(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs);

// Backward of S = W X + b inside J = (mean of the loss) + lambda ||W||_F^2. With G the gradient of the SUMMED loss
// terms with respect to S and `scale` the factor of the mean (1/n, or 1/(K n)):
//   dW = scale G X^T + 2 lambda W,   db = scale G 1.
// The gradient matrices are resized only when their shapes change.
template <typename T>
void linear_backward(const Matrix<T>& score_gradient, InputView<T> inputs, const Matrix<T>& weights,
                     ScalarArgument<T> scale, ScalarArgument<T> lambda, LinearGradient<T>& gradient);

// lambda ||W||_F^2, the reports' L2 term.
template <typename T>
T l2_penalty(const Matrix<T>& weights, ScalarArgument<T> lambda);

}  // namespace tapegrad::reference
