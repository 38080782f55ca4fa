#include "apps/common/classifier.h"

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/gemm.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/logistic_regression.h>
#include <tapegrad/nn/reference/sigmoid_regression.h>
#include <tapegrad/nn/reference/softmax_regression.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/ops/numerics.h>
#include <tapegrad/ops/ops.h>

namespace tapegrad::apps {

const char* to_string(LossKind kind) {
  switch (kind) {
    case LossKind::cross_entropy:
      return "ce";
    case LossKind::multi_binary_cross_entropy:
      return "bce";
    case LossKind::binary_cross_entropy:
      return "binary";
  }
  return "?";
}

const char* to_string(GradientPath path) { return path == GradientPath::tape ? "tape" : "reference"; }

// ---------------------------------------------------------------------------------------------------------------
// Shared parts

template <typename T>
void Classifier<T>::check_batch(const Matrix<T>& inputs, std::span<const int> labels) const {
  if (inputs.cols() != static_cast<Index>(labels.size())) {
    throw_error(fmt::format("{}: {} labels for a batch of {} examples", description(), labels.size(), inputs.cols()));
  }
}

template <typename T>
LossAndCost Classifier<T>::compute_gradients(const Matrix<T>& inputs, std::span<const int> labels, double lambda,
                                             GradientPath path) {
  check_batch(inputs, labels);
  if (path == GradientPath::reference) return reference_gradients(inputs, labels, lambda);
  input_.mutable_value() = inputs;  // same shape as the last batch: a copy into the same storage
  return tape_gradients(input_, labels, lambda);
}

template <typename T>
LossAndCost Classifier<T>::compute_gradients(Matrix<T>& inputs, std::span<const int> labels, double lambda,
                                             GradientPath path) {
  check_batch(inputs, labels);
  if (path == GradientPath::reference) return reference_gradients(inputs, labels, lambda);
  // Eigen swaps dynamic matrices by their pointers and sizes: O(1), nothing copied or allocated.
  struct Lend {
    Matrix<T>& batch;
    Matrix<T>& leaf;
    Lend(Matrix<T>& b, Matrix<T>& l) : batch(b), leaf(l) { batch.swap(leaf); }
    ~Lend() { batch.swap(leaf); }
    Lend(const Lend&) = delete;
    Lend& operator=(const Lend&) = delete;
  } lend(inputs, input_.mutable_value());
  return tape_gradients(input_, labels, lambda);
}

template <typename T>
const Tensor<T>& Classifier<T>::target_tensor(std::span<const int> labels) {
  Matrix<T>& targets = targets_.mutable_value();
  const Index n = static_cast<Index>(labels.size());
  const Index classes = loss_kind_ == LossKind::binary_cross_entropy ? 2 : outputs();
  for (Index j = 0; j < n; ++j) {
    const int label = labels[static_cast<std::size_t>(j)];
    if (label < 0 || label >= classes) {
      throw_error(fmt::format("{}: label {} at position {} is outside [0, {})", description(), label, j, classes));
    }
  }
  if (loss_kind_ == LossKind::binary_cross_entropy) {
    targets.resize(1, n);
    for (Index j = 0; j < n; ++j) targets(0, j) = static_cast<T>(labels[static_cast<std::size_t>(j)]);
  } else {
    targets.setZero(outputs(), n);
    for (Index j = 0; j < n; ++j) targets(labels[static_cast<std::size_t>(j)], j) = T(1);
  }
  return targets_;
}

template <typename T>
double Classifier<T>::loss_from_scores(const Matrix<T>& scores, std::span<const int> labels) const {
  const Index n = scores.cols();
  if (n == 0) return 0.0;
  double total = 0;
  switch (loss_kind_) {
    case LossKind::cross_entropy:
      for (Index j = 0; j < n; ++j) {
        const double shift = static_cast<double>(scores.col(j).maxCoeff());
        double sum = 0;
        for (Index k = 0; k < scores.rows(); ++k) sum += std::exp(static_cast<double>(scores(k, j)) - shift);
        total += shift + std::log(sum) - static_cast<double>(scores(labels[static_cast<std::size_t>(j)], j));
      }
      return total / static_cast<double>(n);
    case LossKind::multi_binary_cross_entropy:
      for (Index j = 0; j < n; ++j) {
        for (Index k = 0; k < scores.rows(); ++k) {
          const double s = scores(k, j);
          const double y = labels[static_cast<std::size_t>(j)] == k ? 1.0 : 0.0;
          total += softplus(s) - s * y;
        }
      }
      return total / (static_cast<double>(n) * static_cast<double>(scores.rows()));
    case LossKind::binary_cross_entropy:
      for (Index j = 0; j < n; ++j) {
        const double s = scores(0, j);
        total += softplus(s) - s * static_cast<double>(labels[static_cast<std::size_t>(j)]);
      }
      return total / static_cast<double>(n);
  }
  return total;
}

template <typename T>
std::vector<int> Classifier<T>::predictions(const Matrix<T>& scores) const {
  std::vector<int> out(static_cast<std::size_t>(scores.cols()));
  for (Index j = 0; j < scores.cols(); ++j) {
    if (loss_kind_ == LossKind::binary_cross_entropy) {
      out[static_cast<std::size_t>(j)] = scores(0, j) >= T(0) ? 1 : 0;
    } else {
      Index best = 0;
      scores.col(j).maxCoeff(&best);
      out[static_cast<std::size_t>(j)] = static_cast<int>(best);
    }
  }
  return out;
}

template <typename T>
std::vector<double> Classifier<T>::true_class_probabilities(const Matrix<T>& scores,
                                                            std::span<const int> labels) const {
  std::vector<double> out(static_cast<std::size_t>(scores.cols()));
  for (Index j = 0; j < scores.cols(); ++j) {
    const int label = labels[static_cast<std::size_t>(j)];
    double p = 0;
    switch (loss_kind_) {
      case LossKind::cross_entropy: {
        const double shift = static_cast<double>(scores.col(j).maxCoeff());
        double sum = 0;
        for (Index k = 0; k < scores.rows(); ++k) sum += std::exp(static_cast<double>(scores(k, j)) - shift);
        p = std::exp(static_cast<double>(scores(label, j)) - shift) / sum;
        break;
      }
      case LossKind::multi_binary_cross_entropy:
        p = stable_sigmoid(static_cast<double>(scores(label, j)));
        break;
      case LossKind::binary_cross_entropy: {
        const double yhat = stable_sigmoid(static_cast<double>(scores(0, j)));
        p = label == 1 ? yhat : 1.0 - yhat;
        break;
      }
    }
    out[static_cast<std::size_t>(j)] = p;
  }
  return out;
}

template <typename T>
double Classifier<T>::penalty(double lambda) const {
  if (lambda == 0) return 0.0;
  double total = 0;
  for (const auto& p : module().named_parameters()) {
    if (nn::is_weight_name(p.name)) total += p.tensor.value().template cast<double>().squaredNorm();
  }
  return lambda * total;
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// One linear layer: softmax regression, K sigmoids, or binary logistic regression.

template <typename T>
class LinearModule : public nn::Module<T> {
 public:
  LinearModule(Index features, Index outputs, double init_std, Generator& generator) {
    nn::LinearOptions options{nn::Init::normal(init_std), nn::Init::normal(init_std)};
    linear_ = this->register_module("linear", std::make_shared<nn::Linear<T>>(features, outputs, options, generator));
  }
  Tensor<T> forward(const Tensor<T>& input) override { return linear_->forward(input); }
  const nn::Linear<T>& linear() const { return *linear_; }

 private:
  std::shared_ptr<nn::Linear<T>> linear_;
};

template <typename T>
class LinearClassifier : public Classifier<T> {
 public:
  LinearClassifier(Index features, Index outputs, LossKind kind, double init_std, Generator& generator)
      : Classifier<T>(kind), module_(features, outputs, init_std, generator) {}

  nn::Module<T>& module() override { return module_; }
  const nn::Module<T>& module() const override { return module_; }
  Index outputs() const override { return module_.linear().out_features(); }
  std::string description() const override {
    const char* name = this->loss_kind() == LossKind::cross_entropy ? "softmax regression"
                       : this->loss_kind() == LossKind::multi_binary_cross_entropy
                           ? "sigmoid regression (multiple binary cross-entropy)"
                           : "logistic regression";
    return fmt::format("{} ({} -> {})", name, module_.linear().in_features(), outputs());
  }

  void scores(const Matrix<T>& inputs, Matrix<T>& out) const override {
    const auto& linear = module_.linear();
    product(linear.weight().value(), Op::none, inputs, Op::none, out);
    out.colwise() += linear.bias().value().col(0);
  }

 protected:
  LossAndCost tape_gradients(const Tensor<T>& x, std::span<const int> labels, double lambda) override {
    const auto& linear = module_.linear();
    Tensor<T> s = tapegrad::linear(linear.weight(), x, linear.bias());
    Tensor<T> loss = this->loss_kind() == LossKind::cross_entropy
                         ? cross_entropy_with_logits(s, labels)
                         : multi_binary_cross_entropy_with_logits(s, this->target_tensor(labels));
    Tensor<T> cost = lambda != 0 ? loss + sum_of_squares(linear.weight()) * static_cast<T>(lambda) : loss;
    module_.zero_grad();
    cost.backward();
    return {static_cast<double>(loss.item()), static_cast<double>(cost.item())};
  }

  LossAndCost reference_gradients(const Matrix<T>& inputs, std::span<const int> labels, double lambda) override {
    const auto& linear = module_.linear();
    const Matrix<T>& w = linear.weight().value();
    const Matrix<T>& b = linear.bias().value();
    const T l = static_cast<T>(lambda);
    reference::LinearModelResult<T> result;
    switch (this->loss_kind()) {
      case LossKind::cross_entropy:
        result =
            reference::softmax_regression_gradients<T>(w, b, inputs, reference::one_hot<T>(labels, w.rows()), l);
        break;
      case LossKind::multi_binary_cross_entropy:
        result =
            reference::sigmoid_regression_gradients<T>(w, b, inputs, reference::one_hot<T>(labels, w.rows()), l);
        break;
      case LossKind::binary_cross_entropy:
        // The reports write w as a d x 1 column: w^T x.
        result = reference::logistic_regression_gradients<T>(w.transpose(), b, inputs,
                                                             reference::binary_targets<T>(labels), l);
        result.gradient.weights.transposeInPlace();
        break;
    }
    linear.weight().mutable_grad().swap(result.gradient.weights);
    linear.bias().mutable_grad().swap(result.gradient.bias);
    return {static_cast<double>(result.loss), static_cast<double>(result.cost)};
  }

 private:
  LinearModule<T> module_;
};

// ---------------------------------------------------------------------------------------------------------------
// The two-layer ReLU network.

template <typename T>
class TwoLayerModule : public nn::Module<T> {
 public:
  TwoLayerModule(Index features, Index hidden, Index classes, Generator& generator) {
    nn::LinearOptions first{nn::Init::normal(1.0 / std::sqrt(static_cast<double>(features))), nn::Init::zeros()};
    nn::LinearOptions second{nn::Init::normal(1.0 / std::sqrt(static_cast<double>(hidden))), nn::Init::zeros()};
    fc1_ = this->register_module("fc1", std::make_shared<nn::Linear<T>>(features, hidden, first, generator));
    fc2_ = this->register_module("fc2", std::make_shared<nn::Linear<T>>(hidden, classes, second, generator));
  }
  Tensor<T> forward(const Tensor<T>& input) override { return fc2_->forward(relu(fc1_->forward(input))); }
  const nn::Linear<T>& fc1() const { return *fc1_; }
  const nn::Linear<T>& fc2() const { return *fc2_; }

 private:
  std::shared_ptr<nn::Linear<T>> fc1_;
  std::shared_ptr<nn::Linear<T>> fc2_;
};

template <typename T>
class TwoLayerClassifier : public Classifier<T> {
 public:
  TwoLayerClassifier(Index features, Index hidden, Index classes, Generator& generator)
      : Classifier<T>(LossKind::cross_entropy), module_(features, hidden, classes, generator) {}

  nn::Module<T>& module() override { return module_; }
  const nn::Module<T>& module() const override { return module_; }
  Index outputs() const override { return module_.fc2().out_features(); }
  std::string description() const override {
    return fmt::format("two-layer network ({} -> {} ReLU -> {})", module_.fc1().in_features(),
                       module_.fc1().out_features(), outputs());
  }

  void scores(const Matrix<T>& inputs, Matrix<T>& out) const override {
    const auto& fc1 = module_.fc1();
    const auto& fc2 = module_.fc2();
    Matrix<T> hidden;
    product(fc1.weight().value(), Op::none, inputs, Op::none, hidden);
    hidden.colwise() += fc1.bias().value().col(0);
    hidden = hidden.cwiseMax(T(0));
    product(fc2.weight().value(), Op::none, hidden, Op::none, out);
    out.colwise() += fc2.bias().value().col(0);
  }

 protected:
  LossAndCost tape_gradients(const Tensor<T>& x, std::span<const int> labels, double lambda) override {
    const auto& fc1 = module_.fc1();
    const auto& fc2 = module_.fc2();
    Tensor<T> h = relu(linear(fc1.weight(), x, fc1.bias()));
    Tensor<T> loss = cross_entropy_with_logits(linear(fc2.weight(), h, fc2.bias()), labels);
    Tensor<T> cost = loss;
    if (lambda != 0) {
      cost = loss + (sum_of_squares(fc1.weight()) + sum_of_squares(fc2.weight())) * static_cast<T>(lambda);
    }
    module_.zero_grad();
    cost.backward();
    return {static_cast<double>(loss.item()), static_cast<double>(cost.item())};
  }

  LossAndCost reference_gradients(const Matrix<T>& inputs, std::span<const int> labels, double lambda) override {
    const auto& fc1 = module_.fc1();
    const auto& fc2 = module_.fc2();
    auto result = reference::two_layer_gradients<T>(
        fc1.weight().value(), fc1.bias().value(), fc2.weight().value(), fc2.bias().value(), inputs,
        reference::one_hot<T>(labels, outputs()), static_cast<T>(lambda));
    fc1.weight().mutable_grad().swap(result.first_layer.weights);
    fc1.bias().mutable_grad().swap(result.first_layer.bias);
    fc2.weight().mutable_grad().swap(result.second_layer.weights);
    fc2.bias().mutable_grad().swap(result.second_layer.bias);
    return {static_cast<double>(result.loss), static_cast<double>(result.cost)};
  }

 private:
  TwoLayerModule<T> module_;
};

}  // namespace

template <typename T>
std::unique_ptr<Classifier<T>> make_linear_classifier(Index features, Index classes, LossKind kind, double init_std,
                                                      Generator& generator) {
  if (kind == LossKind::binary_cross_entropy) return make_logistic_regression<T>(features, init_std, generator);
  return std::make_unique<LinearClassifier<T>>(features, classes, kind, init_std, generator);
}

template <typename T>
std::unique_ptr<Classifier<T>> make_logistic_regression(Index features, double init_std, Generator& generator) {
  return std::make_unique<LinearClassifier<T>>(features, 1, LossKind::binary_cross_entropy, init_std, generator);
}

template <typename T>
std::unique_ptr<Classifier<T>> make_two_layer_network(Index features, Index hidden, Index classes,
                                                      Generator& generator) {
  return std::make_unique<TwoLayerClassifier<T>>(features, hidden, classes, generator);
}

template class Classifier<float>;
template class Classifier<double>;
template std::unique_ptr<Classifier<float>> make_linear_classifier(Index, Index, LossKind, double, Generator&);
template std::unique_ptr<Classifier<double>> make_linear_classifier(Index, Index, LossKind, double, Generator&);
template std::unique_ptr<Classifier<float>> make_logistic_regression(Index, double, Generator&);
template std::unique_ptr<Classifier<double>> make_logistic_regression(Index, double, Generator&);
template std::unique_ptr<Classifier<float>> make_two_layer_network(Index, Index, Index, Generator&);
template std::unique_ptr<Classifier<double>> make_two_layer_network(Index, Index, Index, Generator&);

}  // namespace tapegrad::apps
