// What tapegrad_bench measures: the problem (shapes, data, hyper-parameters), the products each workload is made
// of (for FLOP counts and the GEMM bound), and the implementations that train the same models on the same data.
#pragma once

#include <tapegrad/core/tensor.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "apps/common/classifier.h"

namespace tapegrad::apps {

// softmax and two_layer train with SGD and the reports' L2 term; mlp is the network users write: tanh hidden
// layers, cross-entropy, Adam, no L2 term.
enum class WorkloadModel { softmax, two_layer, mlp };

const char* to_string(WorkloadModel kind);

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
  std::vector<Index> mlp_hidden{256, 256};
  double mlp_learning_rate = 1e-3;                 // Adam's default
  std::vector<Index> batchnorm_features{50, 256};  // a BatchNorm layer over features x batch
  std::uint64_t seed = 42;
};

// The layer widths of a model, inputs first: {3072, 50, 10} for two_layer.
std::vector<Index> layer_sizes(WorkloadModel kind, const BenchmarkProblem& problem);

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
std::vector<ProductShape> step_products(WorkloadModel kind, const BenchmarkProblem& problem);
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

// softmax and two_layer: the apps' Classifier (nn::Sequential of Linear and ReLU, the course's cost) trained
// through the tape or the reference gradients, with optim::SGD; mlp: nn::Sequential of Linear and Tanh,
// nn::CrossEntropyLoss and optim::Adam (the tape only).
template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_tapegrad_implementation(WorkloadModel kind, GradientPath path,
                                                                        const BenchmarkProblem& problem);

// The initial parameter values every implementation starts from, in the order W1, b1, W2, b2, ...
template <typename T>
std::vector<Matrix<T>> initial_parameters(WorkloadModel kind, const BenchmarkProblem& problem);

// A BatchNorm layer in training mode on a fixed features x batch input: forward, then backward from a fixed
// upstream gradient to the input, gamma and beta.
template <typename T>
class BatchNormImplementation {
 public:
  virtual ~BatchNormImplementation() = default;
  virtual std::string name() const = 0;
  // One forward and backward; returns sum(output .* upstream), the same number for every implementation.
  virtual double forward_backward() = 0;
};

// The input (features x batch) and the upstream gradient every implementation of a shape gets.
template <typename T>
struct BatchNormData {
  Matrix<T> input;
  Matrix<T> upstream;
};
template <typename T>
BatchNormData<T> make_batchnorm_data(Index features, Index batch, std::uint64_t seed);

// tapegrad's nn::BatchNorm (PyTorch's options).
template <typename T>
std::unique_ptr<BatchNormImplementation<T>> make_tapegrad_batchnorm(const BatchNormData<T>& data);

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
