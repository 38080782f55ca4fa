// fma_levels.h's AVX2+FMA loops; compiled with -mavx2 -mfma.
#include <immintrin.h>

#include "apps/benchmarks/fma_chains.h"

namespace tapegrad::apps::fma_levels {

float avx2(long iterations, float multiplier, float addend) {
  return run_chains<avx2_lanes<float>>(
      iterations, multiplier, addend, [](float x) { return _mm256_set1_ps(x); },
      [](__m256 c, __m256 m, __m256 a) { return _mm256_fmadd_ps(c, m, a); },
      [](float* p, __m256 v) { _mm256_storeu_ps(p, v); });
}

double avx2(long iterations, double multiplier, double addend) {
  return run_chains<avx2_lanes<double>>(
      iterations, multiplier, addend, [](double x) { return _mm256_set1_pd(x); },
      [](__m256d c, __m256d m, __m256d a) { return _mm256_fmadd_pd(c, m, a); },
      [](double* p, __m256d v) { _mm256_storeu_pd(p, v); });
}

}  // namespace tapegrad::apps::fma_levels
