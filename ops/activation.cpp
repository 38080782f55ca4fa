#include <tapegrad/ops/activation.h>

#include <fmt/format.h>

#include <cmath>

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

template <typename T>
Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> slope, std::source_location where) {
  if (!std::isfinite(slope)) throw_error(fmt::format("leaky_relu: the slope must be finite, got {}", slope), where);
  Matrix<T> out = (x.value().array() > T(0)).select(x.value(), slope * x.value());
  return Tensor<T>::from_op("leaky_relu", std::move(out), {x}, [slope](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, (node.input(0).array() > T(0)).select(g, slope * g));
  });
}

template <typename T>
Tensor<T> softplus(const Tensor<T>& x) {
  Matrix<T> out = x.value().unaryExpr([](T s) { return softplus(s); });
  return Tensor<T>::from_op("softplus", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    // d/dx log(1 + e^x) = sigmoid(x), from the input: 1 - e^-out would lose every digit for large negative x.
    node.accumulate(0, g.cwiseProduct(node.input(0).unaryExpr([](T s) { return stable_sigmoid(s); })));
  });
}

template Tensor<float> relu(const Tensor<float>&);
template Tensor<double> relu(const Tensor<double>&);
template Tensor<float> sigmoid(const Tensor<float>&);
template Tensor<double> sigmoid(const Tensor<double>&);
template Tensor<float> tanh(const Tensor<float>&);
template Tensor<double> tanh(const Tensor<double>&);
template Tensor<float> leaky_relu(const Tensor<float>&, float, std::source_location);
template Tensor<double> leaky_relu(const Tensor<double>&, double, std::source_location);
template Tensor<float> softplus(const Tensor<float>&);
template Tensor<double> softplus(const Tensor<double>&);

}  // namespace tapegrad
