// Shape ops: the same entries in another arrangement. reshape keeps the column-major order; hcat and vcat join
// several tensors side by side or one above the other.
#pragma once

#include <initializer_list>
#include <source_location>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// The entries of x, in column-major order, as a (rows x cols) tensor: x(:) read down the columns fills the result
// down its columns (numpy's reshape with order="F"). rows * cols must equal x's size. Gradient: reshaped back.
template <typename T>
Tensor<T> reshape(const Tensor<T>& x, Index rows, Index cols,
                  std::source_location where = std::source_location::current());

// [parts[0], parts[1], ...] side by side: every part has the same number of rows; the result's columns are the
// parts' columns in order. Each part's gradient is its block of columns of the result's gradient.
template <typename T>
Tensor<T> hcat(const std::vector<Tensor<T>>& parts, std::source_location where = std::source_location::current());
template <typename T>
Tensor<T> hcat(std::initializer_list<Tensor<T>> parts, std::source_location where = std::source_location::current());

// [parts[0]; parts[1]; ...] one above the other: every part has the same number of columns.
template <typename T>
Tensor<T> vcat(const std::vector<Tensor<T>>& parts, std::source_location where = std::source_location::current());
template <typename T>
Tensor<T> vcat(std::initializer_list<Tensor<T>> parts, std::source_location where = std::source_location::current());

}  // namespace tapegrad
