// tapegrad's own single-precision product kernel for CPUs with AVX-512 (internal to core; kernels/gemm.cpp calls it).
//
// Why: the two-layer step's products (50 x 3072 x 100 forward, 50 x 100 x 3072 for the weight gradient) are too
// small and oddly shaped for Eigen's kernels, which reach about half of the FMA peak on them. This kernel packs
// op(A) into 48-row panels and feeds a 48 x 8 register block (24 accumulators, three loads and eight broadcasts
// per eight-by-three FMAs); op(B) is read in place when its columns are contiguous and packed otherwise; the rows
// left over below a multiple of 16 (50 = 48 + 2) take small kernels of their own instead of a mostly empty panel.
//
// The file gemm_avx512.cpp is compiled with AVX-512 enabled whatever the build's flags, and is only called after
// a run-time check of the CPU (isa.h: active_isa), so that the portable build gets it on machines that have
// AVX-512 and Eigen's products elsewhere. That file uses nothing from the standard library's or Eigen's
// templates: an instantiation compiled for AVX-512 could otherwise be the one the linker keeps for every caller.
#pragma once

#include <cstddef>

namespace tapegrad::detail {

// Blocking of the kernel: op(A) is packed in blocks of avx512_mc rows by avx512_kc terms, op(B) in blocks of
// avx512_kc terms by avx512_nc columns.
constexpr std::ptrdiff_t avx512_kc = 256, avx512_mc = 144, avx512_nc = 768;

// The floats of 64-byte-aligned workspace avx512_sgemm needs for these sizes (0 when the kernel is not compiled in).
std::ptrdiff_t avx512_sgemm_workspace(std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k);

// True when gemm_avx512.cpp holds the kernel (x86-64 built with GCC or Clang), false when it is an empty stub.
bool avx512_kernel_compiled();

// C (m x n, column-major, leading dimension ldc) = alpha op(A) op(B) + beta C, with op(A) = A^T when ta, op(B) =
// B^T when tb; with beta == 0, C is not read. m, n, k > 0. Call only when kernels::active_isa() is Isa::avx512 (isa.h).
void avx512_sgemm(bool ta, bool tb, std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k, float alpha, const float* a,
                  std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb, float beta, float* c, std::ptrdiff_t ldc,
                  float* workspace);

}  // namespace tapegrad::detail
