// See elementwise_level.inc: the element-wise passes compiled for the portable level.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX intrinsics start from deliberately undefined vectors and then warn about them inside Eigen's
// packet functions (GCC bug 105593, fixed in 13): silenced for this file only, and only for those compilers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define TAPEGRAD_ELEMENTWISE_FLOAT elementwise_float_portable
#define TAPEGRAD_ELEMENTWISE_DOUBLE elementwise_double_portable
#include "elementwise_level.inc"
