// The GEMM backends the benchmark times for the products of each workload. Only Eigen is built in; a BLAS backend
// joins by adding one GemmBackend to gemm_backends() (the name becomes its implementation column).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "../../core/tensor.h"
#include "workloads.h"

namespace tapegrad::apps {

template <typename T>
struct GemmBackend {
  std::string name;  // the implementation field of the bench lines, e.g. "eigen"
  // c (+)= op(a) * op(b) as `shape` says; c already has the result's shape.
  std::function<void(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c)> multiply;
};

template <typename T>
std::vector<GemmBackend<T>> gemm_backends();

// Operands of a product's shape (a stored as k x m when it is transposed, and so on), filled with values in
// [-1, 1], and a result matrix of m x n.
template <typename T>
struct GemmOperands {
  Matrix<T> a;
  Matrix<T> b;
  Matrix<T> c;
};
template <typename T>
GemmOperands<T> make_gemm_operands(const ProductShape& shape, Generator& generator);

}  // namespace tapegrad::apps
