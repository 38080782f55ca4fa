// The AVX-512 single-precision kernel (see gemm_avx512.h). Compiled with -mavx512f -mavx512dq -mavx512vl on
// x86-64; everything here has internal linkage or is the one exported function, and no template from outside
// this file is instantiated here.
#include <tapegrad/core/kernels/gemm_avx512.h>

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define TAPEGRAD_HAVE_AVX512_KERNEL 1
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's own AVX-512 intrinsics start from deliberately undefined vectors and then warn about them (GCC bug
// 105593, fixed in 13); the warning is silenced for this file only, and only for those compilers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace tapegrad::detail {

#if defined(TAPEGRAD_HAVE_AVX512_KERNEL)

namespace {

using Index = std::ptrdiff_t;

constexpr int nr = 8;        // columns of C per register block
constexpr int panel = 48;    // rows of a packed op(A) panel (three 16-float vectors)
constexpr int max_tail = 4;  // leftover rows (m mod 16) up to this many go to the tail kernels

Index smaller(Index x, Index y) { return x < y ? x : y; }

__mmask16 first_lanes(Index count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << static_cast<unsigned>(count)) - 1u);
}

// B's element (k, j) in a register-block call: packed panels hold it at bp[k * nr + j]; unpacked columns (op(B) =
// B, column-major) at bp[k + j * bs].
template <bool Columns>
float b_element(const float* bp, Index bs, Index k, int j) {
  return Columns ? bp[k + j * bs] : bp[k * nr + j];
}

// C's (16 * V) x N block at c: alpha * (packed A panel times B's N columns) + beta * C; rows past `rows` untouched.
template <int V, int N, bool Columns>
void register_block(Index kc, const float* __restrict ap, const float* __restrict bp, Index bs, float* c, Index ldc,
                    Index rows, float alpha, float beta) {
  __m512 acc[V][N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[v][j] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (Index k = 0; k < kc; ++k) {
    __m512 a[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) a[v] = _mm512_load_ps(ap + k * 16 * V + 16 * v);
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) {
      const __m512 bj = _mm512_set1_ps(b_element<Columns>(bp, bs, k, j));
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) acc[v][j] = _mm512_fmadd_ps(a[v], bj, acc[v][j]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) {
      const __mmask16 mask = first_lanes(rows - 16 * v);
      float* cp = c + j * ldc + 16 * v;
      __m512 r = _mm512_mul_ps(acc[v][j], va);
      if (beta != 0.0f) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, cp), vb, r);
      _mm512_mask_storeu_ps(cp, mask, r);
    }
  }
}

// out is rows x nr, row-major; C's rows x cols block = alpha out + beta C.
void store_small(const float* out, Index rows, Index cols, float* c, Index ldc, float alpha, float beta) {
  for (Index j = 0; j < cols; ++j) {
    for (Index r = 0; r < rows; ++r) {
      float& d = c[j * ldc + r];
      const float v = alpha * out[r * nr + j];
      d = beta == 0.0f ? v : v + beta * d;
    }
  }
}

// R (1 or 2) leftover rows of op(A), k-contiguous at at[r * as + k], against a packed B panel: vectors along the
// panel's 8 columns, the k terms split over four accumulators so that the FMAs do not wait on each other.
template <int R>
void tail_packed(Index kc, const float* __restrict at, Index as, const float* __restrict bp, float* c, Index ldc,
                 Index cols, float alpha, float beta) {
  __m256 acc[R][4];
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < 4; ++u) acc[r][u] = _mm256_setzero_ps();
  }
  Index k = 0;
  for (; k + 4 <= kc; k += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m256 bk = _mm256_load_ps(bp + (k + u) * nr);
      for (int r = 0; r < R; ++r) acc[r][u] = _mm256_fmadd_ps(_mm256_set1_ps(at[r * as + k + u]), bk, acc[r][u]);
    }
  }
  for (; k < kc; ++k) {
    const __m256 bk = _mm256_load_ps(bp + k * nr);
    for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(_mm256_set1_ps(at[r * as + k]), bk, acc[r][0]);
  }
  alignas(32) float out[R * nr];
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(out + r * nr,
                    _mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]), _mm256_add_ps(acc[r][2], acc[r][3])));
  }
  store_small(out, R, cols, c, ldc, alpha, beta);
}

// R leftover rows against N unpacked k-contiguous columns of B: dot products 16 terms at a time.
template <int R, int N>
void tail_columns(Index kc, const float* __restrict at, Index as, const float* __restrict bp, Index bs, float* c,
                  Index ldc, float alpha, float beta) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < N; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (Index k = 0; k < kc; k += 16) {
    const __mmask16 mask = first_lanes(kc - k);
    __m512 a[R];
    for (int r = 0; r < R; ++r) a[r] = _mm512_maskz_loadu_ps(mask, at + r * as + k);
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) {
      const __m512 bj = _mm512_maskz_loadu_ps(mask, bp + j * bs + k);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(a[r], bj, acc[r][j]);
    }
  }
  float out[R * nr];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < N; ++j) out[r * nr + j] = _mm512_reduce_add_ps(acc[r][j]);
  }
  store_small(out, R, N, c, ldc, alpha, beta);
}

template <int V, bool Columns>
void block_columns(Index cols, Index kc, const float* ap, const float* bp, Index bs, float* c, Index ldc, Index rows,
                   float alpha, float beta) {
  switch (cols) {
    case 8: register_block<V, 8, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 7: register_block<V, 7, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 6: register_block<V, 6, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 5: register_block<V, 5, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 4: register_block<V, 4, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 3: register_block<V, 3, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    case 2: register_block<V, 2, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
    default: register_block<V, 1, Columns>(kc, ap, bp, bs, c, ldc, rows, alpha, beta); break;
  }
}

template <bool Columns>
void block(Index height, Index cols, Index kc, const float* ap, const float* bp, Index bs, float* c, Index ldc,
           Index rows, float alpha, float beta) {
  if (height == 48) {
    block_columns<3, Columns>(cols, kc, ap, bp, bs, c, ldc, rows, alpha, beta);
  } else if (height == 32) {
    block_columns<2, Columns>(cols, kc, ap, bp, bs, c, ldc, rows, alpha, beta);
  } else {
    block_columns<1, Columns>(cols, kc, ap, bp, bs, c, ldc, rows, alpha, beta);
  }
}

template <int R>
void tail_columns_any(Index cols, Index kc, const float* at, Index as, const float* bp, Index bs, float* c, Index ldc,
                      float alpha, float beta) {
  switch (cols) {
    case 8: tail_columns<R, 8>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 7: tail_columns<R, 7>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 6: tail_columns<R, 6>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 5: tail_columns<R, 5>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 4: tail_columns<R, 4>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 3: tail_columns<R, 3>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    case 2: tail_columns<R, 2>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
    default: tail_columns<R, 1>(kc, at, as, bp, bs, c, ldc, alpha, beta); break;
  }
}

// op(B) = B^T (B's rows are op(B)'s columns, contiguous): its kc x nc block into panels of nr columns, each kc x nr.
// B is read row by row, sequentially (reading it panel by panel walks kc rows ldb apart, which for the two-layer
// gradient's 3072-float rows all fall into one L1 set: that order took three times as long).
void pack_b_transposed(const float* b, Index ldb, Index kc, Index nc, float* bp) {
  const Index pairs_end = nc / (2 * nr) * (2 * nr);
  for (Index kk = 0; kk < kc; ++kk) {
    const float* src = b + ldb * kk;
    float* dst = bp + kk * nr;
    for (Index jp = 0; jp < pairs_end; jp += 2 * nr) {
      const __m512 row = _mm512_loadu_ps(src + jp);
      _mm256_store_ps(dst + jp * kc, _mm512_castps512_ps256(row));
      _mm256_store_ps(dst + (jp + nr) * kc, _mm512_extractf32x8_ps(row, 1));
    }
    for (Index jp = pairs_end; jp < nc; jp += nr) {
      const Index cols = smaller(nr, nc - jp);
      for (Index j = 0; j < nr; ++j) dst[jp * kc + j] = j < cols ? src[jp + j] : 0.0f;
    }
  }
}

// op(A)'s rows [0, body) of a kc-term block into panels of up to 48 rows (the last one 16, 32 or 48 high, with
// zero rows below the matrix); a(i, kk) is op(A)'s element.
void pack_a_panels(bool ta, const float* a, Index lda, Index body, Index kc, float* ap) {
  for (Index ip = 0; ip < body; ip += panel) {
    const Index rows = smaller(panel, body - ip);
    const Index height = (rows + 15) / 16 * 16;
    if (!ta) {
      for (Index kk = 0; kk < kc; ++kk) {
        const float* src = a + ip + lda * kk;
        float* dst = ap + kk * height;
        for (Index r = 0; r < height; ++r) dst[r] = r < rows ? src[r] : 0.0f;
      }
    } else {
      for (Index r = 0; r < height; ++r) {
        if (r < rows) {
          const float* src = a + lda * (ip + r);
          for (Index kk = 0; kk < kc; ++kk) ap[kk * height + r] = src[kk];
        } else {
          for (Index kk = 0; kk < kc; ++kk) ap[kk * height + r] = 0.0f;
        }
      }
    }
    ap += height * kc;
  }
}

// The workspace: packed op(A) (its panels, then the tail rows), then packed op(B) from the next 64-byte boundary.
Index a_workspace(Index m, Index k) { return ((smaller(m, avx512_mc) + 16) * smaller(k, avx512_kc) + 15) / 16 * 16; }

}  // namespace

bool avx512_kernel_compiled() { return true; }

Index avx512_sgemm_workspace(Index m, Index n, Index k) {
  return a_workspace(m, k) + (smaller(n, avx512_nc) + nr - 1) / nr * nr * smaller(k, avx512_kc);
}

void avx512_sgemm(bool ta, bool tb, Index m, Index n, Index k, float alpha, const float* a, Index lda, const float* b,
                  Index ldb, float beta, float* c, Index ldc, float* workspace) {
  float* ap = workspace;
  float* bp = workspace + a_workspace(m, k);
  for (Index jc = 0; jc < n; jc += avx512_nc) {
    const Index nc = smaller(avx512_nc, n - jc);
    for (Index pc = 0; pc < k; pc += avx512_kc) {
      const Index kc = smaller(avx512_kc, k - pc);
      const float beta_now = pc == 0 ? beta : 1.0f;  // later blocks of terms add to the first one's result
      if (tb) pack_b_transposed(b + jc + ldb * pc, ldb, kc, nc, bp);
      for (Index ic = 0; ic < m; ic += avx512_mc) {
        const Index mc = smaller(avx512_mc, m - ic);
        const Index tail = mc % 16 <= max_tail ? mc % 16 : 0, body = mc - tail;
        const float* a_block = ta ? a + pc + lda * ic : a + ic + lda * pc;
        pack_a_panels(ta, a_block, lda, body, kc, ap);
        // The tail rows, k-contiguous: at[r * kc + kk].
        float* at = ap + (body + 15) / 16 * 16 * kc;
        for (Index r = 0; r < tail; ++r) {
          for (Index kk = 0; kk < kc; ++kk) {
            at[r * kc + kk] = ta ? a_block[kk + lda * (body + r)] : a_block[(body + r) + lda * kk];
          }
        }
        for (Index jp = 0; jp < nc; jp += nr) {
          const Index cols = smaller(nr, nc - jp);
          float* c_block = c + ic + ldc * (jc + jp);
          const float* bpanel = tb ? bp + jp * kc : b + pc + ldb * (jc + jp);
          const float* a_panel = ap;
          for (Index ip = 0; ip < body; ip += panel) {
            const Index rows = smaller(panel, body - ip);
            const Index height = (rows + 15) / 16 * 16;
            if (tb) {
              block<false>(height, cols, kc, a_panel, bpanel, 0, c_block + ip, ldc, rows, alpha, beta_now);
            } else {
              block<true>(height, cols, kc, a_panel, bpanel, ldb, c_block + ip, ldc, rows, alpha, beta_now);
            }
            a_panel += height * kc;
          }
          for (Index r = 0; r < tail; r += 2) {
            float* cp = c_block + body + r;
            const float* ar = at + r * kc;
            const bool pair = tail - r >= 2;
            if (tb) {
              if (pair) {
                tail_packed<2>(kc, ar, kc, bpanel, cp, ldc, cols, alpha, beta_now);
              } else {
                tail_packed<1>(kc, ar, kc, bpanel, cp, ldc, cols, alpha, beta_now);
              }
            } else {
              if (pair) {
                tail_columns_any<2>(cols, kc, ar, kc, bpanel, ldb, cp, ldc, alpha, beta_now);
              } else {
                tail_columns_any<1>(cols, kc, ar, kc, bpanel, ldb, cp, ldc, alpha, beta_now);
              }
            }
          }
        }
      }
    }
  }
}

#else  // not compiled for AVX-512: never called (active_isa() is never avx512)

bool avx512_kernel_compiled() { return false; }

std::ptrdiff_t avx512_sgemm_workspace(std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t) { return 0; }

void avx512_sgemm(bool, bool, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, float, const float*, std::ptrdiff_t,
                  const float*, std::ptrdiff_t, float, float*, std::ptrdiff_t, float*) {}

#endif

}  // namespace tapegrad::detail
