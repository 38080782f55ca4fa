// The training loop's default evaluation of a module on a whole data set.
#pragma once

#include <functional>
#include <span>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/metrics.h>

namespace tapegrad::train {

// Puts a module in eval() mode for the guard's lifetime, then back in the mode it had (also when an evaluation
// throws).
template <typename T>
class EvaluationModeGuard {
 public:
  explicit EvaluationModeGuard(nn::Module<T>& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvaluationModeGuard() { module_.train(was_training_); }
  EvaluationModeGuard(const EvaluationModeGuard&) = delete;
  EvaluationModeGuard& operator=(const EvaluationModeGuard&) = delete;

 private:
  nn::Module<T>& module_;
  bool was_training_;
};

// Loss, cost and accuracy of `module` over `dataset`, normalised by `normalizer`, `chunk_size` examples at a
// time, without recording and with the module in eval() mode (its mode is put back afterwards). `cost_of_batch`
// gives a chunk's cost from the module's outputs and the labels (the loop's loss function); the reported cost is
// the mean over all examples, and the loss is that minus `penalty()` (when given). The predicted class of a
// column is its largest output, or, for a single output row (a binary model's logit), 1 where it is >= 0.
template <typename T>
Evaluation evaluate_module(
    nn::Module<T>& module, const data::ImageDataset& dataset, const data::Normalizer& normalizer,
    const std::function<Tensor<T>(const Tensor<T>& outputs, std::span<const int> labels)>& cost_of_batch,
    int chunk_size = 2000, const std::function<double()>& penalty = {});

// Batch statistics of a whole data set ("precise" statistics, as some reports evaluate with): sets every
// nn::BatchNorm among `model`'s own layers, first to last, to the mean and biased variance of its input over all
// of `dataset`, in place of the running averages. Each layer sees the layers before it in eval() mode, those
// already normalising by their new statistics, so the result is what one forward pass over the whole set in
// training mode would normalise with. Two passes per layer (mean, then the squared deviations), chunk_size examples
// at a time, sums in double. The running averages are overwritten: keep model.state_dict() to put them back. The
// module's mode is put back afterwards. Returns the number of BatchNorm layers set.
template <typename T>
int set_batch_norm_statistics_from_data(nn::Sequential<T>& model, const data::ImageDataset& dataset,
                                        const data::Normalizer& normalizer, int chunk_size = 2000);

}  // namespace tapegrad::train
