// Softmax and log-softmax over each column (a column is one example's scores).
#pragma once

#include <tapegrad/core/tensor.h>

namespace tapegrad {

template <typename T>
Tensor<T> softmax(const Tensor<T>& scores);
template <typename T>
Tensor<T> log_softmax(const Tensor<T>& scores);

}  // namespace tapegrad
