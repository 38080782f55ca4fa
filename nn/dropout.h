// Dropout<T>: inverted dropout (ops/normalization.h) in training mode, the identity in evaluation mode.
#pragma once

#include <string>

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

template <typename T>
class Dropout : public Module<T> {
 public:
  // p, the probability of dropping an entry, must be in [0, 1). The masks are drawn from `generator`, which must
  // outlive the layer (it is usually the run's generator, saved in its checkpoint so that a resumed run draws the
  // same masks).
  Dropout(double p, Generator& generator);

  // Training: each entry is kept with probability 1 - p and scaled by 1 / (1 - p). Evaluation: the input itself.
  Tensor<T> forward(const Tensor<T>& input) override;
  std::string type_name() const override;

  double p() const { return p_; }

 private:
  double p_;
  Generator* generator_;
};

extern template class Dropout<float>;
extern template class Dropout<double>;

}  // namespace tapegrad::nn
