// Normalisation and regularisation ops of a d x n batch (features are rows, examples are columns): inverted
// dropout and the fused training-mode batch normalisation, each with its backward rule next to it in the .cpp.
#pragma once

#include <tapegrad/core/generator.h>
#include <tapegrad/core/tensor.h>

namespace tapegrad {

// Inverted dropout: each entry is kept with probability 1 - p and scaled by 1 / (1 - p), or set to 0, so that the
// expected value of every entry is unchanged and evaluation needs no rescaling. One generator.uniform() is drawn
// per entry, in column-major order, whether or not a gradient is recorded (the stream does not depend on the
// mode); an entry is dropped when its draw is below p. p must be in [0, 1); p = 0 returns a copy of x.
template <typename T>
Tensor<T> dropout(const Tensor<T>& x, double p, Generator& generator);

// The batch's statistics per feature, as batch_norm computed them: mean mu and biased variance
// v = (1/n) sum_j (s_j - mu)^2, both d x 1. BatchNorm's running averages are updated from these.
template <typename T>
struct BatchStatistics {
  Matrix<T> mean;
  Matrix<T> variance;
};

// Training-mode batch normalisation of s (d x n, n >= 1): per row, s_hat = (s - mu) / sqrt(v + eps) with the
// batch's mean and biased variance, then gamma .* s_hat + beta when gamma and beta (both d x 1) are given. One
// graph node, whose backward is the closed form of the reports (see normalization.cpp). eps must be positive.
// `statistics`, when not null, receives mu and v.
template <typename T>
Tensor<T> batch_norm(const Tensor<T>& s, double eps, BatchStatistics<T>* statistics = nullptr);
template <typename T>
Tensor<T> batch_norm(const Tensor<T>& s, const Tensor<T>& gamma, const Tensor<T>& beta, double eps,
                     BatchStatistics<T>* statistics = nullptr);

}  // namespace tapegrad
