#include <tapegrad/core/kernels/gemm.h>

#include <Eigen/Core>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

#include <tapegrad/core/error.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/core/kernels/levels/gemm_level.h>

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

// A growing 64-byte-aligned buffer, kept per thread: the level kernels' packing workspace, and a short wide
// result's transpose.
class AlignedBuffer {
 public:
  template <typename T>
  T* at_least(std::ptrdiff_t count) {
    const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (bytes > size_) {
      data_.reset(static_cast<char*>(std::aligned_alloc(64, bytes)));
      if (!data_) throw std::bad_alloc();
      size_ = bytes;
    }
    return reinterpret_cast<T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data_;
  std::size_t size_ = 0;
};

#if defined(TAPEGRAD_KERNEL_LEVELS)

template <typename T>
void level_call(Isa isa, levels::GemmCall<T> call) {
  thread_local AlignedBuffer workspace;
  if (isa == Isa::avx512) {
    call.workspace = workspace.at_least<T>(levels::gemm_avx512_workspace(call));
    levels::gemm_avx512(call);
  } else if (isa == Isa::avx2) {
    call.workspace = workspace.at_least<T>(levels::gemm_avx2_workspace(call));
    levels::gemm_avx2(call);
  } else {
    call.workspace = workspace.at_least<T>(levels::gemm_portable_workspace(call));
    levels::gemm_portable(call);
  }
}

// A short wide result with B stored transposed, such as the softmax gradient G X^T (10 x 3072 from 10 x 100 and
// 3072 x 100), fills few rows of the register block; its transpose op(B)^T op(A)^T (3072 x 10, B packing as fast
// as it reads) fills it. This went from 143 to 91 us in float at avx512 with the kernel this one grew from; with
// B as stored (W2 H in evaluation, 10 x 50 x 10000) the transposed form was 3x slower, so those stay direct.
// C^T goes through a buffer with the same alpha and beta, and the tail kernels are off in both forms, so every entry
// adds in the same order whichever form a part of the columns (gemm.h splits them over threads) takes.
constexpr std::ptrdiff_t short_rows = 16, wide_columns = 256;

template <typename T>
void level_product(Isa isa, const Operands<T>& p) {
  const bool short_result = p.tb && p.m <= short_rows;
  if (!(short_result && p.n >= wide_columns)) {
    level_call(isa, levels::GemmCall<T>{p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c,
                                        p.ldc, nullptr, !short_result});
    return;
  }
  thread_local AlignedBuffer buffer;
  // C^T, n x m, its columns a cache line or two more than n apart: at n (3072 floats, 12 KB), the m columns all
  // fell into one set of the L1 cache, and copying C^T back into C waited on them.
  const Index ldt = (p.n + 15) / 16 * 16 + 16;
  T* transposed = buffer.at_least<T>(ldt * p.m);
  if (p.beta != T(0)) {
    for (Index j = 0; j < p.n; ++j)
      for (Index i = 0; i < p.m; ++i) transposed[j + i * ldt] = p.c[i + j * p.ldc];
  }
  level_call(isa, levels::GemmCall<T>{false, !p.ta, p.n, p.m, p.k, p.alpha, p.b, p.ldb, p.a, p.lda, p.beta,
                                      transposed, ldt, nullptr, false});
  for (Index j = 0; j < p.n; ++j)
    for (Index i = 0; i < p.m; ++i) p.c[i + j * p.ldc] = transposed[j + i * ldt];
}

#endif

template <typename T>
void run_kernel(const Operands<T>& p, Isa isa) {
#if defined(TAPEGRAD_KERNEL_LEVELS)
  level_product(isa, p);  // every level, portable (SSE2) included, takes tapegrad's own kernel
#else
  (void)isa;
  eigen_kernel(p);
#endif
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
  // The same kernel runs both precisions at each level.
  const Isa isa = active_isa();
#if defined(TAPEGRAD_KERNEL_LEVELS)
  return isa_name(isa);
#else
  (void)isa;
  return "eigen";
#endif
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
