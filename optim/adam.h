// Adam and AdamW: adaptive moment estimation with bias correction (Kingma & Ba), with weight decay either as an
// L2 term in the gradient (Adam) or decoupled from it (AdamW, Loshchilov & Hutter).
//
// The update follows PyTorch's torch.optim.Adam / AdamW, for parameter w with gradient g at the parameter's own
// step t = 1, 2, ... (counted from its first gradient, so a parameter that joins late gets the right correction):
//   Adam:  g = g + weight_decay * w                 AdamW:  w = w * (1 - learning_rate * weight_decay)
//   m = beta1 * m + (1 - beta1) * g                 (m and v start at zero)
//   v = beta2 * v + (1 - beta2) * g^2
//   w = w - learning_rate / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tapegrad::optim {

struct AdamOptions {
  double learning_rate = 1e-3;  // finite, >= 0
  double beta1 = 0.9;           // [0, 1): decay of the first moment
  double beta2 = 0.999;         // [0, 1): decay of the second moment
  double eps = 1e-8;            // finite, > 0: keeps the denominator away from zero
  double weight_decay = 0.0;    // finite, >= 0
  bool decoupled = false;       // true: AdamW's decay of the weights instead of an L2 term in the gradient

  // An Error naming the first bad option, its value and the allowed range. Called by Adam's constructor.
  void validate() const;
};

template <typename T>
class Adam : public Optimizer<T> {
 public:
  Adam(std::vector<Tensor<T>> parameters, const AdamOptions& options);

  void step() override;
  const AdamOptions& options() const { return options_; }

  // For every parameter updated at least once: "param<i>.exp_avg" (m), "param<i>.exp_avg_sq" (v) and
  // "param<i>.step" (its own step t as a 1x1 matrix; exact in float up to 2^24 steps, beyond which the bias
  // correction is 1 anyway).
  std::vector<StateEntry<T>> state() const override;
  void load_state(const std::vector<StateEntry<T>>& state, long step_count) override;

 private:
  struct Moments {
    Matrix<T> exp_avg;
    Matrix<T> exp_avg_sq;
    long steps = 0;  // 0: no update yet, buffers empty
  };
  AdamOptions options_;
  std::vector<Moments> moments_;
};

// Adam with decoupled weight decay, whatever options.decoupled says.
template <typename T>
class AdamW : public Adam<T> {
 public:
  AdamW(std::vector<Tensor<T>> parameters, AdamOptions options);
};

extern template class Adam<float>;
extern template class Adam<double>;
extern template class AdamW<float>;
extern template class AdamW<double>;

}  // namespace tapegrad::optim
