#include "apps/benchmarks/gemm.h"

namespace tapegrad::apps {
namespace {

// Each case is written out so that Eigen sees the transposition at compile time and picks its kernel, exactly as
// the tape's and the reference's products do.
template <typename T>
void eigen_multiply(const ProductShape& shape, const Matrix<T>& a, const Matrix<T>& b, Matrix<T>& c) {
  if (shape.transpose_a && shape.transpose_b) {
    if (shape.accumulate)
      c.noalias() += a.transpose() * b.transpose();
    else
      c.noalias() = a.transpose() * b.transpose();
  } else if (shape.transpose_a) {
    if (shape.accumulate)
      c.noalias() += a.transpose() * b;
    else
      c.noalias() = a.transpose() * b;
  } else if (shape.transpose_b) {
    if (shape.accumulate)
      c.noalias() += a * b.transpose();
    else
      c.noalias() = a * b.transpose();
  } else {
    if (shape.accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
  }
}

template <typename T>
Matrix<T> uniform_matrix(Index rows, Index cols, Generator& generator) {
  Matrix<T> value(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) value(i, j) = static_cast<T>(generator.uniform(-1.0, 1.0));
  return value;
}

}  // namespace

template <typename T>
std::vector<GemmBackend<T>> gemm_backends() {
  return {GemmBackend<T>{"eigen", &eigen_multiply<T>}};
}

template <typename T>
GemmOperands<T> make_gemm_operands(const ProductShape& shape, Generator& generator) {
  GemmOperands<T> operands;
  operands.a = shape.transpose_a ? uniform_matrix<T>(shape.k, shape.m, generator)
                                 : uniform_matrix<T>(shape.m, shape.k, generator);
  operands.b = shape.transpose_b ? uniform_matrix<T>(shape.n, shape.k, generator)
                                 : uniform_matrix<T>(shape.k, shape.n, generator);
  operands.c = Matrix<T>::Zero(shape.m, shape.n);
  return operands;
}

template std::vector<GemmBackend<float>> gemm_backends();
template std::vector<GemmBackend<double>> gemm_backends();
template GemmOperands<float> make_gemm_operands(const ProductShape&, Generator&);
template GemmOperands<double> make_gemm_operands(const ProductShape&, Generator&);

}  // namespace tapegrad::apps
