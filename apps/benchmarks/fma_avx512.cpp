// fma_levels.h's AVX-512 loops; compiled with -mavx512f (and the AVX2 flags).
#include <immintrin.h>

#include "apps/benchmarks/fma_levels.h"

namespace tapegrad::apps::fma_levels {

float avx512(long iterations, float multiplier, float addend) {
  const __m512 m = _mm512_set1_ps(multiplier);
  const __m512 a = _mm512_set1_ps(addend);
  __m512 chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = _mm512_set1_ps(static_cast<float>(c));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = _mm512_fmadd_ps(chains[c], m, a);
  }
  float lanes[16];
  float total = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm512_storeu_ps(lanes, chains[c]);
    for (const float lane : lanes) total += lane;
  }
  return total;
}

double avx512(long iterations, double multiplier, double addend) {
  const __m512d m = _mm512_set1_pd(multiplier);
  const __m512d a = _mm512_set1_pd(addend);
  __m512d chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = _mm512_set1_pd(static_cast<double>(c));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = _mm512_fmadd_pd(chains[c], m, a);
  }
  double lanes[8];
  double total = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm512_storeu_pd(lanes, chains[c]);
    for (const double lane : lanes) total += lane;
  }
  return total;
}

}  // namespace tapegrad::apps::fma_levels
