#include <tapegrad/nn/sequential.h>

#include <fmt/format.h>

#include <string>

#include <tapegrad/core/error.h>

namespace tapegrad::nn {

template <typename T>
Sequential<T>::Sequential(std::initializer_list<std::shared_ptr<Module<T>>> modules) {
  for (const auto& module : modules) append(module);
}

template <typename T>
void Sequential<T>::append(std::shared_ptr<Module<T>> module) {
  this->register_module(std::to_string(size()), std::move(module));
}

template <typename T>
Tensor<T> Sequential<T>::forward(const Tensor<T>& input) {
  Tensor<T> current = input;
  // Through operator(), so that a summary records each layer's output shape.
  for (const auto& child : this->children()) current = (*child.module)(current);
  return current;
}

template <typename T>
const std::shared_ptr<Module<T>>& Sequential<T>::at(std::size_t index) const {
  if (index >= size()) {
    throw_error(fmt::format("Sequential::at: index {} is out of range for {} modules", index, size()));
  }
  return this->children()[index].module;
}

template class Sequential<float>;
template class Sequential<double>;

}  // namespace tapegrad::nn
