#include "apps/benchmarks/gemm.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>

#include "apps/benchmarks/libxsmm.h"
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/parallel.h>

namespace tapegrad::apps {
namespace {

Op op_of(bool transpose) { return transpose ? Op::transpose : Op::none; }

// Each case is written out so that Eigen sees the transposition at compile time and picks its kernel: Eigen's
// own product on whole matrices, with no tapegrad code in between.
template <typename T>
void eigen_multiply(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c) {
  if (shape.transpose_a && shape.transpose_b) {
    if (shape.accumulate)
      c.noalias() += a.transpose() * b.transpose();
    else
      c.noalias() = a.transpose() * b.transpose();
  } else if (shape.transpose_a) {
    if (shape.accumulate)
      c.noalias() += a.transpose() * b;
    else
      c.noalias() = a.transpose() * b;
  } else if (shape.transpose_b) {
    if (shape.accumulate)
      c.noalias() += a * b.transpose();
    else
      c.noalias() = a * b.transpose();
  } else {
    if (shape.accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
  }
}

// The library's own path: tapegrad::gemm with its backend and its thread pool.
template <typename T>
void library_multiply(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c) {
  gemm(T(1), a, op_of(shape.transpose_a), b, op_of(shape.transpose_b), shape.accumulate ? T(1) : T(0), c);
}

// The BLAS libraries that Debian packages, loaded at run time (RTLD_LOCAL: OpenBLAS and BLIS define the same
// cblas_* symbols, and the benchmark must not depend on them to build). Absent libraries are skipped.
constexpr int cblas_col_major = 102, cblas_no_trans = 111, cblas_trans = 112;
// RTLD_DEEPBIND makes each library call its own copies of the symbols they share; AddressSanitizer's runtime
// refuses to load a library so (scripts/sanitize.sh failed tapegrad_bench_smoke on it), so sanitizer builds load
// without it: their timings are not the point there.
#if defined(__SANITIZE_ADDRESS__)
constexpr int deep_bind = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int deep_bind = 0;
#else
constexpr int deep_bind = RTLD_DEEPBIND;
#endif
#else
constexpr int deep_bind = RTLD_DEEPBIND;
#endif
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);
using CblasDgemm = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double,
                            double*, int);
using SetThreads = void (*)(int);
// oneDNN's sgemm is row-major, with 64-bit sizes; float only.
using DnnlSgemm = int (*)(char, char, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);

struct LoadedBlas {
  std::string name;
  CblasSgemm sgemm = nullptr;
  CblasDgemm dgemm = nullptr;
  DnnlSgemm dnnl_sgemm = nullptr;
  SetThreads set_threads = nullptr;
};

const std::vector<LoadedBlas>& loaded_blas() {
  static const std::vector<LoadedBlas> libraries = [] {
    struct Candidate {
      const char* name;
      std::vector<const char*> paths;
      const char* set_threads;
    };
    const std::vector<Candidate> candidates = {
        {"openblas",
         {"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
          "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", "libopenblas.so.0"},
         "openblas_set_num_threads"},
        {"blis",
         {"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4",
          "libblis.so.4"},
         "bli_thread_set_num_threads"},
        {"onednn", {"libdnnl.so.2", "libdnnl.so.3"}, "omp_set_num_threads"},
    };
    std::vector<LoadedBlas> found;
    for (const Candidate& candidate : candidates) {
      for (const char* path : candidate.paths) {
        void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | deep_bind);
        if (!handle) continue;
        LoadedBlas blas{.name = candidate.name};
        blas.sgemm = reinterpret_cast<CblasSgemm>(dlsym(handle, "cblas_sgemm"));
        blas.dgemm = reinterpret_cast<CblasDgemm>(dlsym(handle, "cblas_dgemm"));
        blas.dnnl_sgemm = reinterpret_cast<DnnlSgemm>(dlsym(handle, "dnnl_sgemm"));
        blas.set_threads = reinterpret_cast<SetThreads>(dlsym(handle, candidate.set_threads));
        if (blas.sgemm || blas.dnnl_sgemm) found.push_back(blas);
        break;
      }
    }
    return found;
  }();
  return libraries;
}

// C (m x n) = op(A) op(B) (+ C) through one library on raw column-major storage; false when it lacks this type.
template <typename T>
bool blas_multiply(const LoadedBlas& blas, bool ta, bool tb, Index m, Index n, Index k, const T* a, Index lda,
                   const T* b, Index ldb, T beta, T* c, Index ldc) {
  const auto i = [](Index v) { return static_cast<int>(std::max<Index>(1, v)); };
  if constexpr (std::is_same_v<T, float>) {
    if (blas.dnnl_sgemm) {  // row-major: C^T = op(B)^T op(A)^T
      blas.dnnl_sgemm(tb ? 'T' : 'N', ta ? 'T' : 'N', n, m, k, 1.0f, b, std::max<Index>(1, ldb), a,
                      std::max<Index>(1, lda), beta, c, std::max<Index>(1, ldc));
      return true;
    }
    blas.sgemm(cblas_col_major, ta ? cblas_trans : cblas_no_trans, tb ? cblas_trans : cblas_no_trans,
               static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a, i(lda), b, i(ldb), beta, c,
               i(ldc));
    return true;
  } else {
    if (!blas.dgemm) return false;
    blas.dgemm(cblas_col_major, ta ? cblas_trans : cblas_no_trans, tb ? cblas_trans : cblas_no_trans,
               static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a, i(lda), b, i(ldb), beta, c,
               i(ldc));
    return true;
  }
}

// The library's own threading (set_threads before the measurement) on the whole product.
template <typename T>
void whole_blas_multiply(const LoadedBlas& blas, const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b,
                         Matrix<T>& c) {
  blas_multiply<T>(blas, shape.transpose_a, shape.transpose_b, c.rows(), c.cols(), shape.k, a.data(), a.rows(),
                   b.data(), b.rows(), shape.accumulate ? T(1) : T(0), c.data(), c.rows());
}

// The library single-threaded under tapegrad's pool, split as core/gemm.cpp splits: what TAPEGRAD_GEMM=<library>
// builds, without rebuilding.
template <typename T>
void pooled_blas_multiply(const LoadedBlas& blas, const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b,
                          Matrix<T>& c) {
  const double work = static_cast<double>(c.rows()) * static_cast<double>(c.cols()) * static_cast<double>(shape.k);
  parallel_columns(c.cols(), work >= gemm_split_work, [&](ColumnRange range) {
    const auto [first, last] = range;
    const T* b_part = b.data() + (shape.transpose_b ? first : first * b.rows());
    blas_multiply<T>(blas, shape.transpose_a, shape.transpose_b, c.rows(), last - first, shape.k, a.data(), a.rows(),
                     b_part, b.rows(), shape.accumulate ? T(1) : T(0), c.data() + first * c.rows(), c.rows());
  });
}

template <typename T>
Matrix<T> uniform_matrix(Index rows, Index cols, Generator& generator) {
  Matrix<T> value(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) value(i, j) = static_cast<T>(generator.uniform(-1.0, 1.0));
  return value;
}

}  // namespace

template <typename T>
std::vector<GemmBackend<T>> gemm_backends() {
  std::vector<GemmBackend<T>> backends = {
      GemmBackend<T>{.name = std::string("gemm-") + gemm_backend(),
                     .group = "gemm",
                     .multiply = &library_multiply<T>, .set_threads = {}},
      GemmBackend<T>{.name = "eigen", .group = "eigen", .multiply = &eigen_multiply<T>, .set_threads = {}},
  };
  for (const LoadedBlas& blas : loaded_blas()) {
    if (std::is_same_v<T, double> && !blas.dgemm) continue;
    const SetThreads set_threads = blas.set_threads;
    backends.push_back(GemmBackend<T>{
        .name = blas.name,
        .group = "blas",
        .multiply = [&blas](const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b,
                            Matrix<T>& c) { whole_blas_multiply(blas, shape, a, b, c); },
        .set_threads = set_threads});
    backends.push_back(GemmBackend<T>{
        .name = blas.name + "-pool",
        .group = "blas",
        .multiply = [&blas](const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b,
                            Matrix<T>& c) { pooled_blas_multiply(blas, shape, a, b, c); },
        .set_threads = set_threads,
        .pooled = true});
  }
  for (GemmBackend<T>& backend : libxsmm_backends<T>()) backends.push_back(std::move(backend));
  return backends;
}

template <typename T>
GemmOperands<T> make_gemm_operands(const ProductShape& shape, Generator& generator) {
  GemmOperands<T> operands;
  operands.a = shape.transpose_a ? uniform_matrix<T>(shape.k, shape.m, generator)
                                 : uniform_matrix<T>(shape.m, shape.k, generator);
  operands.b = shape.transpose_b ? uniform_matrix<T>(shape.n, shape.k, generator)
                                 : uniform_matrix<T>(shape.k, shape.n, generator);
  operands.c = Matrix<T>::Zero(shape.m, shape.n);
  return operands;
}

template std::vector<GemmBackend<float>> gemm_backends();
template std::vector<GemmBackend<double>> gemm_backends();
template GemmOperands<float> make_gemm_operands(const ProductShape&, Generator&);
template GemmOperands<double> make_gemm_operands(const ProductShape&, Generator&);

}  // namespace tapegrad::apps
