// Activation functions, element-wise.
#pragma once

#include <tapegrad/core/tensor.h>

namespace tapegrad {

template <typename T>
Tensor<T> relu(const Tensor<T>& x);
template <typename T>
Tensor<T> sigmoid(const Tensor<T>& x);
template <typename T>
Tensor<T> tanh(const Tensor<T>& x);

}  // namespace tapegrad
