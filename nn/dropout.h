// Dropout<T>: inverted dropout (ops/normalization.h) in training mode, the identity in evaluation mode.
#pragma once

#include <string>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

template <typename T>
class Dropout : public Module<T> {
 public:
  // p, the probability of dropping an entry, must be in [0, 1). The masks are drawn from `generator`, which the
  // caller owns and which must outlive the layer. Its state is not part of the module's state (state_dict, model
  // files): a train::Loop saving run checkpoints must be given it in LoopOptions::generators, which it saves at
  // every checkpoint and restores on resume_from so that a resumed run draws the same masks (the loop refuses to
  // start without it; see own_generators()).
  Dropout(double p, Generator& generator);

  // Training: each entry is kept with probability 1 - p and scaled by 1 / (1 - p), one draw per entry.
  // Evaluation: the input itself, drawing nothing.
  Tensor<T> forward(const Tensor<T>& input) override;
  std::string type_name() const override;
  std::vector<const Generator*> own_generators() const override { return {generator_}; }

  double p() const { return p_; }

 private:
  double p_;
  Generator* generator_;
};

extern template class Dropout<float>;
extern template class Dropout<double>;

}  // namespace tapegrad::nn
