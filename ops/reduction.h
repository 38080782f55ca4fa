// Reductions. Names follow Eigen: sum_rows sums along each row (giving a column), sum_cols sums down each column
// (giving a row). Every *_rows reduction gives one value per row, (m x n) -> (m x 1); every *_cols one value per
// column, (m x n) -> (1 x n).
#pragma once

#include <source_location>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// Sum of all entries: (1 x 1).
template <typename T>
Tensor<T> sum(const Tensor<T>& x);
// Each row summed: (m x n) -> (m x 1).
template <typename T>
Tensor<T> sum_rows(const Tensor<T>& x);
// Each column summed: (m x n) -> (1 x n).
template <typename T>
Tensor<T> sum_cols(const Tensor<T>& x);
// The mean of every entry: (m x n) -> (1 x 1); needs at least one entry.
template <typename T>
Tensor<T> mean(const Tensor<T>& x, std::source_location where = std::source_location::current());
// Sum of squared entries, ||x||_F^2 as a (1 x 1): the L2 penalty of the reports.
template <typename T>
Tensor<T> sum_of_squares(const Tensor<T>& x);

// Each row's mean: (m x n) -> (m x 1); needs n >= 1. Gradient g(i) / n to every entry of row i.
template <typename T>
Tensor<T> mean_rows(const Tensor<T>& x, std::source_location where = std::source_location::current());
// Each column's mean: (m x n) -> (1 x n); needs m >= 1. Gradient g(j) / m to every entry of column j.
template <typename T>
Tensor<T> mean_cols(const Tensor<T>& x, std::source_location where = std::source_location::current());

// Each row's maximum: (m x n) -> (m x 1); needs n >= 1. The gradient g(i) goes to the first maximum of row i (the
// lowest column index among equal maxima), nothing to the others, so ties never split or double the gradient.
template <typename T>
Tensor<T> max_rows(const Tensor<T>& x, std::source_location where = std::source_location::current());
// Each column's maximum: (m x n) -> (1 x n); needs m >= 1. The gradient goes to the first maximum of each column
// (the lowest row index).
template <typename T>
Tensor<T> max_cols(const Tensor<T>& x, std::source_location where = std::source_location::current());

// Not differentiable, and recorded nowhere: the position of each maximum, the first one among equal values, as
// max_rows / max_cols choose it.
// Per row i, the column of its maximum: m indices in [0, n).
template <typename T>
std::vector<Index> argmax_rows(const Tensor<T>& x, std::source_location where = std::source_location::current());
// Per column j, the row of its maximum: n indices in [0, m), the predicted classes of a (K x n) score matrix.
template <typename T>
std::vector<Index> argmax_cols(const Tensor<T>& x, std::source_location where = std::source_location::current());

}  // namespace tapegrad
