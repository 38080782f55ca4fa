// Numerically stable building blocks shared by the ops and the reference path.
#pragma once

#include <cmath>

#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/core/tensor.h>

namespace tapegrad {

// 1 / (1 + e^-s) without overflow for any s.
template <typename T>
T stable_sigmoid(T s) {
  if (s >= T(0)) return T(1) / (T(1) + std::exp(-s));
  const T e = std::exp(s);
  return e / (T(1) + e);
}

// log(1 + e^-|s|) + max(s, 0) = log(1 + e^s), finite for any s.
template <typename T>
T softplus(T s) {
  return std::max(s, T(0)) + std::log1p(std::exp(-std::abs(s)));
}

// Per column j: probabilities(:, j) = softmax(scores(:, j)) and log_sum_exp(j) = log sum_k exp(scores(k, j)),
// shifted by the column maximum so that any finite scores give finite results (at the CPU's level).
template <typename T>
void column_softmax(const Matrix<T>& scores, Matrix<T>& probabilities, Eigen::Matrix<T, 1, Eigen::Dynamic>& log_sum_exp) {
  probabilities.resize(scores.rows(), scores.cols());
  log_sum_exp.resize(scores.cols());
  kernels::elementwise<T>().column_softmax(scores.rows(), scores.cols(), scores.data(), probabilities.data(),
                                           log_sum_exp.data());
}

}  // namespace tapegrad
