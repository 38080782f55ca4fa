// Optimizer: updates a list of parameters from their gradients, owning whatever state the rule needs.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad::optim {

// One named piece of optimizer state (a momentum buffer, an Adam moment), the unit of a checkpoint.
template <typename T>
struct StateEntry {
  std::string name;
  Matrix<T> value;
};

template <typename T>
class Optimizer {
 public:
  // The parameters must be distinct leaves; the learning rate a finite number >= 0.
  Optimizer(std::vector<Tensor<T>> parameters, double learning_rate);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its accumulated gradient (runs without recording). A parameter that has
  // not received a gradient yet is left as it is, and so is its state.
  virtual void step() = 0;
  // Zeroes every parameter's gradient in place.
  void zero_grad();

  double learning_rate() const { return learning_rate_; }
  // Checked: a negative or non-finite rate is an Error at once.
  void set_learning_rate(double learning_rate);
  // Number of step() calls so far (restored by load_state).
  long step_count() const { return step_count_; }

  const std::vector<Tensor<T>>& parameters() const { return parameters_; }

  // Everything needed to continue exactly where this optimizer is: its buffers, named by parameter position
  // (state_name). Together with step_count() this is the optimizer's part of a checkpoint.
  virtual std::vector<StateEntry<T>> state() const;
  // Restores state() output. Nothing changes unless all of it is valid: an unknown or duplicated name, a missing
  // entry or a shape mismatch is an Error naming the entry. A parameter without entries starts afresh.
  virtual void load_state(const std::vector<StateEntry<T>>& state, long step_count);

  // "param3.momentum": the name of one buffer of the parameter at position parameter_index.
  static std::string state_name(std::size_t parameter_index, std::string_view buffer);

 protected:
  // Entries of a state() list sorted per parameter (result[i] maps buffer name -> value), after checking that
  // every name is "param<i>.<buffer>" with i in range, buffer among known_buffers, and no name twice.
  std::vector<std::map<std::string, const Matrix<T>*, std::less<>>> group_state(
      const std::vector<StateEntry<T>>& state, std::initializer_list<std::string_view> known_buffers) const;
  // An Error naming the entry unless value has the shape of parameter parameter_index.
  void check_state_shape(std::size_t parameter_index, std::string_view buffer, const Matrix<T>& value) const;
  // An Error unless the gradient of parameter parameter_index has the parameter's shape (a user may have set it).
  void check_grad_shape(std::size_t parameter_index) const;
  static void check_step_count(long step_count);

  std::vector<Tensor<T>> parameters_;
  double learning_rate_;
  long step_count_ = 0;
};

void check_learning_rate(const char* who, double learning_rate);

extern template class Optimizer<float>;
extern template class Optimizer<double>;

}  // namespace tapegrad::optim
