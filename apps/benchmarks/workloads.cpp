#include "apps/benchmarks/workloads.h"

#include <fmt/format.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/evaluation.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/evaluation.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/sgd.h>

#include <cstring>
#include <iterator>
#include <stdexcept>

namespace tapegrad::apps {

const char* to_string(WorkloadModel kind) {
  switch (kind) {
    case WorkloadModel::softmax:
      return "softmax";
    case WorkloadModel::two_layer:
      return "two_layer";
    case WorkloadModel::mlp:
      return "mlp";
  }
  return "unknown";
}

std::vector<Index> layer_sizes(WorkloadModel kind, const BenchmarkProblem& problem) {
  switch (kind) {
    case WorkloadModel::softmax:
      return {problem.features, problem.classes};
    case WorkloadModel::two_layer:
      return {problem.features, problem.hidden, problem.classes};
    case WorkloadModel::mlp:
      break;
  }
  std::vector<Index> sizes{problem.features};
  sizes.insert(sizes.end(), problem.mlp_hidden.begin(), problem.mlp_hidden.end());
  sizes.push_back(problem.classes);
  return sizes;
}

std::string ProductShape::workload_name() const { return fmt::format("gemm_{}x{}x{}", m, k, n); }

// Forward W_l H_{l-1} for every layer; backward G_l H_{l-1}^T for every layer and W_l^T G_l for every layer but
// the first (nothing needs the gradient of the inputs). Backward runs from the last layer down.
std::vector<ProductShape> step_products(WorkloadModel kind, const BenchmarkProblem& problem) {
  static const char* const forward_names[] = {"W1 X", "W2 H", "W3 H2", "W4 H3"};
  static const char* const weight_names[] = {"G1 X^T", "G2 H^T", "G3 H2^T", "G4 H3^T"};
  static const char* const input_names[] = {"", "W2^T G2", "W3^T G3", "W4^T G4"};
  const std::vector<Index> sizes = layer_sizes(kind, problem);
  const std::size_t layers = sizes.size() - 1;
  if (layers > std::size(forward_names)) throw std::logic_error("step_products: more layers than names");
  const Index n = problem.batch;
  std::vector<ProductShape> products;
  for (std::size_t l = 0; l < layers; ++l)
    products.push_back({forward_names[l], sizes[l + 1], sizes[l], n, false, false, false});
  for (std::size_t l = layers; l-- > 0;) {
    products.push_back({weight_names[l], sizes[l + 1], n, sizes[l], false, true, true});
    if (l > 0) products.push_back({input_names[l], sizes[l], sizes[l + 1], n, true, false, false});
  }
  return products;
}

std::vector<ProductShape> evaluation_products(const BenchmarkProblem& problem) {
  return {
      {"W1 X (eval)", problem.hidden, problem.features, problem.examples, false, false, false},
      {"W2 H (eval)", problem.classes, problem.hidden, problem.examples, false, false, false},
  };
}

double total_flops(const std::vector<ProductShape>& products) {
  double total = 0;
  for (const ProductShape& product : products) total += product.flops();
  return total;
}

SyntheticData<double> make_synthetic_data(const BenchmarkProblem& problem) {
  Generator generator(problem.seed);
  SyntheticData<double> data;
  data.inputs.resize(problem.features, problem.examples);
  for (Index j = 0; j < problem.examples; ++j)
    for (Index i = 0; i < problem.features; ++i) data.inputs(i, j) = generator.normal();
  data.labels.resize(static_cast<std::size_t>(problem.examples));
  for (int& label : data.labels)
    label = static_cast<int>(generator.below(static_cast<std::uint64_t>(problem.classes)));
  return data;
}

template <typename T>
SyntheticData<T> converted(const SyntheticData<double>& data) {
  return {data.inputs.template cast<T>(), data.labels};
}

namespace {

// The model and loss the apps train (cifar_softmax, two_layer_cyclic).
template <typename T>
Classifier<T> make_model(WorkloadModel kind, const BenchmarkProblem& problem) {
  Generator generator(problem.seed + 1);
  if (kind == WorkloadModel::softmax) {
    return make_linear_classifier<T>(problem.features, problem.classes, LossKind::cross_entropy,
                                     problem.softmax_init_std, problem.lambda, generator);
  }
  return make_two_layer_network<T>(problem.features, problem.hidden, problem.classes, problem.lambda, generator);
}

template <typename T>
std::shared_ptr<nn::Sequential<T>> make_mlp(const BenchmarkProblem& problem) {
  Generator generator(problem.seed + 1);
  auto network = std::make_shared<nn::Sequential<T>>();
  const std::vector<Index> sizes = layer_sizes(WorkloadModel::mlp, problem);
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    if (l > 0) network->template emplace_back<nn::Tanh<T>>();
    network->template emplace_back<nn::Linear<T>>(sizes[l], sizes[l + 1], nn::LinearOptions{}, generator);
  }
  return network;
}

// Gives a batch's storage to a leaf for the length of a step and takes it back: Eigen swaps dynamic matrices by
// pointer, so nothing is copied (as train::Loop's default step does).
template <typename T>
class Lend {
 public:
  Lend(Matrix<T>& batch, Matrix<T>& leaf) : batch_(batch), leaf_(leaf) { batch_.swap(leaf_); }
  ~Lend() { batch_.swap(leaf_); }
  Lend(const Lend&) = delete;
  Lend& operator=(const Lend&) = delete;

 private:
  Matrix<T>& batch_;
  Matrix<T>& leaf_;
};

// What users write: Sequential, a loss object, Adam, zero_grad / backward / step.
template <typename T>
class MlpImplementation : public TrainingImplementation<T> {
 public:
  explicit MlpImplementation(const BenchmarkProblem& problem)
      : network_(make_mlp<T>(problem)),
        optimizer_(network_->parameters(), optim::AdamOptions{.learning_rate = problem.mlp_learning_rate}) {}

  std::string name() const override { return "tape"; }

  double step(Matrix<T>& inputs, std::span<const int> labels) override {
    optimizer_.zero_grad();
    double cost = 0;
    {
      const Lend<T> lend(inputs, input_.mutable_value());
      const Tensor<T> loss = loss_(network_->forward(input_), labels);
      loss.backward();
      cost = static_cast<double>(loss.value()(0, 0));
    }
    optimizer_.step();
    return cost;
  }

  double evaluate(const Matrix<T>& inputs, std::span<const int> labels) override {
    const NoGradGuard no_grad;
    const Matrix<T> scores = network_->forward(Tensor<T>::from(inputs)).value();
    long correct = 0;
    for (Index j = 0; j < scores.cols(); ++j) {
      Index best = 0;
      scores.col(j).maxCoeff(&best);
      correct += best == labels[static_cast<std::size_t>(j)] ? 1 : 0;
    }
    return static_cast<double>(correct) / static_cast<double>(labels.size());
  }

  const nn::Sequential<T>& network() const { return *network_; }

 private:
  std::shared_ptr<nn::Sequential<T>> network_;
  optim::Adam<T> optimizer_;
  nn::CrossEntropyLoss<T> loss_;
  Tensor<T> input_ = Tensor<T>::from(Matrix<T>());
};

template <typename T>
class TapegradBatchNorm : public BatchNormImplementation<T> {
 public:
  explicit TapegradBatchNorm(const BatchNormData<T>& data)
      : layer_(data.input.rows()), input_(Tensor<T>::from(data.input, true)), upstream_(data.upstream) {}

  std::string name() const override { return "tape"; }

  double forward_backward() override {
    input_.zero_grad();
    layer_.zero_grad();
    const Tensor<T> output = layer_.forward(input_);
    output.backward(upstream_);
    return (output.value().array() * upstream_.array()).template cast<double>().sum();
  }

 private:
  nn::BatchNorm<T> layer_;
  Tensor<T> input_;
  Matrix<T> upstream_;
};

// The apps' step: on the tape as train::Loop's default step (the batch lent to the input leaf, zero_grad, the
// classifier's cost, backward), or the reference gradients; then the SGD update.
template <typename T>
class TapegradImplementation : public TrainingImplementation<T> {
 public:
  TapegradImplementation(WorkloadModel kind, GradientPath path, const BenchmarkProblem& problem)
      : kind_(kind),
        path_(path),
        model_(make_model<T>(kind, problem)),
        optimizer_(model_.network->parameters(), optim::SGDOptions{.learning_rate = problem.learning_rate}) {}

  std::string name() const override { return to_string(path_); }

  double step(Matrix<T>& inputs, std::span<const int> labels) override {
    double cost = 0;
    if (path_ == GradientPath::reference) {
      cost = model_.reference_gradients(inputs, labels).cost;
    } else {
      const Lend<T> lend(inputs, input_.mutable_value());
      model_.network->zero_grad();
      const Tensor<T> loss = model_.cost(model_.network->forward(input_), labels);
      loss.backward();
      cost = static_cast<double>(loss.item());
    }
    optimizer_.step();
    return cost;
  }

  double evaluate(const Matrix<T>& inputs, std::span<const int> labels) override {
    if (path_ == GradientPath::tape) {
      const NoGradGuard no_grad;
      return nn::accuracy(model_.network->forward(Tensor<T>::from(inputs)).value(), labels);
    }
    const nn::Module<T>& module = *model_.network;
    if (kind_ == WorkloadModel::softmax) {
      return reference::accuracy(
          reference::predict_classes(reference::linear_scores<T>(module.parameter("linear.weight").value(),
                                                                 module.parameter("linear.bias").value(), inputs)),
          labels);
    }
    return reference::accuracy(
        reference::predict_classes(reference::two_layer_scores<T>(
            module.parameter("fc1.weight").value(), module.parameter("fc1.bias").value(),
            module.parameter("fc2.weight").value(), module.parameter("fc2.bias").value(), inputs)),
        labels);
  }

 private:
  WorkloadModel kind_;
  GradientPath path_;
  Classifier<T> model_;
  optim::SGD<T> optimizer_;
  Tensor<T> input_ = Tensor<T>::from(Matrix<T>());
};

}  // namespace

template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_tapegrad_implementation(WorkloadModel kind, GradientPath path,
                                                                        const BenchmarkProblem& problem) {
  if (kind == WorkloadModel::mlp) {
    if (path != GradientPath::tape) throw std::logic_error("the MLP has no reference gradients");
    return std::make_unique<MlpImplementation<T>>(problem);
  }
  return std::make_unique<TapegradImplementation<T>>(kind, path, problem);
}

template <typename T>
std::vector<Matrix<T>> initial_parameters(WorkloadModel kind, const BenchmarkProblem& problem) {
  std::vector<Matrix<T>> values;
  const std::vector<Tensor<T>> parameters = kind == WorkloadModel::mlp
                                                ? make_mlp<T>(problem)->parameters()
                                                : make_model<T>(kind, problem).network->parameters();
  for (const Tensor<T>& parameter : parameters) values.push_back(parameter.value());
  return values;
}

template <typename T>
BatchNormData<T> make_batchnorm_data(Index features, Index batch, std::uint64_t seed) {
  Generator generator(seed);
  BatchNormData<T> data{Matrix<T>(features, batch), Matrix<T>(features, batch)};
  for (Index j = 0; j < batch; ++j) {
    for (Index i = 0; i < features; ++i) {
      data.input(i, j) = static_cast<T>(3.0 + 2.0 * generator.normal());  // not already normalised
      data.upstream(i, j) = static_cast<T>(generator.normal());
    }
  }
  return data;
}

template <typename T>
std::unique_ptr<BatchNormImplementation<T>> make_tapegrad_batchnorm(const BatchNormData<T>& data) {
  return std::make_unique<TapegradBatchNorm<T>>(data);
}

template <typename T>
EpochRunner<T>::EpochRunner(const SyntheticData<T>& data, Index examples, Index batch_size, std::uint64_t seed,
                            bool parallel_gather)
    : data_(data),
      examples_(std::min(examples, data.inputs.cols())),
      batch_size_(batch_size),
      parallel_gather_(parallel_gather),
      generator_(seed) {}

template <typename T>
double EpochRunner<T>::run_epoch(TrainingImplementation<T>& implementation) {
  const Index examples = examples_;
  const std::vector<int> order = generator_.permutation(static_cast<int>(examples));
  double total_cost = 0;
  long batches = 0;
  for (Index first = 0; first < examples; first += batch_size_) {
    const Index size = std::min(batch_size_, examples - first);
    batch_inputs_.resize(data_.inputs.rows(), size);
    batch_labels_.resize(static_cast<std::size_t>(size));
    // Split over the product threads (one thread fetching the whole batch made tapegrad's epochs slower on 2
    // threads than on 1).
    parallel_columns(size, parallel_gather_, [&](ColumnRange range) {
      for (Index j = range.first; j < range.last; ++j) {
        const int column = order[static_cast<std::size_t>(first + j)];
        // memcpy, not Eigen's copy: glibc picks its widest copy for the CPU at run time, where Eigen's is compiled
        // for the build's flags (SSE2 in the default build: softmax_epoch float 1.24x the -march=native build's).
        std::memcpy(batch_inputs_.col(j).data(), data_.inputs.col(column).data(),
                    sizeof(T) * static_cast<std::size_t>(data_.inputs.rows()));
        batch_labels_[static_cast<std::size_t>(j)] = data_.labels[static_cast<std::size_t>(column)];
      }
    });
    total_cost += implementation.step(batch_inputs_, batch_labels_);
    ++batches;
  }
  return batches == 0 ? 0.0 : total_cost / static_cast<double>(batches);
}

template SyntheticData<float> converted(const SyntheticData<double>&);
template SyntheticData<double> converted(const SyntheticData<double>&);
template std::unique_ptr<TrainingImplementation<float>> make_tapegrad_implementation(WorkloadModel, GradientPath,
                                                                                     const BenchmarkProblem&);
template std::unique_ptr<TrainingImplementation<double>> make_tapegrad_implementation(WorkloadModel, GradientPath,
                                                                                      const BenchmarkProblem&);
template std::vector<Matrix<float>> initial_parameters(WorkloadModel, const BenchmarkProblem&);
template std::vector<Matrix<double>> initial_parameters(WorkloadModel, const BenchmarkProblem&);
template BatchNormData<float> make_batchnorm_data(Index, Index, std::uint64_t);
template BatchNormData<double> make_batchnorm_data(Index, Index, std::uint64_t);
template std::unique_ptr<BatchNormImplementation<float>> make_tapegrad_batchnorm(const BatchNormData<float>&);
template std::unique_ptr<BatchNormImplementation<double>> make_tapegrad_batchnorm(const BatchNormData<double>&);
template class EpochRunner<float>;
template class EpochRunner<double>;

}  // namespace tapegrad::apps
