#include <tapegrad/nn/linear.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/linalg.h>

namespace tapegrad::nn {

template <typename T>
Linear<T>::Linear(Index in_features, Index out_features, const LinearOptions& options, Generator& generator) {
  if (in_features <= 0 || out_features <= 0) {
    throw_error(fmt::format("Linear: the sizes must be positive, got {} inputs and {} outputs", in_features,
                            out_features));
  }
  if (options.bias.depends_on_fans()) {
    throw_error(fmt::format(
        "Linear: the bias initialisation {} scales by the fans of a weight matrix; use zeros, constant, normal or "
        "uniform for the bias",
        options.bias.description()));
  }
  Tensor<T> weight = Tensor<T>::zeros(out_features, in_features);
  Tensor<T> bias = Tensor<T>::zeros(out_features, 1);
  options.weight.apply(weight, generator);
  options.bias.apply(bias, generator);
  weight_ = this->register_parameter("weight", std::move(weight));
  bias_ = this->register_parameter("bias", std::move(bias));
}

template <typename T>
Tensor<T> Linear<T>::forward(const Tensor<T>& input) {
  if (input.rows() != in_features()) {
    throw_error(fmt::format("Linear({} -> {}): the input {} has {} rows; it must have {} (one column per example)",
                            in_features(), out_features(), input.shape_string(), input.rows(), in_features()));
  }
  return linear(weight_, input, bias_);
}

template class Linear<float>;
template class Linear<double>;

}  // namespace tapegrad::nn
