// tapegrad's own matrix-product kernels, one source (gemm_level.inc) compiled once per instruction-set level
// (gemm_portable.cpp with SSE2, the build's own flags; gemm_avx2.cpp with AVX2+FMA; gemm_avx512.cpp with AVX-512 F,
// DQ, VL), for float and double. Internal to core: kernels/gemm.cpp calls a level's functions only when isa.h's
// active_isa() is at least that level.
//
// The order of the additions: every entry of C that the register blocks compute is one chain of fused multiply-adds
// over its terms in order, restarted at each block of kc terms, then alpha times the chain plus beta times C (one
// rounding each, in that order). No path depends on where the operands lie in memory (no alignment peeling) or on
// how many columns a call gets, so a product gives the same bits at any address and on any number of threads. The
// "tail rows" (below a multiple of the vector width, when there are few) take cheaper kernels with another fixed
// order that depends on m only; `tails = false` turns them off (gemm.cpp does, for a short wide result that it may
// run as its transpose, so that both forms add in the same order).
#pragma once

#include <cstddef>

namespace tapegrad::kernels::levels {

// One call: C (m x n, column-major, leading dimension ldc) = alpha op(A) op(B) + beta C, with op(A) = A^T when ta,
// op(B) = B^T when tb; with beta == 0, C is not read. m, n, k > 0. `workspace` holds at least the elements the
// level's *_workspace function gives for this call, 64-byte aligned.
template <typename T>
struct GemmCall {
  bool ta, tb;
  std::ptrdiff_t m, n, k;
  T alpha;
  const T* a;
  std::ptrdiff_t lda;
  const T* b;
  std::ptrdiff_t ldb;
  T beta;
  T* c;
  std::ptrdiff_t ldc;
  T* workspace;
  bool tails;
};

#define TAPEGRAD_LEVEL_DECLARE(name, T)                     \
  void name(const GemmCall<T>& call);                       \
  std::ptrdiff_t name##_workspace(const GemmCall<T>& call);
TAPEGRAD_LEVEL_DECLARE(gemm_portable, float)
TAPEGRAD_LEVEL_DECLARE(gemm_portable, double)
TAPEGRAD_LEVEL_DECLARE(gemm_avx2, float)
TAPEGRAD_LEVEL_DECLARE(gemm_avx2, double)
TAPEGRAD_LEVEL_DECLARE(gemm_avx512, float)
TAPEGRAD_LEVEL_DECLARE(gemm_avx512, double)
#undef TAPEGRAD_LEVEL_DECLARE

}  // namespace tapegrad::kernels::levels
