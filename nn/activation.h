// Element-wise activations as modules, so that they can sit in a Sequential. They hold no parameters.
#pragma once

#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

template <typename T>
class ReLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override;
};

template <typename T>
class Sigmoid : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override;
};

template <typename T>
class Tanh : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& input) override;
};

extern template class ReLU<float>;
extern template class ReLU<double>;
extern template class Sigmoid<float>;
extern template class Sigmoid<double>;
extern template class Tanh<float>;
extern template class Tanh<double>;

}  // namespace tapegrad::nn
