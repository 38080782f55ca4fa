// The multiply-add loops of the FMA peak at the AVX2+FMA and AVX-512 levels, each compiled with its level's flags
// (fma_avx2.cpp, fma_avx512.cpp; see CMakeLists.txt) from the one loop in fma_chains.h. They include nothing but
// <immintrin.h>, whose functions are always inlined, and that loop, whose instances have internal linkage, so no
// code built with those instructions can be shared with (and picked by the linker for) the rest of the program,
// which may run on a CPU without them. Call one only when kernels::cpu_isa() is at least its
// level. The portable level's loop is machine.cpp's own, on Eigen's packets at the build's flags.
#pragma once

namespace tapegrad::apps::fma_levels {

// Whether the loops below were compiled in (x86-64 with GCC or Clang).
bool available();

// `iterations` rounds of kChains independent chains c = c * multiplier + addend on the level's widest vector;
// returns the sum of every lane so that the loop cannot be dropped.
constexpr int kChains = 12;
float avx2(long iterations, float multiplier, float addend);
double avx2(long iterations, double multiplier, double addend);
float avx512(long iterations, float multiplier, float addend);
double avx512(long iterations, double multiplier, double addend);

// Lanes of a vector at each level: AVX2 holds 32 bytes, AVX-512 64.
template <typename T>
constexpr int avx2_lanes = 32 / static_cast<int>(sizeof(T));
template <typename T>
constexpr int avx512_lanes = 64 / static_cast<int>(sizeof(T));

}  // namespace tapegrad::apps::fma_levels
