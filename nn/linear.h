// Linear<T>: the affine map S = W X + b of the reports, W (out x in), b (out x 1), X (in x n) with examples as
// columns. forward() is the fused linear op: one product and one graph node per call.
#pragma once

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/init.h>
#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

struct LinearOptions {
  Init weight = Init::xavier_uniform();
  // Zeros, constant, normal or uniform: the fan-scaled schemes have no meaning for a column of biases.
  Init bias = Init::zeros();
};

template <typename T>
class Linear : public Module<T> {
 public:
  // Draws W first (column-major), then b, from `generator`. Sizes must be positive.
  Linear(Index in_features, Index out_features, const LinearOptions& options, Generator& generator);

  Tensor<T> forward(const Tensor<T>& input) override;

  const Tensor<T>& weight() const { return weight_; }
  const Tensor<T>& bias() const { return bias_; }
  Index in_features() const { return weight_.cols(); }
  Index out_features() const { return weight_.rows(); }

 private:
  Tensor<T> weight_;
  Tensor<T> bias_;
};

extern template class Linear<float>;
extern template class Linear<double>;

}  // namespace tapegrad::nn
