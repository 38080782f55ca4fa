// gemm_level.inc compiled for AVX2 with FMA: 16 vector registers, so a register block of two vectors by six
// columns (12 accumulators, two loads and six broadcasts per 12 FMAs). AVX2's masked loads and stores take a
// vector of lane masks.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX intrinsics start from deliberately undefined vectors and then warn about them (GCC bug 105593,
// fixed in 13): silenced for this file only, and only for those compilers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>

namespace {

struct FloatSimd {
  using T = float;
  using V = __m256;
  using Mask = __m256i;
  static constexpr int registers = 16, W = 8, depth = 2, nr = 6;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 768;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_load_ps(p); }
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static Mask first(std::ptrdiff_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n < W ? n : W)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_first(Mask m, const T* p) { return _mm256_maskload_ps(p, m); }
  static void store_first(Mask m, T* p, V v) { _mm256_maskstore_ps(p, m, v); }
  static V broadcast(T x) { return _mm256_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static T reduce(V v) {
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }
};

struct DoubleSimd {
  using T = double;
  using V = __m256d;
  using Mask = __m256i;
  static constexpr int registers = 16, W = 4, depth = 2, nr = 6;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 384;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_load_pd(p); }
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static Mask first(std::ptrdiff_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n < W ? n : W), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load_first(Mask m, const T* p) { return _mm256_maskload_pd(p, m); }
  static void store_first(Mask m, T* p, V v) { _mm256_maskstore_pd(p, m, v); }
  static V broadcast(T x) { return _mm256_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static T reduce(V v) {
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
};

}  // namespace

#define TAPEGRAD_LEVEL_FUNCTION gemm_avx2
#include "gemm_level.inc"
