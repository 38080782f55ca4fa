#include <tapegrad/optim/schedule.h>

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include <tapegrad/optim/option_checks.h>

namespace tapegrad::optim {

namespace {

void check_step(const char* who, long t) {
  if (t < 0) throw_error(fmt::format("{}: the update step must be >= 0, got {}", who, t));
}

}  // namespace

ConstantLR::ConstantLR(double learning_rate) : learning_rate_(learning_rate) {
  require_at_least("ConstantLR", "learning_rate", learning_rate, 0.0);
}

double ConstantLR::learning_rate_at(long t) const {
  check_step("ConstantLR", t);
  return learning_rate_;
}

void StepDecayOptions::validate() const {
  constexpr const char* owner = "StepDecayOptions";
  require_at_least(owner, "initial_learning_rate", initial_learning_rate, 0.0);
  require_positive(owner, "divide_by", divide_by);
  require_positive_count(owner, "every_steps", every_steps);
}

StepDecayLR::StepDecayLR(const StepDecayOptions& options) : options_(options) { options_.validate(); }

StepDecayLR StepDecayLR::from_epochs(double initial_learning_rate, double divide_by, long every_epochs,
                                     long steps_per_epoch) {
  require_positive_count("StepDecayLR::from_epochs", "every_epochs", every_epochs);
  require_positive_count("StepDecayLR::from_epochs", "steps_per_epoch", steps_per_epoch);
  if (every_epochs > std::numeric_limits<long>::max() / steps_per_epoch) {
    throw_error(fmt::format("StepDecayLR::from_epochs: every_epochs {} * steps_per_epoch {} overflows a long",
                            every_epochs, steps_per_epoch));
  }
  return StepDecayLR({.initial_learning_rate = initial_learning_rate,
                      .divide_by = divide_by,
                      .every_steps = every_epochs * steps_per_epoch});
}

double StepDecayLR::learning_rate_at(long t) const {
  check_step("StepDecayLR", t);
  const long drops = t / options_.every_steps;
  return options_.initial_learning_rate / std::pow(options_.divide_by, static_cast<double>(drops));
}

void CyclicLROptions::validate() const {
  constexpr const char* owner = "CyclicLROptions";
  require_at_least(owner, "eta_min", eta_min, 0.0);
  if (!(eta_max >= eta_min && std::isfinite(eta_max))) {
    throw_error(
        fmt::format("CyclicLROptions.eta_max must be in [eta_min, inf) = [{}, inf), got {}", eta_min, eta_max));
  }
  require_positive_count(owner, "steps_per_half_cycle", steps_per_half_cycle);
  // A whole cycle, 2 n_s, must be countable.
  if (steps_per_half_cycle > std::numeric_limits<long>::max() / 2) {
    throw_error(fmt::format("CyclicLROptions.steps_per_half_cycle must be in [1, {}], got {}",
                            std::numeric_limits<long>::max() / 2, steps_per_half_cycle));
  }
}

CyclicLR::CyclicLR(const CyclicLROptions& options) : options_(options) { options_.validate(); }

double CyclicLR::learning_rate_at(long t) const {
  check_step("CyclicLR", t);
  const long n_s = options_.steps_per_half_cycle;
  const long cycle = t / (2 * n_s);  // l
  const long into_cycle = t - 2 * cycle * n_s;
  const double range = options_.eta_max - options_.eta_min;
  if (into_cycle <= n_s) {
    return options_.eta_min + static_cast<double>(into_cycle) / static_cast<double>(n_s) * range;
  }
  return options_.eta_max - static_cast<double>(into_cycle - n_s) / static_cast<double>(n_s) * range;
}

}  // namespace tapegrad::optim
