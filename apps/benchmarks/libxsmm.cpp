#include "apps/benchmarks/libxsmm.h"

#if defined(TAPEGRAD_BENCH_LIBXSMM)
#include <libxsmm.h>

#include <mutex>
#include <type_traits>

#include <tapegrad/core/gemm.h>
#include <tapegrad/core/parallel.h>
#endif

namespace tapegrad::apps {

#if defined(TAPEGRAD_BENCH_LIBXSMM)

namespace {

// The JIT kernel for one part of a product: C (m x n, leading dimension ldc) = op(A) op(B) (+ C). libxsmm keeps
// generated kernels in its own registry, so asking again for the same shape is a lookup.
template <typename T>
auto kernel(const ProductShape& shape, Index m, Index n, Index lda, Index ldb, Index ldc) {
  static std::once_flag initialised;
  std::call_once(initialised, [] { libxsmm_init(); });
  const int flags = (shape.transpose_a ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (shape.transpose_b ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
  const T alpha = 1, beta = shape.accumulate ? 1 : 0;
  const libxsmm_blasint mm = static_cast<libxsmm_blasint>(m), nn = static_cast<libxsmm_blasint>(n),
                        kk = static_cast<libxsmm_blasint>(shape.k), la = static_cast<libxsmm_blasint>(lda),
                        lb = static_cast<libxsmm_blasint>(ldb), lc = static_cast<libxsmm_blasint>(ldc);
  if constexpr (std::is_same_v<T, float>) {
    return libxsmm_smmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, nullptr);
  } else {
    return libxsmm_dmmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, nullptr);
  }
}

template <typename T>
void pooled_multiply(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c) {
  const double work = static_cast<double>(c.rows()) * static_cast<double>(c.cols()) * static_cast<double>(shape.k);
  parallel_columns(c.cols(), work >= gemm_split_work, [&](ColumnRange range) {
    const T* b_part = b.data() + (shape.transpose_b ? range.first : range.first * b.rows());
    const auto run = kernel<T>(shape, c.rows(), range.last - range.first, a.rows(), b.rows(), c.rows());
    if (run != nullptr) run(a.data(), b_part, c.data() + range.first * c.rows());
  });
}

}  // namespace

template <typename T>
std::vector<GemmBackend<T>> libxsmm_backends() {
  return {GemmBackend<T>{
      .name = "libxsmm-pool",
      .group = "blas",
      .multiply = &pooled_multiply<T>,
      .set_threads = {},
      .pooled = true,
      .supports = [](const ProductShape& shape) {
        const Index a_rows = shape.transpose_a ? shape.k : shape.m, b_rows = shape.transpose_b ? shape.n : shape.k;
        return kernel<T>(shape, shape.m, shape.n, a_rows, b_rows, shape.m) != nullptr;
      }}};
}

#else

template <typename T>
std::vector<GemmBackend<T>> libxsmm_backends() {
  return {};
}

#endif

template std::vector<GemmBackend<float>> libxsmm_backends();
template std::vector<GemmBackend<double>> libxsmm_backends();

}  // namespace tapegrad::apps
