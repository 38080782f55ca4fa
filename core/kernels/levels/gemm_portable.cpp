// gemm_level.inc compiled for the portable level, with the build's own flags: SSE2, the x86-64 baseline, so no
// flag of its own (a -march=native build compiles the same intrinsics with VEX, and with FMA where the CPU has it).
// 16 vector registers of 4 floats or 2 doubles. Without FMA a multiply-add is a multiply then an add (two roundings,
// the same at every address and column split), and each takes a temporary: a block of two vectors by six columns
// (12 accumulators, two A vectors, a broadcast and the product) fills the 16 exactly. SSE2 has no masked loads or
// stores: the edge vectors go through a small buffer, a lane at a time. Double spreads op(B) (gemm_level.inc's
// SpreadB): its broadcast, a load and a shuffle on the multiplies' and adds' own ports, held the block at about 72% of
// the level's peak; from a spread panel the two-layer products ran 9-10% faster (float: 3-4%, not kept).
#include <emmintrin.h>
#if defined(__FMA__)
#include <immintrin.h>
#endif

#include <cstddef>

namespace {

// Fewer than W lanes of a vector at p: read or written one by one, so nothing past them is touched.
template <typename T, int W>
struct EdgeLanes {
  int count;
  template <typename V, typename Load>
  V load(const T* p, Load load_aligned) const {
    alignas(16) T lanes[W] = {};
    for (int i = 0; i < count; ++i) lanes[i] = p[i];
    return load_aligned(lanes);
  }
  template <typename V, typename Store>
  void store(T* p, V v, Store store_aligned) const {
    alignas(16) T lanes[W];
    store_aligned(lanes, v);
    for (int i = 0; i < count; ++i) p[i] = lanes[i];
  }
};

struct FloatSimd {
  using T = float;
  using V = __m128;
  using Mask = EdgeLanes<float, 4>;
  static constexpr int registers = 16, W = 4, depth = 2, nr = 6;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 768;
  static V zero() { return _mm_setzero_ps(); }
  static V load(const T* p) { return _mm_load_ps(p); }
  static V loadu(const T* p) { return _mm_loadu_ps(p); }
  static void storeu(T* p, V v) { _mm_storeu_ps(p, v); }
  static Mask first(std::ptrdiff_t n) { return Mask{int(n < W ? n : W)}; }
  static V load_first(Mask m, const T* p) { return m.load<V>(p, load); }
  static void store_first(Mask m, T* p, V v) { m.store(p, v, _mm_store_ps); }
  static V broadcast(T x) { return _mm_set1_ps(x); }
#if defined(__FMA__)
  static V fma(V a, V b, V c) { return _mm_fmadd_ps(a, b, c); }
#else
  static V fma(V a, V b, V c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
#endif
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static T reduce(V v) {
    const __m128 d = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
  }
};

struct DoubleSimd {
  using T = double;
  using V = __m128d;
  using Mask = EdgeLanes<double, 2>;
  static constexpr int registers = 16, W = 2, depth = 2, nr = 6;
  static constexpr std::ptrdiff_t mc = 144, kc = 256, nc = 384;
  static constexpr bool spread_b = true;
  static V zero() { return _mm_setzero_pd(); }
  static V load(const T* p) { return _mm_load_pd(p); }
  static V loadu(const T* p) { return _mm_loadu_pd(p); }
  static void storeu(T* p, V v) { _mm_storeu_pd(p, v); }
  static Mask first(std::ptrdiff_t n) { return Mask{int(n < W ? n : W)}; }
  static V load_first(Mask m, const T* p) { return m.load<V>(p, load); }
  static void store_first(Mask m, T* p, V v) { m.store(p, v, _mm_store_pd); }
  static V broadcast(T x) { return _mm_set1_pd(x); }
#if defined(__FMA__)
  static V fma(V a, V b, V c) { return _mm_fmadd_pd(a, b, c); }
#else
  static V fma(V a, V b, V c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
#endif
  static V mul(V a, V b) { return _mm_mul_pd(a, b); }
  static V add(V a, V b) { return _mm_add_pd(a, b); }
  static T reduce(V v) { return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v))); }
};

}  // namespace

#define TAPEGRAD_LEVEL_FUNCTION gemm_portable
#include "gemm_level.inc"
