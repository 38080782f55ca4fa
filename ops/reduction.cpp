#include <tapegrad/ops/reduction.h>

#include <fmt/format.h>

namespace tapegrad {

template <typename T>
Tensor<T> sum(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum", Matrix<T>::Constant(1, 1, x.value().sum()), {x},
                            [](Node<T>& node, const Matrix<T>& g) {
                              const Matrix<T>& in = node.input(0);
                              node.accumulate(0, Matrix<T>::Constant(in.rows(), in.cols(), g(0, 0)));
                            });
}

template <typename T>
Tensor<T> sum_rows(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum_rows", x.value().rowwise().sum(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.replicate(1, node.input(0).cols()));
  });
}

template <typename T>
Tensor<T> sum_cols(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum_cols", x.value().colwise().sum(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.replicate(node.input(0).rows(), 1));
  });
}

template <typename T>
Tensor<T> mean(const Tensor<T>& x) {
  if (x.size() == 0) throw_error(fmt::format("mean: the tensor is empty {}", x.shape_string()));
  const T count = static_cast<T>(x.size());
  return Tensor<T>::from_op("mean", Matrix<T>::Constant(1, 1, x.value().sum() / count), {x},
                            [count](Node<T>& node, const Matrix<T>& g) {
                              const Matrix<T>& in = node.input(0);
                              node.accumulate(0, Matrix<T>::Constant(in.rows(), in.cols(), g(0, 0) / count));
                            });
}

template <typename T>
Tensor<T> sum_of_squares(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum_of_squares", Matrix<T>::Constant(1, 1, x.value().squaredNorm()), {x},
                            [](Node<T>& node, const Matrix<T>& g) {
                              node.accumulate(0, (T(2) * g(0, 0)) * node.input(0));
                            });
}

#define TAPEGRAD_INSTANTIATE_REDUCTION(T)       \
  template Tensor<T> sum(const Tensor<T>&);      \
  template Tensor<T> sum_rows(const Tensor<T>&); \
  template Tensor<T> sum_cols(const Tensor<T>&); \
  template Tensor<T> mean(const Tensor<T>&);     \
  template Tensor<T> sum_of_squares(const Tensor<T>&);

TAPEGRAD_INSTANTIATE_REDUCTION(float)
TAPEGRAD_INSTANTIATE_REDUCTION(double)

}  // namespace tapegrad
