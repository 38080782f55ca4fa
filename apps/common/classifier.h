// The models the apps train, as a user of the library writes them: nn::Sequential of nn::Linear (and nn::ReLU)
// with the course's losses and the reports' L2 term on the weights. Each trains through either gradient path: the
// tape (the training loop's default step) or the reference (the reports' hand-derived formulas, nn/reference).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/loop.h>

namespace tapegrad::apps {

enum class LossKind {
  cross_entropy,               // softmax over K classes with cross-entropy
  multi_binary_cross_entropy,  // K sigmoids with the reports' multiple binary cross-entropy (one-hot targets)
  binary_cross_entropy,        // one sigmoid output for a two-class task (labels 0 and 1)
};
enum class GradientPath { tape, reference };

const char* to_string(LossKind kind);
const char* to_string(GradientPath path);

template <typename T>
struct Classifier {
  // Its layers are named as the apps' files name them: "linear", or "fc1", "relu", "fc2".
  std::shared_ptr<nn::Sequential<T>> network = std::make_shared<nn::Sequential<T>>();
  std::vector<std::shared_ptr<nn::Linear<T>>> layers;
  LossKind loss = LossKind::cross_entropy;
  double lambda = 0;

  // The batch's cost on the tape from the network's scores, loss + lambda * sum ||W||^2 (b is not penalised).
  Tensor<T> cost(const Tensor<T>& scores, std::span<const int> labels) const;
  double penalty() const;  // lambda * sum ||W||^2
  // The reference path's step: every parameter's gradient from the reports' formulas (replacing what was there).
  train::StepLoss reference_gradients(const Matrix<T>& inputs, std::span<const int> labels);
  // E.g. "two-layer network (3072 -> 50 ReLU -> 10)".
  std::string description() const;
};

// Softmax regression (or K sigmoids with multiple BCE, or binary logistic regression with one output):
// S = W X + b, W and b drawn from N(0, init_std^2) as in the reports.
template <typename T>
Classifier<T> make_linear_classifier(Index features, Index classes, LossKind kind, double init_std, double lambda,
                                     Generator& generator);

// The two-layer network: d -> hidden (ReLU) -> K with softmax and cross-entropy; W1 ~ N(0, 1/d),
// W2 ~ N(0, 1/hidden), biases 0.
template <typename T>
Classifier<T> make_two_layer_network(Index features, Index hidden, Index classes, double lambda,
                                     Generator& generator);

// A loop that trains `model` through `path`: its cost as the loss (of the tape's step and the evaluations), the
// L2 term reported apart, and on the reference path the reports' gradients as the step. The loop refers to `model`
// (and to `optimizer` and `loader`): each must outlive it and stay where it is.
template <typename T>
train::Loop<T> make_loop(Classifier<T>& model, optim::Optimizer<T>& optimizer, data::BatchLoader<T>& loader,
                         train::LoopOptions options, GradientPath path);

}  // namespace tapegrad::apps
