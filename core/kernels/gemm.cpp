#include <tapegrad/core/kernels/gemm.h>

#include <Eigen/Core>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

#include <tapegrad/core/error.h>
#include <tapegrad/core/kernels/gemm_avx512.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/core/kernels/levels/eigen_level.h>

#if defined(TAPEGRAD_GEMM_OPENBLAS)
#include <cblas.h>
#elif defined(TAPEGRAD_GEMM_BLIS)
#include <blis.h>  // BLIS's own header declares its CBLAS layer too (built with --enable-cblas on Debian)
#elif defined(TAPEGRAD_GEMM_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif

namespace tapegrad::kernels {

namespace {

using Index = std::ptrdiff_t;
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// One product on raw column-major storage: C (m x n, leading dimension ldc) = alpha op(A) op(B) + beta C.
template <typename T>
struct Operands {
  bool ta, tb;
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
  const bool ta = p.ta, tb = p.tb;
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
void run_kernel(const Operands<T>& p, Isa) {
  if constexpr (std::is_same_v<T, float>) {
    static thread_local const bool single_threaded = [] {
      omp_set_num_threads(1);
      return true;
    }();
    (void)single_threaded;
    const dnnl_status_t status =
        dnnl_sgemm(p.tb ? 'T' : 'N', p.ta ? 'T' : 'N', p.n, p.m, p.k, p.alpha,
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
void run_kernel(const Operands<T>& p, Isa) {
  const auto ta = p.ta ? CblasTrans : CblasNoTrans;
  const auto tb = p.tb ? CblasTrans : CblasNoTrans;
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
  detail::avx512_sgemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b,
                       p.ldb, p.beta, p.c, p.ldc, workspace.at_least(detail::avx512_sgemm_workspace(p.m, p.n, p.k)));
}

// As for Eigen (eigen_product_transposed), a short wide result runs as its transpose, op(B)^T op(A)^T, into a
// buffer, when B is stored transposed (then op(B)^T = B packs as fast as it reads): its many rows fill the kernel's
// 48-row panels. The softmax gradient G X^T (10 x 100 x 3072) went from 143 to 91 us; with B as stored (W2 H in
// evaluation, 10 x 50 x 10000) the transposed form was 3x slower, so those stay direct.
void avx512_product_transposed(const Operands<float>& p) {
  thread_local AlignedFloats transposed;
  const Operands<float> swapped{!p.tb, !p.ta, p.n, p.m, p.k, 1.0f, p.b, p.ldb, p.a, p.lda, 0.0f,
                                transposed.at_least(p.n * p.m), p.n};
  avx512_product(swapped);
  assign_transposed(p, Eigen::Map<const Matrix<float>>(swapped.c, p.n, p.m));
}

// Eigen's products compiled for the level in force (levels/eigen_level.h), and as for the portable ones
// (eigen_product_transposed), a short wide result through its transpose.
template <typename T>
void level_call(Isa isa, const Operands<T>& p) {
#if defined(TAPEGRAD_EIGEN_LEVELS)
  if (isa == Isa::avx512) {
    levels::eigen_avx512(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
  } else {
    levels::eigen_avx2(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
  }
#else
  (void)isa;
  eigen_kernel(p);
#endif
}

template <typename T>
void level_product(Isa isa, const Operands<T>& p) {
  if (!short_wide(p)) {
    level_call(isa, p);
    return;
  }
  thread_local Matrix<T> transposed;
  transposed.resize(p.n, p.m);
  const Operands<T> swapped{!p.tb, !p.ta, p.n, p.m, p.k, T(1), p.b, p.ldb, p.a, p.lda, T(0), transposed.data(), p.n};
  level_call(isa, swapped);
  assign_transposed(p, transposed);
}

template <typename T>
void run_kernel(const Operands<T>& p, Isa isa) {
  if constexpr (std::is_same_v<T, float>) {
    if (isa == Isa::avx512) {
      if (short_wide(p) && p.tb) {
        avx512_product_transposed(p);
      } else {
        avx512_product(p);
      }
      return;
    }
  }
  if (isa == Isa::portable) {
    eigen_kernel(p);
  } else {
    level_product(isa, p);
  }
}

#endif

}  // namespace

template <typename T>
void gemm(bool ta, bool tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb, T beta,
          T* c, Index ldc) {
  run_kernel(Operands<T>{ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}, active_isa());
}

template <typename T>
void gemm_at(Isa isa, bool ta, bool tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
             Index ldb, T beta, T* c, Index ldc) {
  if (isa > cpu_isa()) {
    throw_error(fmt::format("kernels::gemm_at: this CPU runs at most {}, not {}", isa_name(cpu_isa()), isa_name(isa)));
  }
  run_kernel(Operands<T>{ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}, isa);
}

template <typename T>
const char* gemm_kernel_name() {
#if defined(TAPEGRAD_GEMM_OPENBLAS)
  return "openblas";
#elif defined(TAPEGRAD_GEMM_BLIS)
  return "blis";
#elif defined(TAPEGRAD_GEMM_ONEDNN)
  return std::is_same_v<T, float> ? "onednn" : "eigen";
#else
  const Isa isa = active_isa();
  if (std::is_same_v<T, float> && isa == Isa::avx512) return "avx512";
#if defined(TAPEGRAD_EIGEN_LEVELS)
  if (isa == Isa::avx512) return "eigen-avx512";
  if (isa == Isa::avx2) return "eigen-avx2";
#endif
  return "eigen";
#endif
}

template void gemm(bool, bool, Index, Index, Index, float, const float*, Index, const float*, Index, float, float*,
                   Index);
template void gemm(bool, bool, Index, Index, Index, double, const double*, Index, const double*, Index, double,
                   double*, Index);
template void gemm_at(Isa, bool, bool, Index, Index, Index, float, const float*, Index, const float*, Index, float,
                      float*, Index);
template void gemm_at(Isa, bool, bool, Index, Index, Index, double, const double*, Index, const double*, Index, double,
                      double*, Index);
template const char* gemm_kernel_name<float>();
template const char* gemm_kernel_name<double>();

}  // namespace tapegrad::kernels
