#include <tapegrad/nn/activation.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/activation.h>

namespace tapegrad::nn {

template <typename T>
Tensor<T> ReLU<T>::forward(const Tensor<T>& input) {
  return tapegrad::relu(input);
}

template <typename T>
Tensor<T> Sigmoid<T>::forward(const Tensor<T>& input) {
  return tapegrad::sigmoid(input);
}

template <typename T>
Tensor<T> Tanh<T>::forward(const Tensor<T>& input) {
  return tapegrad::tanh(input);
}

template <typename T>
LeakyReLU<T>::LeakyReLU(double slope) : slope_(slope) {
  if (!std::isfinite(slope)) throw_error(fmt::format("LeakyReLU: the slope must be finite, got {}", slope));
}

template <typename T>
Tensor<T> LeakyReLU<T>::forward(const Tensor<T>& input) {
  return tapegrad::leaky_relu(input, static_cast<T>(slope_));
}

template <typename T>
std::string LeakyReLU<T>::type_name() const {
  return fmt::format("LeakyReLU({})", slope_);
}

template class ReLU<float>;
template class ReLU<double>;
template class Sigmoid<float>;
template class Sigmoid<double>;
template class Tanh<float>;
template class Tanh<double>;
template class LeakyReLU<float>;
template class LeakyReLU<double>;

}  // namespace tapegrad::nn
