#include "apps/benchmarks/workloads.h"

#include <fmt/format.h>

#include <tapegrad/core/parallel.h>

#include <tapegrad/nn/reference/evaluation.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/optim/sgd.h>

namespace tapegrad::apps {

const char* to_string(ModelKind kind) { return kind == ModelKind::softmax ? "softmax" : "two_layer"; }

std::string ProductShape::workload_name() const { return fmt::format("gemm_{}x{}x{}", m, k, n); }

std::vector<ProductShape> step_products(ModelKind kind, const BenchmarkProblem& problem) {
  const Index d = problem.features;
  const Index m = problem.hidden;
  const Index classes = problem.classes;
  const Index n = problem.batch;
  if (kind == ModelKind::softmax) {
    return {
        {"W X", classes, d, n, false, false, false},
        {"G X^T", classes, n, d, false, true, true},
    };
  }
  return {
      {"W1 X", m, d, n, false, false, false},       {"W2 H", classes, m, n, false, false, false},
      {"G2 H^T", classes, n, m, false, true, true}, {"W2^T G2", m, classes, n, true, false, false},
      {"G1 X^T", m, n, d, false, true, true},
  };
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

template <typename T>
std::unique_ptr<Classifier<T>> make_model(ModelKind kind, const BenchmarkProblem& problem) {
  Generator generator(problem.seed + 1);
  if (kind == ModelKind::softmax) {
    return make_linear_classifier<T>(problem.features, problem.classes, LossKind::cross_entropy,
                                     problem.softmax_init_std, generator);
  }
  return make_two_layer_network<T>(problem.features, problem.hidden, problem.classes, generator);
}

template <typename T>
class TapegradImplementation : public TrainingImplementation<T> {
 public:
  TapegradImplementation(ModelKind kind, GradientPath path, const BenchmarkProblem& problem)
      : kind_(kind),
        path_(path),
        lambda_(problem.lambda),
        model_(make_model<T>(kind, problem)),
        optimizer_(model_->module().parameters(), optim::SGDOptions{.learning_rate = problem.learning_rate}) {}

  std::string name() const override { return to_string(path_); }

  double step(Matrix<T>& inputs, std::span<const int> labels) override {
    const LossAndCost result = model_->compute_gradients(inputs, labels, lambda_, path_);
    optimizer_.step();
    return result.cost;
  }

  double evaluate(const Matrix<T>& inputs, std::span<const int> labels) override {
    if (path_ == GradientPath::tape) {
      model_->scores(inputs, scores_);
      return reference::accuracy(model_->predictions(scores_), labels);
    }
    const nn::Module<T>& module = model_->module();
    if (kind_ == ModelKind::softmax) {
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
  ModelKind kind_;
  GradientPath path_;
  double lambda_;
  std::unique_ptr<Classifier<T>> model_;
  optim::SGD<T> optimizer_;
  Matrix<T> scores_;
};

}  // namespace

template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_tapegrad_implementation(ModelKind kind, GradientPath path,
                                                                        const BenchmarkProblem& problem) {
  return std::make_unique<TapegradImplementation<T>>(kind, path, problem);
}

template <typename T>
std::vector<Matrix<T>> initial_parameters(ModelKind kind, const BenchmarkProblem& problem) {
  std::vector<Matrix<T>> values;
  for (const Tensor<T>& parameter : make_model<T>(kind, problem)->module().parameters())
    values.push_back(parameter.value());
  return values;
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
        batch_inputs_.col(j) = data_.inputs.col(column);
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
template std::unique_ptr<TrainingImplementation<float>> make_tapegrad_implementation(ModelKind, GradientPath,
                                                                                     const BenchmarkProblem&);
template std::unique_ptr<TrainingImplementation<double>> make_tapegrad_implementation(ModelKind, GradientPath,
                                                                                      const BenchmarkProblem&);
template std::vector<Matrix<float>> initial_parameters(ModelKind, const BenchmarkProblem&);
template std::vector<Matrix<double>> initial_parameters(ModelKind, const BenchmarkProblem&);
template class EpochRunner<float>;
template class EpochRunner<double>;

}  // namespace tapegrad::apps
