#include <tapegrad/ops/activation.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/ops/numerics.h>
#include <tapegrad/ops/passes.h>

namespace tapegrad {

using detail::accumulate_applied;
using detail::accumulate_written;
using detail::apply;
using detail::elementwise;
using detail::written;

template <typename T>
Tensor<T> relu(const Tensor<T>& x) {
  // max(x, 0); backward: g where the output is positive, else 0 (the subgradient at 0 is taken as 0, as in the
  // reports' 1[H > 0]).
  Matrix<T> out = apply(x.value(), elementwise<T>().relu_forward);
  return Tensor<T>::from_op("relu", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    accumulate_applied(node, 0, node.output_value(), g, elementwise<T>().relu_backward);
  });
}

template <typename T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  // p = 1 / (1 + e^-x) without overflow; backward: g p (1 - p).
  Matrix<T> out = apply(x.value(), elementwise<T>().sigmoid_forward);
  return Tensor<T>::from_op("sigmoid", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    accumulate_applied(node, 0, node.output_value(), g, elementwise<T>().sigmoid_backward);
  });
}

template <typename T>
Tensor<T> tanh(const Tensor<T>& x) {
  // t = tanh(x); backward: g (1 - t^2).
  Matrix<T> out = apply(x.value(), elementwise<T>().tanh_forward);
  return Tensor<T>::from_op("tanh", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    accumulate_applied(node, 0, node.output_value(), g, elementwise<T>().tanh_backward);
  });
}

template <typename T>
Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> slope, std::source_location where) {
  if (!std::isfinite(slope)) throw_error(fmt::format("leaky_relu: the slope must be finite, got {}", slope), where);
  // x > 0 ? x : slope x; backward: x > 0 ? g : slope g.
  const Matrix<T>& in = x.value();
  Matrix<T> out = written<T>(in.rows(), in.cols(),
                             [&](T* o) { elementwise<T>().leaky_relu_forward(in.size(), in.data(), slope, o); });
  return Tensor<T>::from_op("leaky_relu", std::move(out), {x}, [slope](Node<T>& node, const Matrix<T>& g) {
    accumulate_written(node, 0, g.rows(), g.cols(), [&](T* dx) {
      elementwise<T>().leaky_relu_backward(g.size(), node.input(0).data(), g.data(), slope, dx);
    });
  });
}

template <typename T>
Tensor<T> softplus(const Tensor<T>& x) {
  Matrix<T> out(x.rows(), x.cols());
  detail::elementwise<T>().softplus_forward(x.size(), x.value().data(), out.data());
  return Tensor<T>::from_op("softplus", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    // d/dx log(1 + e^x) = sigmoid(x), from the input: 1 - e^-out would lose every digit for large negative x.
    const Matrix<T>& in = node.input(0);
    Matrix<T> slope(in.rows(), in.cols());
    elementwise<T>().sigmoid_forward(in.size(), in.data(), slope.data());
    node.accumulate(0, g.cwiseProduct(slope));
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
