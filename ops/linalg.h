// Matrix products and transposition.
#pragma once

#include <source_location>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// a * b, the matrix product: (m x k) * (k x n).
template <typename T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, std::source_location where = std::source_location::current());

template <typename T>
Tensor<T> transpose(const Tensor<T>& x);

// W X + b in one node: W (out x in), X (in x n), b (out x 1) added to every column. The fused form of what
// Linear computes, so a layer costs one product and one node.
template <typename T>
Tensor<T> linear(const Tensor<T>& weight, const Tensor<T>& input, const Tensor<T>& bias,
                 std::source_location where = std::source_location::current());

}  // namespace tapegrad
