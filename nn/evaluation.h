// Turning scores into decisions: the predicted class of each column and the fraction predicted right.
#pragma once

#include <span>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad::nn {

// Per column, the row of the largest score (the first one on ties). scores: (K x n) with K >= 1.
template <typename T>
std::vector<int> predict(const Matrix<T>& scores);
template <typename T>
std::vector<int> predict(const Tensor<T>& scores);

// Fraction of columns whose predicted class equals its label; one label in [0, K) per column, n >= 1.
template <typename T>
double accuracy(const Matrix<T>& scores, std::span<const int> labels);
template <typename T>
double accuracy(const Tensor<T>& scores, std::span<const int> labels);

}  // namespace tapegrad::nn
