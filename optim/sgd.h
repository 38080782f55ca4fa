// SGD: stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.
//
// The update follows PyTorch's torch.optim.SGD, for parameter w with gradient g at step t:
//   d = g + weight_decay * w                        (weight decay enters the gradient, before momentum)
//   b = d                                           at the parameter's first step (no dampening on it)
//   b = momentum * b + (1 - dampening) * d          afterwards
//   d = d + momentum * b   (nesterov)   or   d = b   (momentum > 0)
//   w = w - learning_rate * d
// With momentum 0 this is w -= learning_rate * (g + weight_decay * w) and keeps no state.
#pragma once

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tapegrad::optim {

struct SGDOptions {
  double learning_rate = 0.01;  // finite, >= 0
  double momentum = 0.0;        // [0, 1)
  double dampening = 0.0;     // [0, 1]; scales the new gradient's share of the momentum buffer by (1 - dampening)
  bool nesterov = false;      // needs momentum > 0 and dampening 0
  double weight_decay = 0.0;  // finite, >= 0; an L2 term added to the gradient (not the reports' cost term)

  // An Error naming the first bad option, its value and the allowed range. Called by SGD's constructor.
  void validate() const;
};

template <typename T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Tensor<T>> parameters, const SGDOptions& options);

  void step() override;
  const SGDOptions& options() const { return options_; }

  // "param<i>.momentum" for every parameter whose buffer exists (momentum > 0 and at least one update).
  std::vector<StateEntry<T>> state() const override;
  void load_state(const std::vector<StateEntry<T>>& state, long step_count) override;

 private:
  SGDOptions options_;
  std::vector<Matrix<T>> momentum_buffers_;  // per parameter; empty until its first update
};

extern template class SGD<float>;
extern template class SGD<double>;

}  // namespace tapegrad::optim
