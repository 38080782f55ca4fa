// fma_levels.h's AVX2+FMA loops; compiled with -mavx2 -mfma.
#include <immintrin.h>

#include "apps/benchmarks/fma_levels.h"

namespace tapegrad::apps::fma_levels {

float avx2(long iterations, float multiplier, float addend) {
  const __m256 m = _mm256_set1_ps(multiplier);
  const __m256 a = _mm256_set1_ps(addend);
  __m256 chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = _mm256_set1_ps(static_cast<float>(c));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = _mm256_fmadd_ps(chains[c], m, a);
  }
  float lanes[8];
  float total = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm256_storeu_ps(lanes, chains[c]);
    for (const float lane : lanes) total += lane;
  }
  return total;
}

double avx2(long iterations, double multiplier, double addend) {
  const __m256d m = _mm256_set1_pd(multiplier);
  const __m256d a = _mm256_set1_pd(addend);
  __m256d chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = _mm256_set1_pd(static_cast<double>(c));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = _mm256_fmadd_pd(chains[c], m, a);
  }
  double lanes[4];
  double total = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm256_storeu_pd(lanes, chains[c]);
    for (const double lane : lanes) total += lane;
  }
  return total;
}

}  // namespace tapegrad::apps::fma_levels
