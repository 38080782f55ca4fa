// The matrix-product kernels under core/gemm.h, on raw column-major storage (no Tensor, no size checks: gemm.h
// checks the shapes and splits the work over threads, then calls one of these per part).
//
//   C (m x n, leading dimension ldc) = alpha op(A) op(B) + beta C,   op(A) = A^T when ta, op(B) = B^T when tb.
//
// m, n, k > 0; with beta == 0, C is not read. The kernel is chosen by the backend the library was built with
// (CMake's TAPEGRAD_GEMM) and, for the default "eigen" backend, by the instruction-set level in force
// (isa.h): tapegrad's own kernel compiled for that level (levels/gemm_level.h; SSE2 at portable), for float and
// double, whose results do not depend on the operands' addresses or on how the columns are split. Builds without
// the level kernels (not x86-64, or neither GCC nor Clang) take Eigen's products.
#pragma once

#include <cstddef>

#include <tapegrad/core/kernels/isa.h>

namespace tapegrad::kernels {

template <typename T>
void gemm(bool ta, bool tb, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, T alpha, const T* a,
          std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, T beta, T* c, std::ptrdiff_t ldc);

// The same at a given level instead of the one in force (to test and time every level in one process); throws
// tapegrad::Error when `isa` is above cpu_isa().
template <typename T>
void gemm_at(Isa isa, bool ta, bool tb, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, T alpha, const T* a,
             std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, T beta, T* c, std::ptrdiff_t ldc);

// The backend products of this precision take now: "avx512", "avx2" or "portable" (tapegrad's own kernel at that
// level), "eigen" (a build without the level kernels), or the BLAS the library was built with: "openblas", "blis" or "onednn".
template <typename T>
const char* gemm_kernel_name();

}  // namespace tapegrad::kernels
