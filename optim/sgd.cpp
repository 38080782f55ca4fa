#include "optim/sgd.h"

#include <fmt/format.h>

#include "optim/option_checks.h"

namespace tapegrad::optim {

void SGDOptions::validate() const {
  constexpr const char* owner = "SGDOptions";
  require_at_least(owner, "learning_rate", learning_rate, 0.0);
  require_in_half_open(owner, "momentum", momentum, 0.0, 1.0);
  require_in_closed(owner, "dampening", dampening, 0.0, 1.0);
  require_at_least(owner, "weight_decay", weight_decay, 0.0);
  if (nesterov && (momentum <= 0 || dampening != 0)) {
    throw_error(fmt::format(
        "SGDOptions.nesterov needs momentum in (0, 1) and dampening 0, got momentum {} and dampening {}", momentum,
        dampening));
  }
}

namespace {

// Validates before the base class sees the learning rate, so that the message names the option.
const SGDOptions& validated(const SGDOptions& options) {
  options.validate();
  return options;
}

}  // namespace

template <typename T>
SGD<T>::SGD(std::vector<Tensor<T>> parameters, const SGDOptions& options)
    : Optimizer<T>(std::move(parameters), validated(options).learning_rate), options_(options) {
  momentum_buffers_.resize(this->parameters_.size());
}

template <typename T>
void SGD<T>::step() {
  NoGradGuard no_grad;
  const T learning_rate = T(this->learning_rate_);
  const T weight_decay = T(options_.weight_decay);
  const T momentum = T(options_.momentum);
  const T gradient_share = T(1.0 - options_.dampening);
  for (std::size_t i = 0; i < this->parameters_.size(); ++i) {
    const Tensor<T>& parameter = this->parameters_[i];
    if (!parameter.has_grad()) continue;
    this->check_grad_shape(i);
    auto w = parameter.mutable_value().array();
    const auto g = parameter.grad().array();
    // Each statement below is one pass over the parameter; the weight-decayed gradient is recomputed inside the
    // expressions rather than stored, so no temporary is allocated.
    if (options_.momentum == 0) {
      if (options_.weight_decay == 0) {
        w -= learning_rate * g;
      } else {
        w -= learning_rate * (g + weight_decay * w);
      }
      continue;
    }
    Matrix<T>& buffer = momentum_buffers_[i];
    if (buffer.size() == 0) {
      buffer = (g + weight_decay * w).matrix();
    } else {
      buffer.array() = momentum * buffer.array() + gradient_share * (g + weight_decay * w);
    }
    if (options_.nesterov) {
      w -= learning_rate * (g + weight_decay * w + momentum * buffer.array());
    } else {
      w -= learning_rate * buffer.array();
    }
  }
  ++this->step_count_;
}

template <typename T>
std::vector<StateEntry<T>> SGD<T>::state() const {
  std::vector<StateEntry<T>> entries;
  for (std::size_t i = 0; i < momentum_buffers_.size(); ++i) {
    if (momentum_buffers_[i].size() != 0)
      entries.push_back({this->state_name(i, "momentum"), momentum_buffers_[i]});
  }
  return entries;
}

template <typename T>
void SGD<T>::load_state(const std::vector<StateEntry<T>>& state, long step_count) {
  const auto grouped =
      options_.momentum == 0 ? this->group_state(state, {}) : this->group_state(state, {"momentum"});
  this->check_step_count(step_count);
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    if (const auto found = grouped[i].find("momentum"); found != grouped[i].end()) {
      this->check_state_shape(i, "momentum", *found->second);
    }
  }
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    const auto found = grouped[i].find("momentum");
    if (found != grouped[i].end()) {
      momentum_buffers_[i] = *found->second;
    } else {
      momentum_buffers_[i].resize(0, 0);
    }
  }
  this->step_count_ = step_count;
}

template class SGD<float>;
template class SGD<double>;

}  // namespace tapegrad::optim
