#include <tapegrad/core/gemm.h>

#include <fmt/format.h>

#include <tapegrad/core/kernels/gemm.h>
#include <tapegrad/core/kernels/parallel.h>

namespace tapegrad {

namespace {

// One product (or one column part of it) on raw column-major storage.
template <typename T>
struct Part {
  Index m, n, k;
  T alpha;
  const T* a;
  Index lda;
  const T* b;
  Index ldb;
  T beta;
  T* c;
  Index ldc;
};

}  // namespace

template <typename T>
void gemm(T alpha, ConstMatrixRef<T> a, Op op_a, ConstMatrixRef<T> b, Op op_b, T beta, Matrix<T>& c) {
  const bool ta = op_a == Op::transpose, tb = op_b == Op::transpose;
  const Index m = ta ? a.cols() : a.rows(), k = ta ? a.rows() : a.cols();
  const Index b_rows = tb ? b.cols() : b.rows(), n = tb ? b.rows() : b.cols();
  if (k != b_rows) {
    throw_error(fmt::format("gemm: inner sizes differ: ({} x {}){} * ({} x {}){}", a.rows(), a.cols(),
                            ta ? "^T" : "", b.rows(), b.cols(), tb ? "^T" : ""));
  }
  if (beta == T(0)) {
    c.resize(m, n);
  } else if (c.rows() != m || c.cols() != n) {
    throw_error(fmt::format("gemm: the result to add to is ({} x {}), the product is ({} x {})", c.rows(), c.cols(),
                            m, n));
  }
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: beta C
    if (beta == T(0)) {
      c.setZero();
    } else {
      c *= beta;
    }
    return;
  }
  const Part<T> whole{m, n, k, alpha, a.data(), a.outerStride(), b.data(), b.outerStride(), beta, c.data(), c.rows()};
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  // Each part of C's columns needs the same columns [first, last) of op(B).
  parallel_columns(n, work >= gemm_split_work, [&](ColumnRange range) {
    const auto [first, last] = range;
    Part<T> part = whole;
    part.n = last - first;
    part.b = whole.b + (tb ? first : first * whole.ldb);
    part.c = whole.c + first * whole.ldc;
    kernels::gemm(ta, tb, part.m, part.n, part.k, part.alpha, part.a, part.lda, part.b, part.ldb, part.beta, part.c,
                  part.ldc);
  });
}

const char* gemm_backend() { return kernels::gemm_kernel_name<float>(); }

template void gemm(float, ConstMatrixRef<float>, Op, ConstMatrixRef<float>, Op, float, Matrix<float>&);
template void gemm(double, ConstMatrixRef<double>, Op, ConstMatrixRef<double>, Op, double, Matrix<double>&);

}  // namespace tapegrad
