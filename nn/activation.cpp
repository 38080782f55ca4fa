#include <tapegrad/nn/activation.h>

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

template class ReLU<float>;
template class ReLU<double>;
template class Sigmoid<float>;
template class Sigmoid<double>;
template class Tanh<float>;
template class Tanh<double>;

}  // namespace tapegrad::nn
