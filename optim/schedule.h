// Learning-rate schedules: a schedule is a pure function of the update step t = 0, 1, 2, ... (the rate used by
// the t-th call of Optimizer::step), and a Scheduler applies one to an optimizer while keeping its position, which
// a checkpoint saves (position / set_position).
#pragma once

#include <memory>
#include <type_traits>

#include <tapegrad/optim/optimizer.h>

namespace tapegrad::optim {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The rate for update step t >= 0 (a negative t is an Error).
  virtual double learning_rate_at(long t) const = 0;

  // Sets the optimizer's learning rate to the one for step t.
  template <typename T>
  void apply(Optimizer<T>& optimizer, long t) const {
    optimizer.set_learning_rate(learning_rate_at(t));
  }
};

// The same rate at every step.
class ConstantLR : public LearningRateSchedule {
 public:
  explicit ConstantLR(double learning_rate);  // finite, >= 0
  double learning_rate_at(long t) const override;

 private:
  double learning_rate_;
};

struct StepDecayOptions {
  double initial_learning_rate = 0.01;  // finite, >= 0
  double divide_by = 10.0;              // finite, > 0: the rate is divided by this ...
  long every_steps = 1;                 // >= 1: ... once every this many update steps
  void validate() const;
};

// eta_t = initial_learning_rate / divide_by^floor(t / every_steps): the rate drops at t = k, 2k, 3k, ...
class StepDecayLR : public LearningRateSchedule {
 public:
  explicit StepDecayLR(const StepDecayOptions& options);
  // The decay counted in epochs: every_steps = every_epochs * steps_per_epoch (both >= 1).
  static StepDecayLR from_epochs(double initial_learning_rate, double divide_by, long every_epochs,
                                 long steps_per_epoch);
  double learning_rate_at(long t) const override;
  const StepDecayOptions& options() const { return options_; }

 private:
  StepDecayOptions options_;
};

struct CyclicLROptions {
  double eta_min = 1e-5;            // finite, >= 0
  double eta_max = 1e-1;            // finite, >= eta_min
  long steps_per_half_cycle = 500;  // n_s >= 1: steps from eta_min up to eta_max (and as many back down)
  void validate() const;
};

// The triangular cyclical rate of the course, with n_s = steps_per_half_cycle and cycle l = 0, 1, 2, ...:
//   2l n_s <= t <= (2l+1) n_s:      eta_t = eta_min + (t - 2l n_s) / n_s * (eta_max - eta_min)
//   (2l+1) n_s <= t <= 2(l+1) n_s:  eta_t = eta_max - (t - (2l+1) n_s) / n_s * (eta_max - eta_min)
// so eta_0 = eta_min, eta_{n_s} = eta_max, eta_{2 n_s} = eta_min again.
class CyclicLR : public LearningRateSchedule {
 public:
  explicit CyclicLR(const CyclicLROptions& options);
  double learning_rate_at(long t) const override;
  const CyclicLROptions& options() const { return options_; }

 private:
  CyclicLROptions options_;
};

// Drives an optimizer's learning rate through a schedule. Holds a reference to the optimizer, which must outlive
// it. Use: optimizer.step(); scheduler.step(); - the rate for update t is in place before update t runs.
template <typename T>
class Scheduler {
 public:
  // Copies the schedule and sets the optimizer's rate for step 0 (or for the optimizer's step count, to resume).
  template <typename Schedule>
  requires std::is_base_of_v<LearningRateSchedule, Schedule> Scheduler(Optimizer<T>& optimizer, Schedule schedule,
                                                                       long position = 0)
      : optimizer_(optimizer), schedule_(std::make_shared<Schedule>(std::move(schedule))) {
    set_position(position);
  }

  // Moves to the next update step and sets its rate.
  void step() { set_position(position_ + 1); }
  // The update step whose rate is in place.
  long position() const { return position_; }
  // Jumps to update step t >= 0 (restoring a checkpoint) and sets its rate.
  void set_position(long t) {
    const double rate = schedule_->learning_rate_at(t);
    optimizer_.set_learning_rate(rate);
    position_ = t;
  }
  double learning_rate() const { return optimizer_.learning_rate(); }
  const LearningRateSchedule& schedule() const { return *schedule_; }

 private:
  Optimizer<T>& optimizer_;
  std::shared_ptr<const LearningRateSchedule> schedule_;
  long position_ = 0;
};

}  // namespace tapegrad::optim
