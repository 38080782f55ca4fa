// fma_levels.h's AVX-512 loops; compiled with -mavx512f (and the AVX2 flags).
#include <immintrin.h>

#include "apps/benchmarks/fma_chains.h"

namespace tapegrad::apps::fma_levels {

float avx512(long iterations, float multiplier, float addend) {
  return run_chains<avx512_lanes<float>>(
      iterations, multiplier, addend, [](float x) { return _mm512_set1_ps(x); },
      [](__m512 c, __m512 m, __m512 a) { return _mm512_fmadd_ps(c, m, a); },
      [](float* p, __m512 v) { _mm512_storeu_ps(p, v); });
}

double avx512(long iterations, double multiplier, double addend) {
  return run_chains<avx512_lanes<double>>(
      iterations, multiplier, addend, [](double x) { return _mm512_set1_pd(x); },
      [](__m512d c, __m512d m, __m512d a) { return _mm512_fmadd_pd(c, m, a); },
      [](double* p, __m512d v) { _mm512_storeu_pd(p, v); });
}

}  // namespace tapegrad::apps::fma_levels
