// Module<T>: a registry of named parameters, buffers and submodules, with a forward pass.
//
// Names are the keys of a checkpoint and of a state_dict, so they must be stable: named_parameters() lists a
// module's own parameters in registration order, then each submodule's (recursively, in registration order),
// joined by dots: "weight", "fc1.bias", "0.weight"; named_buffers() does the same for buffers (state that is saved
// but not trained, such as BatchNorm's running statistics). A name is non-empty, unique within its module (among
// its parameters, buffers and submodules together) and has no '.'.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/state_dict.h>

namespace tapegrad {
class Generator;
}  // namespace tapegrad

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

namespace detail {
// The output shape of each module (by address) that a summary's forward pass recorded.
using OutputShapes = std::unordered_map<const void*, std::pair<Index, Index>>;
}  // namespace detail

// What load_state_dict(dict, strict = false) left alone: the module's keys the dict lacks, and the dict's keys the
// module lacks (both empty after a strict load, which fails instead).
struct LoadStateResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
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
  // forward(), plus the output's shape for summary(input_rows, input_cols) while one is being made. Containers
  // call their submodules this way (Sequential does), so that the summary shows every layer's output shape.
  Tensor<T> operator()(const Tensor<T>& input);

  // Registers a leaf as a parameter (it is made to require a gradient) and returns its handle.
  Tensor<T> register_parameter(std::string name, Tensor<T> tensor);
  // Registers a submodule, whose parameters then appear under "name.".
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    register_module_impl(std::move(name), module);
    return module;
  }

  // Registers state that is saved and loaded with the parameters but not trained (running statistics): a leaf
  // that does not require a gradient. Returns its handle; update it in place through mutable_value().
  Tensor<T> register_buffer(std::string name, Tensor<T> tensor);

  // Recursive, in the stable order described above.
  std::vector<NamedParameter<T>> named_parameters() const;
  std::vector<NamedParameter<T>> named_buffers() const;
  std::vector<Tensor<T>> buffers() const;
  // Every descendant (not this module itself, which has no name of its own), depth first in registration order,
  // by dotted name: "0", "1", "block.0", ...
  std::vector<NamedModule<T>> named_modules() const;
  // Calls fn on every descendant, children before their parents (as PyTorch's apply), then on this module.
  void apply(const std::function<void(Module<T>&)>& fn);

  // A copy of every parameter and buffer by dotted name; per module its parameters, then its buffers, then its
  // submodules' (the order of PyTorch's state_dict, so that files written from both list keys alike).
  StateDict<T> state_dict() const;
  // Copies the dict's values into the parameters and buffers of the same names. A key of the wrong shape is always
  // an Error; with `strict`, so is a key the dict lacks (missing) or one the module lacks (unexpected). The Error
  // names every such key at once, and on an Error nothing has been changed. Without `strict` the keys present on
  // both sides are loaded and the others are returned.
  LoadStateResult load_state_dict(const StateDict<T>& dict, bool strict = true);

  // The layer's type as the summary prints it: the class name without namespace and template arguments
  // ("Linear"). Layers with settings worth seeing override it ("Dropout(p=0.5)").
  virtual std::string type_name() const;
  // Whether l2_penalty(module, lambda) (PenaltySelection::weights) counts this module's own "weight": true for
  // the layers whose weight is a map (Linear), false for normalisation layers, whose "weight" is a per-feature
  // scale (BatchNorm's gamma; PyTorch's name, kept for the exchange format) that the reports never regularise.
  virtual bool weight_is_regularised() const { return true; }
  // The generators this module itself (not its submodules) draws from in forward(): Dropout's. A training loop
  // that saves run checkpoints refuses to start unless each is among the generators it saves
  // (train::LoopOptions::generators), since a resumed run whose random draws start over is not the same run. A
  // layer of your own that draws in forward() overrides this.
  virtual std::vector<const Generator*> own_generators() const { return {}; }
  // A table of this module and its descendants: name, type, output shape and own parameter count per row, and a
  // total line (parameters and buffer values). Without an input shape the output shapes are "-"; with one, a
  // forward pass of zeros of that shape runs first (in evaluation mode and without recording; every module's
  // mode is restored afterwards), and each module called through operator() shows its output's shape.
  std::string summary() const;
  std::string summary(Index input_rows, Index input_cols);
  std::vector<Tensor<T>> parameters() const;
  // The parameter with this dotted name; an Error listing the known names when there is none.
  Tensor<T> parameter(const std::string& dotted_name) const;
  // Direct children only, in registration order.
  const std::vector<NamedModule<T>>& children() const { return children_; }
  // Own parameters (buffers) only, in registration order.
  const std::vector<NamedParameter<T>>& own_parameters() const { return parameters_; }
  const std::vector<NamedParameter<T>>& own_buffers() const { return buffers_; }

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
  void collect_buffers(const std::string& prefix, std::vector<NamedParameter<T>>& out) const;
  void collect_modules(const std::string& prefix, std::vector<NamedModule<T>>& out) const;
  void collect_state(const std::string& prefix, std::vector<NamedParameter<T>>& out) const;
  std::string summary_table(const detail::OutputShapes* shapes) const;

  std::vector<NamedParameter<T>> parameters_;
  std::vector<NamedParameter<T>> buffers_;
  std::vector<NamedModule<T>> children_;
  bool training_ = true;
};

extern template class Module<float>;
extern template class Module<double>;

}  // namespace tapegrad::nn
