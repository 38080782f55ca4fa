// gemm: the one matrix product every op, the reference path and the apps' evaluation go through.
//
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,   column-major storage.
//
// One entry point so that the backend (Eigen, or a BLAS chosen with the CMake option TAPEGRAD_GEMM) and the
// threading (parallel.h: C's columns split across the product threads above a size threshold, each part an
// ordinary single-threaded product) are decided in one place.
#pragma once

#include <type_traits>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// An operand: a Matrix, or any block or map whose columns are contiguous (others are copied by Eigen::Ref).
template <typename T>
using ConstMatrixRef = std::type_identity_t<Eigen::Ref<const Matrix<T>>>;

// C must not share storage with A or B. With beta == 0, C is resized to rows(op(A)) x cols(op(B)) and its
// previous values are never read (NaN in C does not leak); otherwise C must have that shape already. Throws
// tapegrad::Error when the inner sizes differ or C has the wrong shape.
template <typename T>
void gemm(T alpha, ConstMatrixRef<T> a, Op op_a, ConstMatrixRef<T> b, Op op_b, T beta, Matrix<T>& c);

// Products of fewer multiply-adds than this run whole on the calling thread (handing out work costs a few
// microseconds, about what the step's small products take, ~50k); larger ones are split by result columns over
// the product threads (parallel.h: parallel_columns).
inline constexpr double gemm_split_work = 1 << 19;

// c = op(A) op(B) and c += op(A) op(B), the two forms the ops use.
template <typename T>
void product(ConstMatrixRef<T> a, Op op_a, ConstMatrixRef<T> b, Op op_b, Matrix<T>& c) {
  gemm(T(1), a, op_a, b, op_b, T(0), c);
}
template <typename T>
void add_product(ConstMatrixRef<T> a, Op op_a, ConstMatrixRef<T> b, Op op_b, Matrix<T>& c) {
  gemm(T(1), a, op_a, b, op_b, T(1), c);
}

// The backend of this library's products: "avx512" or "avx2" (the default build on a CPU with that level:
// tapegrad's own kernel compiled for it; TAPEGRAD_ISA lowers the level), "eigen", or the BLAS it was built with:
// "openblas", "blis" or "onednn".
const char* gemm_backend();

}  // namespace tapegrad
