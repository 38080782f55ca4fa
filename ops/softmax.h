// Softmax and log-softmax over each column (a column is one example's scores).
#pragma once

#include <source_location>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

template <typename T>
Tensor<T> softmax(const Tensor<T>& scores);
template <typename T>
Tensor<T> log_softmax(const Tensor<T>& scores);
// Per column j, log sum_k exp(x(k, j)): (m x n) -> (1 x n), needs m >= 1. Shifted by the column maximum, so it is
// finite for any finite x (1e4 in a column gives 1e4 + log of the count of maxima, not inf). Gradient
// softmax(x(:, j)) g(j) for column j.
template <typename T>
Tensor<T> logsumexp(const Tensor<T>& x, std::source_location where = std::source_location::current());

}  // namespace tapegrad
