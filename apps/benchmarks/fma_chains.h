// The loop behind fma_levels.h, written once for every level and type: included only by fma_avx2.cpp and
// fma_avx512.cpp, which pass the level's intrinsics. Everything here has internal linkage, so what each file
// instantiates with its level's instructions stays in that file.
#pragma once

#include "apps/benchmarks/fma_levels.h"

namespace tapegrad::apps::fma_levels {
namespace {

// kChains independent chains c = c * multiplier + addend, `iterations` rounds, on vectors of Lanes lanes made by
// `splat`, advanced by `fma` and read back by `store`; returns the sum of every lane so that the loop is kept.
template <int Lanes, typename T, typename Splat, typename Fma, typename Store>
T run_chains(long iterations, T multiplier, T addend, Splat splat, Fma fma, Store store) {
  using V = decltype(splat(T(0)));
  const V m = splat(multiplier);
  const V a = splat(addend);
  V chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = splat(static_cast<T>(c));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = fma(chains[c], m, a);
  }
  T lanes[Lanes];
  T total = 0;
  for (int c = 0; c < kChains; ++c) {
    store(lanes, chains[c]);
    for (const T lane : lanes) total += lane;
  }
  return total;
}

}  // namespace
}  // namespace tapegrad::apps::fma_levels
