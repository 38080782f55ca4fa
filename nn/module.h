// Module<T>: a registry of named parameters and named submodules, with a forward pass.
//
// Names are the keys of a checkpoint, so they must be stable: named_parameters() lists a module's own parameters
// in registration order, then each submodule's (recursively, in registration order), joined by dots:
// "weight", "fc1.bias", "0.weight". A name is non-empty, unique within its module and has no '.'.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad::nn {

template <typename T>
struct NamedParameter {
  std::string name;
  Tensor<T> tensor;
};

template <typename T>
class Module;

template <typename T>
struct NamedModule {
  std::string name;
  std::shared_ptr<Module<T>> module;
};

template <typename T>
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // A module owns handles to its parameters; a copy would share them silently, so there are none.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor<T> forward(const Tensor<T>& input) = 0;
  Tensor<T> operator()(const Tensor<T>& input) { return forward(input); }

  // Registers a leaf as a parameter (it is made to require a gradient) and returns its handle.
  Tensor<T> register_parameter(std::string name, Tensor<T> tensor);
  // Registers a submodule, whose parameters then appear under "name.".
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    register_module_impl(std::move(name), module);
    return module;
  }

  // Recursive, in the stable order described above.
  std::vector<NamedParameter<T>> named_parameters() const;
  std::vector<Tensor<T>> parameters() const;
  // The parameter with this dotted name; an Error listing the known names when there is none.
  Tensor<T> parameter(const std::string& dotted_name) const;
  // Direct children only, in registration order.
  const std::vector<NamedModule<T>>& children() const { return children_; }
  // Own parameters only, in registration order.
  const std::vector<NamedParameter<T>>& own_parameters() const { return parameters_; }

  // Zeroes every parameter's gradient in place, keeping its storage.
  void zero_grad();

  // Training or evaluation mode, set on this module and every descendant.
  void train(bool training = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

 private:
  void register_module_impl(std::string name, std::shared_ptr<Module<T>> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, std::vector<NamedParameter<T>>& out) const;

  std::vector<NamedParameter<T>> parameters_;
  std::vector<NamedModule<T>> children_;
  bool training_ = true;
};

extern template class Module<float>;
extern template class Module<double>;

}  // namespace tapegrad::nn
