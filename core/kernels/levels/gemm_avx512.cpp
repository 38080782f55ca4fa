// gemm_level.inc compiled for AVX-512 (F, DQ, VL) with FMA: 32 vector registers, so a register block of three
// vectors by eight columns (24 accumulators, three loads and eight broadcasts per 24 FMAs).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's own AVX-512 intrinsics start from deliberately undefined vectors and then warn about them (GCC bug
// 105593, fixed in 13): silenced for this file only, and only for those compilers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>

namespace {

struct FloatSimd {
  using T = float;
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int registers = 32, W = 16, depth = 3, nr = 8;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 768;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_load_ps(p); }
  static V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
  static Mask first(std::ptrdiff_t n) { return n >= W ? Mask(0xFFFF) : Mask((1u << unsigned(n)) - 1u); }
  static V load_first(Mask m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store_first(Mask m, T* p, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static V broadcast(T x) { return _mm512_set1_ps(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static T reduce(V v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }
  // The tail kernels' vectors: one packed panel row of 8 floats (a 16-float load would cross a cache line every
  // other row).
  using Row = __m256;
  static constexpr int row_lanes = 8;
  static Row row_zero() { return _mm256_setzero_ps(); }
  static Row row_loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void row_storeu(T* p, Row v) { _mm256_storeu_ps(p, v); }
  static Row row_broadcast(T x) { return _mm256_set1_ps(x); }
  static Row row_fma(Row a, Row b, Row c) { return _mm256_fmadd_ps(a, b, c); }
  static Row row_add(Row a, Row b) { return _mm256_add_ps(a, b); }
};

struct DoubleSimd {
  using T = double;
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int registers = 32, W = 8, depth = 3, nr = 8;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 384;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_load_pd(p); }
  static V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static Mask first(std::ptrdiff_t n) { return n >= W ? Mask(0xFF) : Mask((1u << unsigned(n)) - 1u); }
  static V load_first(Mask m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store_first(Mask m, T* p, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static V broadcast(T x) { return _mm512_set1_pd(x); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static T reduce(V v) {
    const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
};

}  // namespace

#define TAPEGRAD_LEVEL_FUNCTION gemm_avx512
#include "gemm_level.inc"

// The float tail rows take FloatSimd's own 8-lane Row (RowOps picks a traits' Row set when it declares one).
static_assert(RowOps<FloatSimd>::lanes == 8 && RowOps<DoubleSimd>::lanes == DoubleSimd::W);
