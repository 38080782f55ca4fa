// Eigen's products compiled for AVX2+FMA and for AVX-512 (internal to core; kernels/gemm.cpp calls them only
// when isa.h's active_isa() is at least that level). Raw column-major storage as in kernels/gemm.h; m, n, k > 0.
#pragma once

#include <cstddef>

namespace tapegrad::kernels::levels {

#define TAPEGRAD_LEVEL_DECLARE(name, T)                                                                       \
  void name(bool ta, bool tb, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, T alpha, const T* a,     \
            std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, T beta, T* c, std::ptrdiff_t ldc);
TAPEGRAD_LEVEL_DECLARE(eigen_avx2, float)
TAPEGRAD_LEVEL_DECLARE(eigen_avx2, double)
TAPEGRAD_LEVEL_DECLARE(eigen_avx512, float)
TAPEGRAD_LEVEL_DECLARE(eigen_avx512, double)
#undef TAPEGRAD_LEVEL_DECLARE

// They exist (and kernels/gemm.cpp is compiled with TAPEGRAD_EIGEN_LEVELS) on x86-64 with GCC or Clang.

}  // namespace tapegrad::kernels::levels
