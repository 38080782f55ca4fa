// What tapegrad_bench measures: the problem (shapes, data, hyper-parameters), the products each workload is made
// of (for FLOP counts and the GEMM bound), and the implementations that train the same models on the same data.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>
#include "apps/common/classifier.h"

namespace tapegrad::apps {

enum class ModelKind { softmax, two_layer };

const char* to_string(ModelKind kind);

// The shapes and settings of the issue: CIFAR-10 sized inputs, batches of 100, an epoch of 10,000 examples.
struct BenchmarkProblem {
  Index features = 3072;
  Index hidden = 50;
  Index classes = 10;
  Index batch = 100;
  Index examples = 10000;        // the data set: what eval_10k scores
  Index epoch_examples = 10000;  // what one epoch visits (fewer only for --quick)
  double lambda = 0.01;
  double learning_rate = 0.01;
  double softmax_init_std = 0.01;
  std::uint64_t seed = 42;
};

// One matrix product as a step does it: C (m x n) (+)= op(A) * op(B), with k the inner size.
struct ProductShape {
  const char* expression;  // what it is in the reports' notation, e.g. "G1 X^T"
  Index m;
  Index k;
  Index n;
  bool transpose_a;
  bool transpose_b;
  bool accumulate;  // beta = 1, as the backward rules do

  std::string workload_name() const;  // "gemm_50x3072x100"
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

// The products of one training step (forward and backward) of a model, in the order the step runs them.
std::vector<ProductShape> step_products(ModelKind kind, const BenchmarkProblem& problem);
// The products of scoring `examples` columns with the two-layer network (the eval_10k workload).
std::vector<ProductShape> evaluation_products(const BenchmarkProblem& problem);
double total_flops(const std::vector<ProductShape>& products);

// Random normal inputs (features x examples) and uniform labels, drawn once in double so that the float and the
// double runs see the same numbers.
template <typename T>
struct SyntheticData {
  Matrix<T> inputs;
  std::vector<int> labels;
};
SyntheticData<double> make_synthetic_data(const BenchmarkProblem& problem);
template <typename T>
SyntheticData<T> converted(const SyntheticData<double>& data);

// One way of training one model: its own parameters (initialised identically for every implementation) and its
// own optimizer state.
template <typename T>
class TrainingImplementation {
 public:
  virtual ~TrainingImplementation() = default;
  virtual std::string name() const = 0;
  // Forward, backward and SGD update on this batch; returns the batch's cost (loss + L2 term) before the update.
  virtual double step(Matrix<T>& inputs, std::span<const int> labels) = 0;
  // The accuracy of the model's predictions for every column, without recording a graph.
  virtual double evaluate(const Matrix<T>& inputs, std::span<const int> labels) = 0;
};

// tapegrad's Classifier trained through the tape or the reference gradients, with optim::SGD.
template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_tapegrad_implementation(ModelKind kind, GradientPath path,
                                                                        const BenchmarkProblem& problem);

// The initial parameter values every implementation starts from, in the order W1, b1[, W2, b2].
template <typename T>
std::vector<Matrix<T>> initial_parameters(ModelKind kind, const BenchmarkProblem& problem);

// Feeds an implementation the batches of one epoch: a fresh random order each epoch (the same sequence for every
// runner made with the same seed), the batch gathered by column copies into a reused matrix, split over the
// product threads when `parallel_gather` (tapegrad's implementations, as the apps' BatchLoader does) or on the
// calling thread (PyTorch's: tapegrad's pool must not spin next to PyTorch's own threads).
template <typename T>
class EpochRunner {
 public:
  // An epoch visits the first `examples` columns of the data.
  EpochRunner(const SyntheticData<T>& data, Index examples, Index batch_size, std::uint64_t seed,
              bool parallel_gather);
  // Runs one epoch; returns the mean batch cost.
  double run_epoch(TrainingImplementation<T>& implementation);

 private:
  const SyntheticData<T>& data_;
  Index examples_;
  Index batch_size_;
  bool parallel_gather_;
  Generator generator_;
  Matrix<T> batch_inputs_;
  std::vector<int> batch_labels_;
};

}  // namespace tapegrad::apps
