// BatchNorm<T>: batch normalisation of each feature (row) of a d x n batch over its examples (columns).
//
// Training mode normalises with the batch's mean and biased (1/n) variance through the fused batch_norm op
// (ops/normalization.h: one graph node, the reports' closed-form backward) and updates the running statistics;
// evaluation mode normalises with the running statistics instead:
//   s_hat = (s - running_mean) / sqrt(running_var + eps),   out = gamma .* s_hat + beta.
// State: parameters "weight" (gamma, d x 1, starts at 1) and "bias" (beta, d x 1, starts at 0) when affine; buffers
// "running_mean", "running_var" (d x 1) and "num_batches_tracked" (1 x 1, the training batches seen). These are
// PyTorch's names and shapes (a d x 1 column is a 1-D [d] tensor in safetensors), so the state of a
// torch.nn.BatchNorm1d(d) loads into BatchNorm(d) and back.
#pragma once

#include <string>

#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

// Where the running averages start.
enum class RunningStart {
  zero_mean_unit_variance,  // PyTorch: running_mean = 0, running_var = 1 before the first batch
  first_batch,              // the course: the first training batch sets them, the average starts from there
};

// Which variance of the batch the running average takes (normalising in training always uses the biased one).
enum class RunningVariance {
  unbiased,  // PyTorch: n / (n - 1) times the biased variance
  biased,    // the course: (1/n) sum (s - mu)^2, the variance the batch was normalised with
};

// Validated when the layer is built. Each running statistic r is updated after a training batch with statistic b:
//   r = (1 - momentum) r + momentum b,
// which is the course's mu_av = alpha mu_av + (1 - alpha) mu with alpha = 1 - momentum. The defaults are
// PyTorch's; course() gives the course's k-layer network's settings.
struct BatchNormOptions {
  double eps = 1e-5;       // added to the variance under the square root; positive
  double momentum = 0.1;   // weight of the new batch in the running averages; in (0, 1]
  bool affine = true;      // learnable gamma and beta; without them the output is s_hat itself
  RunningStart running_start = RunningStart::zero_mean_unit_variance;
  RunningVariance running_variance = RunningVariance::unbiased;

  // PyTorch's BatchNorm1d: eps 1e-5, momentum 0.1, running statistics from 0 / 1, unbiased running variance.
  static BatchNormOptions pytorch() { return {}; }
  // The course's k-layer network: eps = 2.2e-16, alpha = 0.9 (momentum 0.1), the average started from the first
  // mini-batch, biased variance in the average.
  static BatchNormOptions course(double alpha = 0.9) {
    return {2.2e-16, 1.0 - alpha, true, RunningStart::first_batch, RunningVariance::biased};
  }
};

template <typename T>
class BatchNorm : public Module<T> {
 public:
  // features > 0; an Error naming the option when one is out of range.
  explicit BatchNorm(Index features, const BatchNormOptions& options = {});

  // input is features x n. Training needs n >= 2 (one example has no spread to normalise by).
  Tensor<T> forward(const Tensor<T>& input) override;
  std::string type_name() const override;
  bool weight_is_regularised() const override { return false; }

  Index features() const { return running_mean_.rows(); }
  const BatchNormOptions& options() const { return options_; }
  // Empty (0 x 0) tensors when the layer is not affine.
  const Tensor<T>& gamma() const { return gamma_; }
  const Tensor<T>& beta() const { return beta_; }
  const Tensor<T>& running_mean() const { return running_mean_; }
  const Tensor<T>& running_var() const { return running_var_; }
  // Training batches seen so far (a buffer, so that a loaded layer knows whether its averages have started).
  long long batches_tracked() const;

 private:
  void update_running_statistics(const Matrix<T>& batch_mean, const Matrix<T>& batch_variance, Index n);

  BatchNormOptions options_;
  Tensor<T> gamma_;
  Tensor<T> beta_;
  Tensor<T> running_mean_;
  Tensor<T> running_var_;
  Tensor<T> batches_tracked_;
};

extern template class BatchNorm<float>;
extern template class BatchNorm<double>;

}  // namespace tapegrad::nn
