// See eigen_level.inc: Eigen products compiled for AVX-512 (F, DQ, VL) with FMA.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX intrinsics start from deliberately undefined vectors and then warn about them inside Eigen's
// kernels (GCC bug 105593, fixed in 13): silenced for this file only, and only for those compilers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define TAPEGRAD_LEVEL_FUNCTION eigen_avx512
#include "eigen_level.inc"
