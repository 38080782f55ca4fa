#include <tapegrad/optim/sgd.h>

#include <fmt/format.h>

#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/optim/option_checks.h>

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
  const bool nesterov = options_.nesterov;
  for (std::size_t i = 0; i < this->parameters_.size(); ++i) {
    const Tensor<T>& parameter = this->parameters_[i];
    if (!parameter.has_grad()) continue;
    this->check_grad_shape(i);
    Matrix<T>& value = parameter.mutable_value();
    const Matrix<T>& grad = parameter.grad();
    Matrix<T>& buffer = momentum_buffers_[i];
    const bool first_momentum_step = options_.momentum != 0 && buffer.size() == 0;
    // Zeroed although the first step overwrites it: the kernel's padded tail reads a whole packet of it.
    if (first_momentum_step) buffer.setZero(value.rows(), value.cols());
    const kernels::SgdCoefficients<T> coefficients{.learning_rate = learning_rate,
                                                   .weight_decay = weight_decay,
                                                   .momentum = momentum,
                                                   .gradient_share = gradient_share,
                                                   .nesterov = nesterov,
                                                   .first_momentum_step = first_momentum_step};
    // Columns [first, first + count) of the parameter, in one pass at the CPU's level: w -= lr g' (plain), or
    // b = momentum b + (1 - dampening) g' (b = g' at the first step) then w -= lr b, or w -= lr (g' + momentum b)
    // (Nesterov); g' = g + weight_decay w.
    const auto update = [&](Index first, Index count) {
      const Index offset = first * value.rows();
      kernels::elementwise<T>().sgd_update(count * value.rows(), value.data() + offset, grad.data() + offset,
                                           momentum == T(0) ? nullptr : buffer.data() + offset, coefficients);
    };
    // A large parameter is updated by the product threads, each the columns whose gradient it computed (gemm's
    // column split): its share of the gradient is in its own cache (one thread took 3x longer on two threads).
    parallel_columns(value.cols(), value.size() >= elementwise_split_values,
                     [&](ColumnRange range) { update(range.first, range.last - range.first); });
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
