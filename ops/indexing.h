// Gathering columns: a batch out of a data matrix by an index list.
#pragma once

#include <source_location>
#include <span>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// out(:, j) = x(:, indices[j]); indices may repeat (the gradient then adds up).
template <typename T>
Tensor<T> select_columns(const Tensor<T>& x, std::span<const int> indices,
                         std::source_location where = std::source_location::current());

}  // namespace tapegrad
