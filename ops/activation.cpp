#include <tapegrad/ops/activation.h>

#include <tapegrad/ops/numerics.h>

namespace tapegrad {

template <typename T>
Tensor<T> relu(const Tensor<T>& x) {
  Matrix<T> out = x.value().cwiseMax(T(0));
  return Tensor<T>::from_op("relu", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    // The subgradient at 0 is taken as 0, as in the reports' 1[H > 0].
    node.accumulate(0, (node.output_value().array() > T(0)).select(g, T(0)));
  });
}

template <typename T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  Matrix<T> out = x.value().unaryExpr([](T s) { return stable_sigmoid(s); });
  return Tensor<T>::from_op("sigmoid", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    const auto p = node.output_value().array();
    node.accumulate(0, (g.array() * p * (T(1) - p)).matrix());
  });
}

template <typename T>
Tensor<T> tanh(const Tensor<T>& x) {
  Matrix<T> out = x.value().array().tanh().matrix();
  return Tensor<T>::from_op("tanh", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    const auto t = node.output_value().array();
    node.accumulate(0, (g.array() * (T(1) - t.square())).matrix());
  });
}

template Tensor<float> relu(const Tensor<float>&);
template Tensor<double> relu(const Tensor<double>&);
template Tensor<float> sigmoid(const Tensor<float>&);
template Tensor<double> sigmoid(const Tensor<double>&);
template Tensor<float> tanh(const Tensor<float>&);
template Tensor<double> tanh(const Tensor<double>&);

}  // namespace tapegrad
