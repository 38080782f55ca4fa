// The element-wise passes of each instruction-set level (internal to core; kernels/elementwise.cpp hands them
// out by isa.h's level). The portable one always exists; the AVX2 and AVX-512 ones only where
// TAPEGRAD_ELEMENTWISE_LEVELS is defined (x86-64 with GCC; see CMakeLists.txt).
#pragma once

#include <tapegrad/core/kernels/elementwise.h>

namespace tapegrad::kernels::levels {

#define TAPEGRAD_ELEMENTWISE_DECLARE(level)                     \
  const ElementwiseKernels<float>& elementwise_float_##level(); \
  const ElementwiseKernels<double>& elementwise_double_##level();
TAPEGRAD_ELEMENTWISE_DECLARE(portable)
TAPEGRAD_ELEMENTWISE_DECLARE(avx2)
TAPEGRAD_ELEMENTWISE_DECLARE(avx512)
#undef TAPEGRAD_ELEMENTWISE_DECLARE

}  // namespace tapegrad::kernels::levels
