#include <tapegrad/optim/adam.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/optim/option_checks.h>

namespace tapegrad::optim {

void AdamOptions::validate() const {
  constexpr const char* owner = "AdamOptions";
  require_at_least(owner, "learning_rate", learning_rate, 0.0);
  require_in_half_open(owner, "beta1", beta1, 0.0, 1.0);
  require_in_half_open(owner, "beta2", beta2, 0.0, 1.0);
  require_positive(owner, "eps", eps);
  require_at_least(owner, "weight_decay", weight_decay, 0.0);
}

namespace {

// Validates before the base class sees the learning rate, so that the message names the option.
const AdamOptions& validated(const AdamOptions& options) {
  options.validate();
  return options;
}

AdamOptions decoupled(AdamOptions options) {
  options.decoupled = true;
  return options;
}

}  // namespace

template <typename T>
Adam<T>::Adam(std::vector<Tensor<T>> parameters, const AdamOptions& options)
    : Optimizer<T>(std::move(parameters), validated(options).learning_rate), options_(options) {
  moments_.resize(this->parameters_.size());
}

template <typename T>
void Adam<T>::step() {
  NoGradGuard no_grad;
  const double learning_rate = this->learning_rate_;
  const T beta1 = T(options_.beta1);
  const T beta2 = T(options_.beta2);
  const T one_minus_beta1 = T(1.0 - options_.beta1);
  const T one_minus_beta2 = T(1.0 - options_.beta2);
  const T eps = T(options_.eps);
  const T weight_decay = T(options_.weight_decay);
  const T weight_keep = T(1.0 - learning_rate * options_.weight_decay);
  const bool l2_in_gradient = !options_.decoupled && options_.weight_decay != 0;
  for (std::size_t i = 0; i < this->parameters_.size(); ++i) {
    const Tensor<T>& parameter = this->parameters_[i];
    if (!parameter.has_grad()) continue;
    this->check_grad_shape(i);
    Moments& moments = moments_[i];
    if (moments.steps == 0) {
      moments.exp_avg.setZero(parameter.rows(), parameter.cols());
      moments.exp_avg_sq.setZero(parameter.rows(), parameter.cols());
    }
    ++moments.steps;
    const double step = static_cast<double>(moments.steps);
    const kernels::AdamCoefficients<T> coefficients{
        .beta1 = beta1,
        .one_minus_beta1 = one_minus_beta1,
        .beta2 = beta2,
        .one_minus_beta2 = one_minus_beta2,
        .step_size = T(learning_rate / (1.0 - std::pow(options_.beta1, step))),
        .sqrt_bias_correction2 = T(std::sqrt(1.0 - std::pow(options_.beta2, step))),
        .eps = eps,
        .weight_decay = weight_decay,
        .weight_keep = weight_keep,
        .l2_in_gradient = l2_in_gradient,
        .decoupled_decay = options_.decoupled && options_.weight_decay != 0,
    };
    // m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2, w -= step_size m / (sqrt(v) / sqrt(bc2) + eps) in one pass
    // over the four buffers at the CPU's level; g' = g + weight_decay w for L2 in the gradient, and w is first
    // scaled by 1 - lr weight_decay for decoupled decay (AdamW).
    kernels::elementwise<T>().adam_update(parameter.size(), parameter.mutable_value().data(),
                                          parameter.grad().data(), moments.exp_avg.data(),
                                          moments.exp_avg_sq.data(), coefficients);
  }
  ++this->step_count_;
}

template <typename T>
std::vector<StateEntry<T>> Adam<T>::state() const {
  std::vector<StateEntry<T>> entries;
  for (std::size_t i = 0; i < moments_.size(); ++i) {
    const Moments& moments = moments_[i];
    if (moments.steps == 0) continue;
    entries.push_back({this->state_name(i, "exp_avg"), moments.exp_avg});
    entries.push_back({this->state_name(i, "exp_avg_sq"), moments.exp_avg_sq});
    entries.push_back({this->state_name(i, "step"), Matrix<T>::Constant(1, 1, T(moments.steps))});
  }
  return entries;
}

template <typename T>
void Adam<T>::load_state(const std::vector<StateEntry<T>>& state, long step_count) {
  const auto grouped = this->group_state(state, {"exp_avg", "exp_avg_sq", "step"});
  this->check_step_count(step_count);
  std::vector<Moments> loaded(moments_.size());
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    const auto& buffers = grouped[i];
    if (buffers.empty()) continue;
    for (const char* buffer : {"exp_avg", "exp_avg_sq", "step"}) {
      if (!buffers.contains(buffer)) {
        throw_error(fmt::format("load_state: entry '{}' is missing (the other state of parameter {} is there)",
                                this->state_name(i, buffer), i));
      }
    }
    this->check_state_shape(i, "exp_avg", *buffers.find("exp_avg")->second);
    this->check_state_shape(i, "exp_avg_sq", *buffers.find("exp_avg_sq")->second);
    const Matrix<T>& step = *buffers.find("step")->second;
    const double steps = step.size() == 1 ? static_cast<double>(step(0, 0)) : -1.0;
    if (!(steps >= 1 && steps <= static_cast<double>(step_count) && steps == std::floor(steps))) {
      throw_error(fmt::format(
          "load_state: entry '{}' must be a 1x1 whole number in [1, step count {}], got a {} holding {}",
          this->state_name(i, "step"), step_count, tapegrad::shape_string(step.rows(), step.cols()),
          step.size() == 1 ? fmt::format("{}", static_cast<double>(step(0, 0))) : std::string("several values")));
    }
    loaded[i].exp_avg = *buffers.find("exp_avg")->second;
    loaded[i].exp_avg_sq = *buffers.find("exp_avg_sq")->second;
    loaded[i].steps = static_cast<long>(steps);
  }
  moments_ = std::move(loaded);
  this->step_count_ = step_count;
}

template <typename T>
AdamW<T>::AdamW(std::vector<Tensor<T>> parameters, AdamOptions options)
    : Adam<T>(std::move(parameters), decoupled(options)) {}

template class Adam<float>;
template class Adam<double>;
template class AdamW<float>;
template class AdamW<double>;

}  // namespace tapegrad::optim
