#include <tapegrad/nn/module.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tapegrad::nn {

template <typename T>
void Module<T>::check_new_name(const std::string& name, const char* what) const {
  if (name.empty())
    throw_error(fmt::format("{}: the name is empty; every parameter and submodule needs one", what));
  if (name.find('.') != std::string::npos) {
    throw_error(fmt::format("{}: the name '{}' contains '.', which separates the levels of dotted names; use '_'",
                            what, name));
  }
  for (const auto& parameter : parameters_) {
    if (parameter.name == name) {
      throw_error(fmt::format("{}: the name '{}' is already taken by a parameter of this module", what, name));
    }
  }
  for (const auto& child : children_) {
    if (child.name == name) {
      throw_error(fmt::format("{}: the name '{}' is already taken by a submodule of this module", what, name));
    }
  }
}

template <typename T>
Tensor<T> Module<T>::register_parameter(std::string name, Tensor<T> tensor) {
  check_new_name(name, "register_parameter");
  if (!tensor.is_leaf()) {
    throw_error(fmt::format(
        "register_parameter: '{}' is the result of '{}'; a parameter must be a leaf (use detach() for one)", name,
        tensor.op_name()));
  }
  tensor.set_requires_grad(true);
  parameters_.push_back({std::move(name), tensor});
  return tensor;
}

template <typename T>
void Module<T>::register_module_impl(std::string name, std::shared_ptr<Module<T>> module) {
  check_new_name(name, "register_module");
  if (!module) throw_error(fmt::format("register_module: the submodule '{}' is null", name));
  // A module inside its own subtree would make named_parameters() endless.
  std::vector<const Module<T>*> pending{module.get()};
  while (!pending.empty()) {
    const Module<T>* current = pending.back();
    pending.pop_back();
    if (current == this) {
      throw_error(fmt::format("register_module: '{}' contains this module, which would make a cycle", name));
    }
    for (const auto& child : current->children_) pending.push_back(child.module.get());
  }
  children_.push_back({std::move(name), std::move(module)});
}

template <typename T>
void Module<T>::collect(const std::string& prefix, std::vector<NamedParameter<T>>& out) const {
  for (const auto& parameter : parameters_) out.push_back({prefix + parameter.name, parameter.tensor});
  for (const auto& child : children_) child.module->collect(prefix + child.name + ".", out);
}

template <typename T>
std::vector<NamedParameter<T>> Module<T>::named_parameters() const {
  std::vector<NamedParameter<T>> out;
  collect("", out);
  return out;
}

template <typename T>
std::vector<Tensor<T>> Module<T>::parameters() const {
  std::vector<Tensor<T>> out;
  for (auto& named : named_parameters()) out.push_back(std::move(named.tensor));
  return out;
}

template <typename T>
Tensor<T> Module<T>::parameter(const std::string& dotted_name) const {
  const auto all = named_parameters();
  std::string known;
  for (const auto& named : all) {
    if (named.name == dotted_name) return named.tensor;
    known += known.empty() ? named.name : ", " + named.name;
  }
  throw_error(fmt::format("parameter: no parameter named '{}'; the module has: {}", dotted_name,
                          known.empty() ? "no parameters" : known));
}

template <typename T>
void Module<T>::zero_grad() {
  for (const auto& parameter : parameters_) parameter.tensor.zero_grad();
  for (const auto& child : children_) child.module->zero_grad();
}

template <typename T>
void Module<T>::train(bool training) {
  training_ = training;
  for (const auto& child : children_) child.module->train(training);
}

template class Module<float>;
template class Module<double>;

}  // namespace tapegrad::nn
