// The models the apps train, each with both gradient paths: the tape (the library) and the reference (the
// reports' hand-derived formulas). Both give the same numbers, so an app can train through either.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/module.h>

namespace tapegrad::apps {

enum class LossKind {
  cross_entropy,               // softmax over K classes with cross-entropy
  multi_binary_cross_entropy,  // K sigmoids with the reports' multiple binary cross-entropy (one-hot targets)
  binary_cross_entropy,        // one sigmoid output for a two-class task (labels 0 and 1)
};
enum class GradientPath { tape, reference };

const char* to_string(LossKind kind);
const char* to_string(GradientPath path);

struct LossAndCost {
  double loss = 0;  // mean over the batch
  double cost = 0;  // loss + lambda * (sum of squared weights)
};

template <typename T>
class Classifier {
 public:
  virtual ~Classifier() = default;

  virtual nn::Module<T>& module() = 0;
  virtual const nn::Module<T>& module() const = 0;
  virtual std::string description() const = 0;
  LossKind loss_kind() const { return loss_kind_; }
  // Number of score rows: K, or 1 for a binary sigmoid.
  virtual Index outputs() const = 0;

  // Sets every parameter's gradient to d cost / d parameter on this batch (replacing what was there) and returns
  // the batch's loss and cost, through the chosen path.
  LossAndCost compute_gradients(const Matrix<T>& inputs, std::span<const int> labels, double lambda,
                                GradientPath path);
  // The same, without copying the batch into the tape's input leaf: `inputs`' storage is swapped into the leaf
  // for the step and swapped back before returning, also when the step throws. On return `inputs` holds the very
  // same storage and values as before (no copy, no allocation); during the call it must not be read elsewhere.
  // The training loop's hot path: it saves one copy of the batch (d x n) per step.
  LossAndCost compute_gradients(Matrix<T>& inputs, std::span<const int> labels, double lambda, GradientPath path);

  // Scores (outputs() x n) without recording.
  virtual void scores(const Matrix<T>& inputs, Matrix<T>& out) const = 0;
  // The mean loss of a batch from its scores.
  double loss_from_scores(const Matrix<T>& scores, std::span<const int> labels) const;
  // The predicted class of each column: the largest score, or score >= 0 for a binary sigmoid.
  std::vector<int> predictions(const Matrix<T>& scores) const;
  // The probability the model gives each example's own class (softmax, sigmoid of the true class's score, or
  // yhat / 1 - yhat for binary).
  std::vector<double> true_class_probabilities(const Matrix<T>& scores, std::span<const int> labels) const;
  // lambda * (sum of squared weights), the reports' L2 term (biases are not regularised).
  double penalty(double lambda) const;

 protected:
  explicit Classifier(LossKind kind) : loss_kind_(kind) {}
  // `input` is the batch as a leaf (the model's input tensor, holding a copy of the batch or the swapped-in batch).
  virtual LossAndCost tape_gradients(const Tensor<T>& input, std::span<const int> labels, double lambda) = 0;
  virtual LossAndCost reference_gradients(const Matrix<T>& inputs, std::span<const int> labels, double lambda) = 0;
  // Targets for the sigmoid losses: one-hot K x n, or the 0/1 labels as a 1 x n row.
  const Tensor<T>& target_tensor(std::span<const int> labels);

 private:
  void check_batch(const Matrix<T>& inputs, std::span<const int> labels) const;

  LossKind loss_kind_;
  // The batch as a leaf tensor kept across steps, so that its storage is reused.
  Tensor<T> input_;
  Tensor<T> targets_;
};

// Softmax regression (or K sigmoids with multiple BCE): S = W X + b, W (K x d) and b (K x 1) drawn from
// N(0, init_std^2) as in the reports.
template <typename T>
std::unique_ptr<Classifier<T>> make_linear_classifier(Index features, Index classes, LossKind kind, double init_std,
                                                      Generator& generator);

// Binary logistic regression: yhat = sigmoid(w^T x + b), one output, labels 0 and 1.
template <typename T>
std::unique_ptr<Classifier<T>> make_logistic_regression(Index features, double init_std, Generator& generator);

// The two-layer network: d -> hidden (ReLU) -> K with softmax and cross-entropy; W1 ~ N(0, 1/d),
// W2 ~ N(0, 1/hidden), biases 0.
template <typename T>
std::unique_ptr<Classifier<T>> make_two_layer_network(Index features, Index hidden, Index classes,
                                                      Generator& generator);

}  // namespace tapegrad::apps
