#include "apps/common/classifier.h"

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/logistic_regression.h>
#include <tapegrad/nn/reference/sigmoid_regression.h>
#include <tapegrad/nn/reference/softmax_regression.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/ops/ops.h>

namespace tapegrad::apps {

const char* to_string(LossKind kind) {
  constexpr const char* names[] = {"ce", "bce", "binary"};
  return names[static_cast<int>(kind)];
}

const char* to_string(GradientPath path) { return path == GradientPath::tape ? "tape" : "reference"; }

template <typename T>
Tensor<T> Classifier<T>::cost(const Tensor<T>& scores, std::span<const int> labels) const {
  const Tensor<T> data_loss = loss == LossKind::cross_entropy
                                  ? cross_entropy_with_logits(scores, labels)
                                  : nn::MultiBinaryCrossEntropyLoss<T>()(scores, labels);
  return lambda == 0 ? data_loss : data_loss + nn::l2_penalty(*network, static_cast<T>(lambda));
}

template <typename T>
double Classifier<T>::penalty() const {
  NoGradGuard no_grad;
  return lambda == 0 ? 0.0 : static_cast<double>(nn::l2_penalty(*network, static_cast<T>(lambda)).item());
}

template <typename T>
train::StepLoss Classifier<T>::reference_gradients(const Matrix<T>& x, std::span<const int> labels) {
  const T l = static_cast<T>(lambda);
  const auto set = [](nn::Linear<T>& layer, reference::LinearGradient<T>& gradient) {
    layer.weight().mutable_grad().swap(gradient.weights);
    layer.bias().mutable_grad().swap(gradient.bias);
  };
  const Matrix<T>& w = layers[0]->weight().value();
  const Matrix<T>& b = layers[0]->bias().value();
  if (layers.size() == 2) {
    auto result =
        reference::two_layer_gradients<T>(w, b, layers[1]->weight().value(), layers[1]->bias().value(), x,
                                          reference::one_hot<T>(labels, layers[1]->out_features()), l);
    set(*layers[0], result.first_layer);
    set(*layers[1], result.second_layer);
    return {static_cast<double>(result.loss), static_cast<double>(result.cost)};
  }
  reference::LinearModelResult<T> result;
  if (loss == LossKind::cross_entropy) {
    result = reference::softmax_regression_gradients<T>(w, b, x, reference::one_hot<T>(labels, w.rows()), l);
  } else if (loss == LossKind::multi_binary_cross_entropy) {
    result = reference::sigmoid_regression_gradients<T>(w, b, x, reference::one_hot<T>(labels, w.rows()), l);
  } else {
    // The reports write w as a d x 1 column: w^T x.
    result =
        reference::logistic_regression_gradients<T>(w.transpose(), b, x, reference::binary_targets<T>(labels), l);
    result.gradient.weights.transposeInPlace();
  }
  set(*layers[0], result.gradient);
  return {static_cast<double>(result.loss), static_cast<double>(result.cost)};
}

template <typename T>
std::string Classifier<T>::description() const {
  const nn::Linear<T>& first = *layers.front();
  if (layers.size() == 2) {
    return fmt::format("two-layer network ({} -> {} ReLU -> {})", first.in_features(), first.out_features(),
                       layers[1]->out_features());
  }
  const char* name = loss == LossKind::cross_entropy ? "softmax regression"
                     : loss == LossKind::multi_binary_cross_entropy
                         ? "sigmoid regression (multiple binary cross-entropy)"
                         : "logistic regression";
  return fmt::format("{} ({} -> {})", name, first.in_features(), first.out_features());
}

namespace {

template <typename T>
void add_layer(Classifier<T>& model, const std::string& name, Index in, Index out,
               const nn::LinearOptions& options, Generator& generator) {
  model.layers.push_back(
      model.network->push_back(name, std::make_shared<nn::Linear<T>>(in, out, options, generator)));
}

}  // namespace

template <typename T>
Classifier<T> make_linear_classifier(Index features, Index classes, LossKind kind, double init_std, double lambda,
                                     Generator& generator) {
  Classifier<T> model;
  model.loss = kind;
  model.lambda = lambda;
  const Index outputs = kind == LossKind::binary_cross_entropy ? 1 : classes;
  add_layer(model, "linear", features, outputs, {nn::Init::normal(init_std), nn::Init::normal(init_std)},
            generator);
  return model;
}

template <typename T>
Classifier<T> make_two_layer_network(Index features, Index hidden, Index classes, double lambda,
                                     Generator& generator) {
  Classifier<T> model;
  model.lambda = lambda;
  const auto normal_over = [](Index fan_in) {
    return nn::Init::normal(1.0 / std::sqrt(static_cast<double>(fan_in)));
  };
  add_layer(model, "fc1", features, hidden, {normal_over(features), nn::Init::zeros()}, generator);
  model.network->push_back("relu", std::make_shared<nn::ReLU<T>>());
  add_layer(model, "fc2", hidden, classes, {normal_over(hidden), nn::Init::zeros()}, generator);
  return model;
}

template <typename T>
train::Loop<T> make_loop(Classifier<T>& model, optim::Optimizer<T>& optimizer, data::BatchLoader<T>& loader,
                         train::LoopOptions options, GradientPath path) {
  auto cost = [&model](const Tensor<T>& scores, std::span<const int> labels) {
    return model.cost(scores, labels);
  };
  train::Loop<T> loop(*model.network, optimizer, loader, cost, std::move(options));
  loop.set_penalty([&model] { return model.penalty(); });
  if (path == GradientPath::reference) {
    loop.set_gradient_step(
        [&model](data::Batch<T>& batch) { return model.reference_gradients(batch.X, batch.labels); });
  }
  return loop;
}

#define TAPEGRAD_INSTANTIATE_CLASSIFIER(T)                                                           \
  template struct Classifier<T>;                                                                     \
  template Classifier<T> make_linear_classifier(Index, Index, LossKind, double, double, Generator&); \
  template Classifier<T> make_two_layer_network(Index, Index, Index, double, Generator&);            \
  template train::Loop<T> make_loop(Classifier<T>&, optim::Optimizer<T>&, data::BatchLoader<T>&,     \
                                    train::LoopOptions, GradientPath);

TAPEGRAD_INSTANTIATE_CLASSIFIER(float)
TAPEGRAD_INSTANTIATE_CLASSIFIER(double)

}  // namespace tapegrad::apps
