// Taking parts of a tensor: contiguous slices of rows or columns, and gathers by an index list.
#pragma once

#include <source_location>
#include <span>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// out(:, j) = x(:, indices[j]); indices may repeat (the gradient then adds up).
template <typename T>
Tensor<T> select_columns(const Tensor<T>& x, std::span<const int> indices,
                         std::source_location where = std::source_location::current());

// out(i, :) = x(indices[i], :); indices may repeat (the gradient then adds up): an embedding lookup when x holds
// one row per token.
template <typename T>
Tensor<T> select_rows(const Tensor<T>& x, std::span<const int> indices,
                      std::source_location where = std::source_location::current());

// Rows [first, first + count) of x: (m x n) -> (count x n). The gradient goes to those rows, zero elsewhere.
// Needs 0 <= first, 0 <= count and first + count <= m.
template <typename T>
Tensor<T> slice_rows(const Tensor<T>& x, Index first, Index count,
                     std::source_location where = std::source_location::current());

// Columns [first, first + count) of x: (m x n) -> (m x count), a batch out of a data matrix without a copy of the
// index list. Needs 0 <= first, 0 <= count and first + count <= n.
template <typename T>
Tensor<T> slice_cols(const Tensor<T>& x, Index first, Index count,
                     std::source_location where = std::source_location::current());

}  // namespace tapegrad
