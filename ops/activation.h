// Activation functions, element-wise.
#pragma once

#include <source_location>
#include <type_traits>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

template <typename T>
Tensor<T> relu(const Tensor<T>& x);
template <typename T>
Tensor<T> sigmoid(const Tensor<T>& x);
template <typename T>
Tensor<T> tanh(const Tensor<T>& x);
// x where x > 0, slope * x elsewhere; slope must be finite. Gradient g where x > 0, slope * g elsewhere (slope at 0).
template <typename T>
Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> slope = T(0.01),
                     std::source_location where = std::source_location::current());
// log(1 + e^x), computed as max(x, 0) + log(1 + e^-|x|): finite and exact for any finite x (x = 1e4 gives 1e4,
// x = -1e4 gives 0). Gradient sigmoid(x) g, also stable for any x.
template <typename T>
Tensor<T> softplus(const Tensor<T>& x);

}  // namespace tapegrad
