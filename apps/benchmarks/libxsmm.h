// libxsmm, the small-matrix library Debian packages (libxsmm-dev), as one more GEMM backend of the benchmark. It
// comes only as static libraries, so it is linked in (not loaded with dlopen like the BLAS libraries) and only when
// CMake finds it; without it the function returns no backend.
#pragma once

#include <vector>

#include "apps/benchmarks/gemm.h"

namespace tapegrad::apps {

// "libxsmm-pool": libxsmm's JIT kernels (single-threaded) under tapegrad's pool, split by result columns as
// core/gemm.cpp splits. A shape for which libxsmm makes no kernel (it declines some transpositions) is skipped.
template <typename T>
std::vector<GemmBackend<T>> libxsmm_backends();

}  // namespace tapegrad::apps
