// Reductions. Names follow Eigen: sum_rows sums along each row (giving a column), sum_cols sums down each column
// (giving a row).
#pragma once

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
// Mean of all entries: (1 x 1).
template <typename T>
Tensor<T> mean(const Tensor<T>& x);
// Sum of squared entries, ||x||_F^2 as a (1 x 1): the L2 penalty of the reports.
template <typename T>
Tensor<T> sum_of_squares(const Tensor<T>& x);

}  // namespace tapegrad
