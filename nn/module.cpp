#include <tapegrad/nn/module.h>

#include <cxxabi.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <typeinfo>
#include <unordered_set>

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
  for (const auto& buffer : buffers_) {
    if (buffer.name == name) {
      throw_error(fmt::format("{}: the name '{}' is already taken by a buffer of this module", what, name));
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

namespace {

// The output shapes of the summary being made on this thread, if any (see Module::summary).
thread_local detail::OutputShapes* output_shape_recorder = nullptr;

std::string quoted_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out;
}

std::string with_thousands(long long value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

template <typename T>
Tensor<T> Module<T>::operator()(const Tensor<T>& input) {
  Tensor<T> output = forward(input);
  if (auto* recorder = output_shape_recorder) (*recorder)[this] = {output.rows(), output.cols()};
  return output;
}

template <typename T>
Tensor<T> Module<T>::register_buffer(std::string name, Tensor<T> tensor) {
  check_new_name(name, "register_buffer");
  if (!tensor.is_leaf() || tensor.requires_grad()) {
    throw_error(fmt::format("register_buffer: '{}' {}; a buffer is a leaf that is not trained (use detach() for "
                            "one, or register_parameter for a trained tensor)",
                            name, tensor.is_leaf() ? "requires a gradient" : "is the result of an op"));
  }
  buffers_.push_back({std::move(name), tensor});
  return tensor;
}

template <typename T>
void Module<T>::collect_buffers(const std::string& prefix, std::vector<NamedParameter<T>>& out) const {
  for (const auto& buffer : buffers_) out.push_back({prefix + buffer.name, buffer.tensor});
  for (const auto& child : children_) child.module->collect_buffers(prefix + child.name + ".", out);
}

template <typename T>
std::vector<NamedParameter<T>> Module<T>::named_buffers() const {
  std::vector<NamedParameter<T>> out;
  collect_buffers("", out);
  return out;
}

template <typename T>
std::vector<Tensor<T>> Module<T>::buffers() const {
  std::vector<Tensor<T>> out;
  for (auto& named : named_buffers()) out.push_back(std::move(named.tensor));
  return out;
}

template <typename T>
void Module<T>::collect_modules(const std::string& prefix, std::vector<NamedModule<T>>& out) const {
  for (const auto& child : children_) {
    out.push_back({prefix + child.name, child.module});
    child.module->collect_modules(prefix + child.name + ".", out);
  }
}

template <typename T>
std::vector<NamedModule<T>> Module<T>::named_modules() const {
  std::vector<NamedModule<T>> out;
  collect_modules("", out);
  return out;
}

template <typename T>
void Module<T>::apply(const std::function<void(Module<T>&)>& fn) {
  for (const auto& child : children_) child.module->apply(fn);
  fn(*this);
}

template <typename T>
void Module<T>::collect_state(const std::string& prefix, std::vector<NamedParameter<T>>& out) const {
  for (const auto& parameter : parameters_) out.push_back({prefix + parameter.name, parameter.tensor});
  for (const auto& buffer : buffers_) out.push_back({prefix + buffer.name, buffer.tensor});
  for (const auto& child : children_) child.module->collect_state(prefix + child.name + ".", out);
}

template <typename T>
StateDict<T> Module<T>::state_dict() const {
  std::vector<NamedParameter<T>> tensors;
  collect_state("", tensors);
  StateDict<T> out;
  for (const auto& named : tensors) out.insert(named.name, named.tensor.value());
  return out;
}

template <typename T>
LoadStateResult Module<T>::load_state_dict(const StateDict<T>& dict, bool strict) {
  std::vector<NamedParameter<T>> targets_in_order;  // parameters and buffers, in state_dict() order
  collect_state("", targets_in_order);

  LoadStateResult result;
  std::vector<std::string> mismatched;
  std::unordered_set<std::string> module_keys;
  for (const auto& target : targets_in_order) {
    module_keys.insert(target.name);
    const Matrix<T>* value = dict.find(target.name);
    if (value == nullptr) {
      result.missing_keys.push_back(target.name);
    } else if (value->rows() != target.tensor.rows() || value->cols() != target.tensor.cols()) {
      mismatched.push_back(fmt::format("'{}' is {} in the dict but {} in the module", target.name,
                                       shape_string(value->rows(), value->cols()), target.tensor.shape_string()));
    }
  }
  for (const auto& entry : dict) {
    if (!module_keys.contains(entry.name)) result.unexpected_keys.push_back(entry.name);
  }

  std::vector<std::string> problems;
  if (!mismatched.empty()) {
    std::string list;
    for (const auto& line : mismatched) list += (list.empty() ? "" : "; ") + line;
    problems.push_back(fmt::format("{} of the wrong shape: {}", mismatched.size() == 1 ? "a key" : "keys", list));
  }
  if (strict && !result.missing_keys.empty()) {
    problems.push_back(fmt::format("missing (in the module, not in the dict): {}", quoted_names(result.missing_keys)));
  }
  if (strict && !result.unexpected_keys.empty()) {
    problems.push_back(
        fmt::format("unexpected (in the dict, not in the module): {}", quoted_names(result.unexpected_keys)));
  }
  if (!problems.empty()) {
    std::string message = "load_state_dict: the dict does not fit the module, which is left unchanged: ";
    for (std::size_t i = 0; i < problems.size(); ++i) message += (i == 0 ? "" : "; and ") + problems[i];
    if (!strict || mismatched.empty()) {
      message += strict ? ". Pass strict = false to load only the keys both have" : "";
    }
    throw_error(message);
  }
  // Everything fits: only now is anything changed.
  for (const auto& target : targets_in_order) {
    if (const Matrix<T>* value = dict.find(target.name)) target.tensor.mutable_value() = *value;
  }
  return result;
}

template <typename T>
std::string Module<T>::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  // "tapegrad::nn::Linear<float>" -> "Linear": the template argument is the same for every row of a summary.
  if (const auto angle = name.find('<'); angle != std::string::npos) name.erase(angle);
  if (const auto colons = name.rfind("::"); colons != std::string::npos) name.erase(0, colons + 2);
  return name;
}

template <typename T>
std::string Module<T>::summary_table(const detail::OutputShapes* shapes) const {
  struct Row {
    std::string name, type, output;
    long long parameters;
  };
  auto output_of = [&](const Module<T>* module) -> std::string {
    if (shapes == nullptr) return "-";
    const auto found = shapes->find(module);
    return found == shapes->end() ? "?" : shape_string(found->second.first, found->second.second);
  };
  auto own_count = [](const Module<T>& module) {
    long long count = 0;
    for (const auto& parameter : module.own_parameters()) count += parameter.tensor.size();
    return count;
  };
  std::vector<Row> rows{{"(this)", type_name(), output_of(this), own_count(*this)}};
  for (const auto& named : named_modules()) {
    rows.push_back({named.name, named.module->type_name(), output_of(named.module.get()), own_count(*named.module)});
  }
  long long total_parameters = 0;
  for (const auto& row : rows) total_parameters += row.parameters;
  long long buffer_values = 0;
  const auto all_buffers = named_buffers();
  for (const auto& buffer : all_buffers) buffer_values += buffer.tensor.size();

  std::size_t name_width = 6, type_width = 4, output_width = 6, count_width = 10;
  for (const auto& row : rows) {
    name_width = std::max(name_width, row.name.size());
    type_width = std::max(type_width, row.type.size());
    output_width = std::max(output_width, row.output.size());
    count_width = std::max(count_width, with_thousands(row.parameters).size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}\n", "module", name_width, "type", type_width, "output",
                                output_width, "parameters", count_width);
  for (const auto& row : rows) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}\n", row.name, name_width, row.type, type_width, row.output,
                       output_width, with_thousands(row.parameters), count_width);
  }
  out += fmt::format("total: {} parameters in {} tensors; {} buffer values in {} buffers\n",
                     with_thousands(total_parameters), named_parameters().size(), with_thousands(buffer_values),
                     all_buffers.size());
  return out;
}

template <typename T>
std::string Module<T>::summary() const {
  return summary_table(nullptr);
}

template <typename T>
std::string Module<T>::summary(Index input_rows, Index input_cols) {
  if (input_rows <= 0 || input_cols <= 0) {
    throw_error(fmt::format("summary: the example input shape {} must have at least one row and one column",
                            shape_string(input_rows, input_cols)));
  }
  // Evaluation mode, so that the pass changes no running statistics and draws no dropout masks.
  std::vector<std::pair<Module<T>*, bool>> modes{{this, training_}};
  for (const auto& named : named_modules()) modes.emplace_back(named.module.get(), named.module->training_);
  detail::OutputShapes shapes;
  auto restore = [&] {
    output_shape_recorder = nullptr;
    for (const auto& [module, training] : modes) module->training_ = training;
  };
  eval();
  output_shape_recorder = &shapes;
  try {
    NoGradGuard no_grad;
    (*this)(Tensor<T>::zeros(input_rows, input_cols));
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return summary_table(&shapes);
}

template class Module<float>;
template class Module<double>;

}  // namespace tapegrad::nn
