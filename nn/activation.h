// Element-wise activations as modules, so that they can sit in a Sequential. They hold no parameters.
#pragma once

#include <string>

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

// x where x > 0, slope * x elsewhere (leaky_relu, ops/activation.h); the slope must be finite.
template <typename T>
class LeakyReLU : public Module<T> {
 public:
  explicit LeakyReLU(double slope = 0.01);
  Tensor<T> forward(const Tensor<T>& input) override;
  std::string type_name() const override;  // "LeakyReLU(0.01)"

  double slope() const { return slope_; }

 private:
  double slope_;
};

extern template class ReLU<float>;
extern template class ReLU<double>;
extern template class Sigmoid<float>;
extern template class Sigmoid<double>;
extern template class Tanh<float>;
extern template class Tanh<double>;
extern template class LeakyReLU<float>;
extern template class LeakyReLU<double>;

}  // namespace tapegrad::nn
