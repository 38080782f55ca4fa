// The GEMM backends the benchmark times for the products of each workload (the name becomes the implementation
// column): "gemm-<backend>" is the library's own path (tapegrad::gemm: its TAPEGRAD_GEMM backend and its thread
// pool), "eigen" is Eigen's product called directly, and each BLAS that Debian packages and this machine has
// (OpenBLAS, BLIS, oneDNN; loaded at run time with dlopen, so nothing is needed to build) is timed twice: "<name>"
// on its own threads, "<name>-pool" single-threaded under tapegrad's pool as TAPEGRAD_GEMM=<name> would run it;
// "libxsmm-pool" when the benchmark was linked with libxsmm (libxsmm.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>
#include "apps/benchmarks/workloads.h"

namespace tapegrad::apps {

template <typename T>
struct GemmBackend {
  std::string name;  // the implementation field of the bench lines, e.g. "eigen"
  std::string group;  // the --implementations name that selects it: gemm, eigen or blas
  // c (+)= op(a) * op(b) as `shape` says; c already has the result's shape.
  std::function<void(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c)> multiply;
  // The library's own thread count (null when it has none of its own): set to the run's threads before the
  // backend is timed, or to 1 when `pooled`, and back to 1 afterwards.
  std::function<void(int threads)> set_threads;
  bool pooled = false;
  // Whether the backend can compute a shape at all (empty: every shape); shapes it cannot are not timed.
  std::function<bool(const ProductShape& shape)> supports = {};
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
