#include <tapegrad/core/gemm.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include <tapegrad/core/gemm_avx512.h>
#include <tapegrad/core/parallel.h>

#if defined(TAPEGRAD_GEMM_OPENBLAS)
#include <cblas.h>
#elif defined(TAPEGRAD_GEMM_BLIS)
#include <blis.h>  // BLIS's own header declares its CBLAS layer too (built with --enable-cblas on Debian)
#elif defined(TAPEGRAD_GEMM_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif

namespace tapegrad {

namespace {

// One product on raw column-major storage: C (m x n, leading dimension ldc) = alpha op(A) op(B) + beta C.
template <typename T>
struct Operands {
  Op op_a, op_b;
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

template <typename T>
using ConstMap = Eigen::Map<const Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename T, typename Lhs, typename Rhs>
void eigen_product(const Operands<T>& p, const Lhs& lhs, const Rhs& rhs) {
  Eigen::Map<Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>> c(p.c, p.m, p.n, Eigen::OuterStride<>(p.ldc));
  if (p.beta == T(0)) {
    if (p.alpha == T(1)) {
      c.noalias() = lhs * rhs;
    } else {
      c.noalias() = (p.alpha * lhs) * rhs;  // Eigen folds the scalar into the kernel's alpha
    }
    return;
  }
  if (p.beta != T(1)) c *= p.beta;
  if (p.alpha == T(1)) {
    c.noalias() += lhs * rhs;
  } else {
    c.noalias() += (p.alpha * lhs) * rhs;
  }
}

// A result with few rows and many columns, such as the softmax gradient G X^T (10 x 3072 from 10 x 100 and
// 100 x 3072), leaves most of Eigen's register block empty. Its transpose, op(B)^T op(A)^T (3072 x 10), fills it:
// measured 205 -> 81 us with AVX-512 and 289 -> 241 us without, transpose included.
template <typename T>
bool short_wide(const Operands<T>& p) {
  return p.m <= 16 && p.n >= 256 && p.k > 1;
}

// C = alpha transposed^T + beta C, where `transposed` holds op(B)^T op(A)^T (n x m).
template <typename T, typename Transposed>
void assign_transposed(const Operands<T>& p, const Transposed& transposed) {
  Eigen::Map<Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>> c(p.c, p.m, p.n, Eigen::OuterStride<>(p.ldc));
  if (p.beta == T(0)) {
    c = p.alpha * transposed.transpose();
  } else {
    c = p.beta * c + p.alpha * transposed.transpose();
  }
}

template <typename T>
void eigen_product_transposed(const Operands<T>& p, const ConstMap<T>& a, const ConstMap<T>& b, bool ta, bool tb) {
  thread_local Matrix<T> transposed;  // reused: no allocation per product after the first
  transposed.resize(p.n, p.m);
  // transposed = op(B)^T op(A)^T, where op(X)^T is X itself when op transposes.
  if (tb && ta) transposed.noalias() = b * a;
  if (tb && !ta) transposed.noalias() = b * a.transpose();
  if (!tb && ta) transposed.noalias() = b.transpose() * a;
  if (!tb && !ta) transposed.noalias() = b.transpose() * a.transpose();
  assign_transposed(p, transposed);
}

template <typename T>
void eigen_kernel(const Operands<T>& p) {
  const bool ta = p.op_a == Op::transpose, tb = p.op_b == Op::transpose;
  const ConstMap<T> a(p.a, ta ? p.k : p.m, ta ? p.m : p.k, Eigen::OuterStride<>(p.lda));
  const ConstMap<T> b(p.b, tb ? p.n : p.k, tb ? p.k : p.n, Eigen::OuterStride<>(p.ldb));
  if (short_wide(p)) {
    eigen_product_transposed(p, a, b, ta, tb);
    return;
  }
  if (!ta && !tb) eigen_product(p, a, b);
  if (!ta && tb) eigen_product(p, a, b.transpose());
  if (ta && !tb) eigen_product(p, a.transpose(), b);
  if (ta && tb) eigen_product(p, a.transpose(), b.transpose());
}

#if defined(TAPEGRAD_GEMM_ONEDNN)

// oneDNN's sgemm (float only; double products stay with Eigen) is row-major: C^T = op(B)^T op(A)^T, so the
// operands trade places. Its OpenMP threads are held at one per calling thread (omp_set_num_threads sets the
// calling thread's own count): the product threads split the work, and OpenMP's spinning workers are what made
// two threads slower than one under load.
template <typename T>
void run_kernel(const Operands<T>& p) {
  if constexpr (std::is_same_v<T, float>) {
    static thread_local const bool single_threaded = [] {
      omp_set_num_threads(1);
      return true;
    }();
    (void)single_threaded;
    const dnnl_status_t status =
        dnnl_sgemm(p.op_b == Op::transpose ? 'T' : 'N', p.op_a == Op::transpose ? 'T' : 'N', p.n, p.m, p.k, p.alpha,
                   p.b, std::max<Index>(1, p.ldb), p.a, std::max<Index>(1, p.lda), p.beta, p.c,
                   std::max<Index>(1, p.ldc));
    if (status != dnnl_success) throw_error(fmt::format("gemm: oneDNN's sgemm failed with status {}", int(status)));
  } else {
    eigen_kernel(p);
  }
}

#elif defined(TAPEGRAD_GEMM_OPENBLAS) || defined(TAPEGRAD_GEMM_BLIS)

// The product threads split the work; the library itself must not start threads of its own underneath.
[[maybe_unused]] const bool blas_single_threaded = [] {
#if defined(TAPEGRAD_GEMM_OPENBLAS)
  openblas_set_num_threads(1);
#else
  bli_thread_set_num_threads(1);
#endif
  return true;
}();

template <typename T>
void run_kernel(const Operands<T>& p) {
  const auto ta = p.op_a == Op::transpose ? CblasTrans : CblasNoTrans;
  const auto tb = p.op_b == Op::transpose ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
  const auto lda = static_cast<int>(std::max<Index>(1, p.lda)), ldb = static_cast<int>(std::max<Index>(1, p.ldb)),
             ldc = static_cast<int>(std::max<Index>(1, p.ldc));
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasColMajor, ta, tb, m, n, k, p.alpha, p.a, lda, p.b, ldb, p.beta, p.c, ldc);
  } else {
    cblas_dgemm(CblasColMajor, ta, tb, m, n, k, p.alpha, p.a, lda, p.b, ldb, p.beta, p.c, ldc);
  }
}

#else

// A growing 64-byte-aligned float buffer, kept per thread: the AVX-512 kernel's packing workspace.
class AlignedFloats {
 public:
  float* at_least(std::ptrdiff_t floats) {
    if (floats > size_) {
      const std::size_t bytes = (static_cast<std::size_t>(floats) * sizeof(float) + 63) / 64 * 64;
      data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data_) throw std::bad_alloc();
      size_ = floats;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  std::ptrdiff_t size_ = 0;
};

// Eigen's products, except single precision on a CPU with AVX-512, which takes tapegrad's own kernel
// (gemm_avx512.h): the same result up to the order of the additions, about 1.4x faster on the two-layer step.
void avx512_product(const Operands<float>& p) {
  thread_local AlignedFloats workspace;
  detail::avx512_sgemm(p.op_a == Op::transpose, p.op_b == Op::transpose, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b,
                       p.ldb, p.beta, p.c, p.ldc, workspace.at_least(detail::avx512_sgemm_workspace(p.m, p.n, p.k)));
}

// As for Eigen (eigen_product_transposed), a short wide result runs as its transpose, op(B)^T op(A)^T, into a
// buffer, when B is stored transposed (then op(B)^T = B packs as fast as it reads): its many rows fill the kernel's
// 48-row panels. The softmax gradient G X^T (10 x 100 x 3072) went from 143 to 91 us; with B as stored (W2 H in
// evaluation, 10 x 50 x 10000) the transposed form was 3x slower, so those stay direct.
void avx512_product_transposed(const Operands<float>& p) {
  thread_local AlignedFloats transposed;
  const auto flip = [](Op op) { return op == Op::transpose ? Op::none : Op::transpose; };
  const Operands<float> swapped{flip(p.op_b), flip(p.op_a), p.n, p.m, p.k, 1.0f, p.b, p.ldb, p.a, p.lda, 0.0f,
                                transposed.at_least(p.n * p.m), p.n};
  avx512_product(swapped);
  assign_transposed(p, Eigen::Map<const Matrix<float>>(swapped.c, p.n, p.m));
}

template <typename T>
void run_kernel(const Operands<T>& p) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::avx512_kernel_usable()) {
      if (short_wide(p) && p.op_b == Op::transpose) {
        avx512_product_transposed(p);
      } else {
        avx512_product(p);
      }
      return;
    }
  }
  eigen_kernel(p);
}

#endif

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
  const Operands<T> whole{op_a, op_b, m, n, k, alpha, a.data(), a.outerStride(), b.data(), b.outerStride(), beta,
                          c.data(), c.rows()};
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  // Each part of C's columns needs the same columns [first, last) of op(B).
  parallel_columns(n, work >= gemm_split_work, [&](ColumnRange range) {
    const auto [first, last] = range;
    Operands<T> part = whole;
    part.n = last - first;
    part.b = whole.b + (tb ? first : first * whole.ldb);
    part.c = whole.c + first * whole.ldc;
    run_kernel(part);
  });
}

namespace detail {

bool avx512_kernel_usable() {
  static const bool usable = [] {
    if (!avx512_kernel_compiled()) return false;
    const char* setting = std::getenv("TAPEGRAD_AVX512");
    if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
  }();
  return usable;
}

}  // namespace detail

const char* gemm_backend() {
#if defined(TAPEGRAD_GEMM_OPENBLAS)
  return "openblas";
#elif defined(TAPEGRAD_GEMM_BLIS)
  return "blis";
#elif defined(TAPEGRAD_GEMM_ONEDNN)
  return "onednn";
#else
  return detail::avx512_kernel_usable() ? "avx512" : "eigen";
#endif
}

template void gemm(float, ConstMatrixRef<float>, Op, ConstMatrixRef<float>, Op, float, Matrix<float>&);
template void gemm(double, ConstMatrixRef<double>, Op, ConstMatrixRef<double>, Op, double, Matrix<double>&);

}  // namespace tapegrad
