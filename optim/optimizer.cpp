#include <tapegrad/optim/optimizer.h>

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace tapegrad::optim {

void check_learning_rate(const char* who, double learning_rate) {
  if (!std::isfinite(learning_rate) || learning_rate < 0) {
    throw_error(fmt::format("{}: the learning rate must be a finite number >= 0, got {}", who, learning_rate));
  }
}

template <typename T>
Optimizer<T>::Optimizer(std::vector<Tensor<T>> parameters, double learning_rate)
    : parameters_(std::move(parameters)), learning_rate_(learning_rate) {
  check_learning_rate("Optimizer", learning_rate);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].is_leaf()) {
      throw_error(fmt::format("Optimizer: parameter {} is the result of '{}', not a leaf; optimise leaves only", i,
                              parameters_[i].op_name()));
    }
    // A tensor listed twice would be updated twice per step and own two sets of buffers.
    for (std::size_t j = 0; j < i; ++j) {
      if (parameters_[i].same_as(parameters_[j])) {
        throw_error(
            fmt::format("Optimizer: parameter {} is the same tensor as parameter {}; list each once", i, j));
      }
    }
  }
}

template <typename T>
void Optimizer<T>::zero_grad() {
  for (auto& p : parameters_) p.zero_grad();
}

template <typename T>
void Optimizer<T>::set_learning_rate(double learning_rate) {
  check_learning_rate("set_learning_rate", learning_rate);
  learning_rate_ = learning_rate;
}

template <typename T>
std::vector<StateEntry<T>> Optimizer<T>::state() const {
  return {};
}

template <typename T>
void Optimizer<T>::load_state(const std::vector<StateEntry<T>>& state, long step_count) {
  group_state(state, {});
  check_step_count(step_count);
  step_count_ = step_count;
}

template <typename T>
std::string Optimizer<T>::state_name(std::size_t parameter_index, std::string_view buffer) {
  return fmt::format("param{}.{}", parameter_index, buffer);
}

template <typename T>
std::vector<std::map<std::string, const Matrix<T>*, std::less<>>> Optimizer<T>::group_state(
    const std::vector<StateEntry<T>>& state, std::initializer_list<std::string_view> known_buffers) const {
  auto known_list = [&] {
    std::string list;
    for (std::string_view buffer : known_buffers)
      list += fmt::format("{}'param<i>.{}'", list.empty() ? "" : ", ", buffer);
    return list.empty() ? std::string("no entries") : list;
  };
  std::vector<std::map<std::string, const Matrix<T>*, std::less<>>> grouped(parameters_.size());
  for (const StateEntry<T>& entry : state) {
    const std::string_view name = entry.name;
    const std::size_t dot = name.find('.');
    std::size_t index = 0;
    bool well_formed = name.starts_with("param") && dot != std::string_view::npos && dot > 5;
    if (well_formed) {
      const char* first = name.data() + 5;
      const char* last = name.data() + dot;
      const auto [end, error] = std::from_chars(first, last, index);
      well_formed = error == std::errc() && end == last;
    }
    const std::string_view buffer = well_formed ? name.substr(dot + 1) : std::string_view();
    bool known = false;
    for (std::string_view candidate : known_buffers) known = known || candidate == buffer;
    if (!well_formed || !known) {
      throw_error(
          fmt::format("load_state: unexpected entry '{}'; this optimizer keeps {}", entry.name, known_list()));
    }
    if (index >= parameters_.size()) {
      throw_error(fmt::format("load_state: entry '{}' is for parameter {}, but the optimizer has {} parameters",
                              entry.name, index, parameters_.size()));
    }
    if (!grouped[index].emplace(std::string(buffer), &entry.value).second) {
      throw_error(fmt::format("load_state: entry '{}' appears more than once", entry.name));
    }
  }
  return grouped;
}

template <typename T>
void Optimizer<T>::check_state_shape(std::size_t parameter_index, std::string_view buffer,
                                     const Matrix<T>& value) const {
  const Tensor<T>& parameter = parameters_[parameter_index];
  if (value.rows() != parameter.rows() || value.cols() != parameter.cols()) {
    throw_error(fmt::format("load_state: entry '{}' has shape {}, but the parameter has shape {}",
                            state_name(parameter_index, buffer),
                            tapegrad::shape_string(value.rows(), value.cols()), parameter.shape_string()));
  }
}

template <typename T>
void Optimizer<T>::check_grad_shape(std::size_t parameter_index) const {
  const Tensor<T>& parameter = parameters_[parameter_index];
  const Matrix<T>& grad = parameter.grad();
  if (grad.rows() != parameter.rows() || grad.cols() != parameter.cols()) {
    throw_error(fmt::format("step: the gradient of parameter {} has shape {}, but the parameter has shape {}",
                            parameter_index, tapegrad::shape_string(grad.rows(), grad.cols()),
                            parameter.shape_string()));
  }
}

template <typename T>
void Optimizer<T>::check_step_count(long step_count) {
  if (step_count < 0) throw_error(fmt::format("load_state: the step count must be >= 0, got {}", step_count));
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace tapegrad::optim
