// Sequential<T>: modules applied one after another; the i-th module is registered under the name "i", so its
// parameters are "0.weight", "0.bias", "2.weight", ..., unless it is given a name of its own (push_back("fc1", m):
// "fc1.weight"), as PyTorch's Sequential of an OrderedDict.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

template <typename T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module<T>>> modules);

  // Appends a module under the next index and returns it.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    append(module);
    return module;
  }
  // Appends a module under `name` (not empty, without '.', not taken) and returns it.
  template <typename M>
  std::shared_ptr<M> push_back(std::string name, std::shared_ptr<M> module) {
    this->register_module(std::move(name), module);
    return module;
  }
  // Builds a module in place: seq.emplace_back<Linear<float>>(3072, 50, options, generator).
  template <typename M, typename... Args>
  std::shared_ptr<M> emplace_back(Args&&... args) {
    return push_back(std::make_shared<M>(std::forward<Args>(args)...));
  }

  // Each module's output is the next one's input; an empty Sequential returns its input.
  Tensor<T> forward(const Tensor<T>& input) override;

  std::size_t size() const { return this->children().size(); }
  // The module at `index`; an Error when the index is out of range.
  const std::shared_ptr<Module<T>>& at(std::size_t index) const;

 private:
  void append(std::shared_ptr<Module<T>> module);
};

extern template class Sequential<float>;
extern template class Sequential<double>;

}  // namespace tapegrad::nn
