// SGD: stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.
//
// The update follows PyTorch's torch.optim.SGD, for parameter w with gradient g at step t:
//   d = g + weight_decay * w                        (weight decay enters the gradient, before momentum)
//   b = d                                           at the parameter's first step (no dampening on it)
//   b = momentum * b + (1 - dampening) * d          afterwards
//   d = d + momentum * b   (nesterov)   or   d = b   (momentum > 0)
//   w = w - learning_rate * d
// With momentum 0 this is w -= learning_rate * (g + weight_decay * w) and keeps no state.
//
// fuse_into_backward (momentum 0 only): a parameter whose whole gradient is one product g = op(A) op(B) (a weight
// that feeds one matmul or linear and nothing else) is updated inside backward, as soon as that product is due, by
// one product with alpha and beta: w = (1 - learning_rate * weight_decay) w - learning_rate op(A) op(B), with no
// pass over w or g (core/tensor.h: FusedUpdate). step() then skips it; every other parameter is updated by step()
// as usual. The same update to rounding (the terms are added in another order), measured 5-7% faster on the
// two-layer step at avx512. So:
//   - put an L2 term on such weights as weight_decay (2 lambda for lambda ||W||^2), not as a penalty on the tape:
//     a penalty is a second consumer of the weight, and the weight then takes the ordinary path;
//   - each backward pass updates those weights: accumulating gradients over several passes before one step() is
//     not possible with it, and their .grad stays as zero_grad left it;
//   - the learning rate is read when the product runs, so set_learning_rate (schedules) before backward.
#pragma once

#include <memory>
#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tapegrad::optim {

struct SGDOptions {
  double learning_rate = 0.01;  // finite, >= 0
  double momentum = 0.0;        // [0, 1)
  double dampening = 0.0;     // [0, 1]; scales the new gradient's share of the momentum buffer by (1 - dampening)
  bool nesterov = false;      // needs momentum > 0 and dampening 0
  double weight_decay = 0.0;  // finite, >= 0; an L2 term added to the gradient (not the reports' cost term)
  bool fuse_into_backward = false;  // update single-product gradients inside backward (above); needs momentum 0

  // An Error naming the first bad option, its value and the allowed range. Called by SGD's constructor.
  void validate() const;
};

template <typename T>
class SGD : public Optimizer<T> {
 public:
  // An Error if fuse_into_backward and a parameter is already updated in backward by another optimizer.
  SGD(std::vector<Tensor<T>> parameters, const SGDOptions& options);
  // Detaches the updates it fused into backward from its parameters.
  ~SGD() override;

  void step() override;
  const SGDOptions& options() const { return options_; }

  // "param<i>.momentum" for every parameter whose buffer exists (momentum > 0 and at least one update).
  std::vector<StateEntry<T>> state() const override;
  void load_state(const std::vector<StateEntry<T>>& state, long step_count) override;

 private:
  SGDOptions options_;
  std::vector<Matrix<T>> momentum_buffers_;  // per parameter; empty until its first update
  std::vector<std::shared_ptr<FusedUpdate<T>>> fused_;  // per parameter with fuse_into_backward, else empty
};

extern template class SGD<float>;
extern template class SGD<double>;

}  // namespace tapegrad::optim
