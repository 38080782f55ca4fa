// Plain stochastic gradient descent steps for apps that train with the reference gradients (--grad reference).
#pragma once

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// parameter -= learning_rate * gradient.
template <typename T>
void sgd_step(Matrix<T>& parameter, InputView<T> gradient, ScalarArgument<T> learning_rate);
// W -= learning_rate * dW, b -= learning_rate * db. For the two-layer network, one call per layer.
template <typename T>
void sgd_step(Matrix<T>& weights, Matrix<T>& bias, const LinearGradient<T>& gradient,
              ScalarArgument<T> learning_rate);

}  // namespace tapegrad::reference
