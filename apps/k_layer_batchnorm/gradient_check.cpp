#include "apps/k_layer_batchnorm/gradient_check.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/k_layer_network.h>
#include <tapegrad/nn/reference/numerical_gradient.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/ops/loss.h>

#include <algorithm>
#include <cmath>

#include <tapegrad/core/atomic_file.h>

namespace tapegrad::apps::k_layer_batchnorm {
namespace {

using Parameters = reference::KLayerParameters<double>;
using Pattern = std::vector<Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>>;

Parameters he_network(Index inputs, const std::vector<Index>& hidden, Index classes, bool batch_norm,
                      Generator& generator) {
  Parameters p;
  Index fan_in = inputs;
  std::vector<Index> units = hidden;
  units.push_back(classes);
  for (std::size_t l = 0; l < units.size(); ++l) {
    Matrix<double> W(units[l], fan_in);
    for (Index i = 0; i < W.size(); ++i) W(i) = generator.normal(0.0, std::sqrt(2.0 / double(fan_in)));
    p.weights.push_back(W);
    p.biases.push_back(Matrix<double>::Zero(units[l], 1));
    if (batch_norm && l + 1 < units.size()) {
      // Away from 1 and 0 so that every term of the backward pass counts.
      Matrix<double> gamma(units[l], 1), beta(units[l], 1);
      for (Index i = 0; i < gamma.size(); ++i) gamma(i) = generator.normal(1.0, 0.2);
      for (Index i = 0; i < beta.size(); ++i) beta(i) = generator.normal(0.0, 0.2);
      p.gammas.push_back(gamma);
      p.betas.push_back(beta);
    }
    fan_in = units[l];
  }
  return p;
}

// The tape's gradients of the same network built from the library's layers, in the reference's layout.
reference::KLayerGradients<double> tape_gradients(const Parameters& p, const Matrix<double>& X,
                                                  const std::vector<int>& labels, double lambda, double eps) {
  nn::Sequential<double> model;
  std::vector<std::shared_ptr<nn::Linear<double>>> linears;
  std::vector<std::shared_ptr<nn::BatchNorm<double>>> norms;
  Generator unused(0);
  nn::BatchNormOptions options = nn::BatchNormOptions::course();
  options.eps = eps;
  for (std::size_t l = 0; l < p.layers(); ++l) {
    auto linear = model.emplace_back<nn::Linear<double>>(p.weights[l].cols(), p.weights[l].rows(),
                                                         nn::LinearOptions{}, unused);
    linear->weight().mutable_value() = p.weights[l];
    linear->bias().mutable_value() = p.biases[l];
    linears.push_back(linear);
    if (l + 1 == p.layers()) break;
    if (p.batch_normalised()) {
      auto norm = model.emplace_back<nn::BatchNorm<double>>(p.weights[l].rows(), options);
      norm->gamma().mutable_value() = p.gammas[l];
      norm->beta().mutable_value() = p.betas[l];
      norms.push_back(norm);
    }
    model.emplace_back<nn::ReLU<double>>();
  }
  std::vector<Tensor<double>> weights;
  for (const auto& linear : linears) weights.push_back(linear->weight());
  model.train();
  const Tensor<double> cost =
      cross_entropy_with_logits(model.forward(Tensor<double>::from(X)), labels) + nn::l2_penalty(weights, lambda);
  cost.backward();
  reference::KLayerGradients<double> g;
  for (const auto& linear : linears) {
    g.weights.push_back(linear->weight().grad());
    g.biases.push_back(linear->bias().grad());
  }
  for (const auto& norm : norms) {
    g.gammas.push_back(norm->gamma().grad());
    g.betas.push_back(norm->beta().grad());
  }
  return g;
}

Pattern pattern_of(const Parameters& p, const Matrix<double>& X, double eps) {
  Pattern pattern;
  for (const auto& s : reference::k_layer_forward(p, X, eps).pre_activations) pattern.push_back(s.array() > 0);
  return pattern;
}

bool same(const Pattern& a, const Pattern& b) {
  for (std::size_t l = 0; l < a.size(); ++l)
    if ((a[l] != b[l]).any()) return false;
  return true;
}

// Every parameter's worst errors: tape vs reference, reference vs central differences (entries whose stencil
// moves a ReLU input across 0 are left out; db_l under batch normalisation is zero by theory and compared
// absolutely).
nlohmann::json check_network(Parameters& p, const Matrix<double>& X, const std::vector<int>& labels, double lambda,
                             double eps, bool& passed) {
  const auto expected = reference::k_layer_gradients(p, X, labels, lambda, eps);
  const auto tape = tape_gradients(p, X, labels, lambda, eps);
  const Pattern baseline = pattern_of(p, X, eps);
  bool crossed = false;
  const reference::CostFunction cost = [&] {
    if (!same(pattern_of(p, X, eps), baseline)) crossed = true;
    return reference::k_layer_cost(p, X, labels, lambda, eps).cost;
  };
  // The four-point scheme's error is about h^4 |J^(5)| / 30 from truncation plus eps |J| / h from the rounding of
  // the cost. At h = 1e-5 the rounding (5e-11 for J near 2.3) is 8e-6 of a 1.8e-6 gradient of W1 in the 4-layer
  // network with batch normalisation on real CIFAR-10, past the limit; at h = 3e-4 the worst over every check is
  // 2.2e-7 there and 1.2e-8 on the tests' generated images. A larger h (1e-3) moves so many ReLU inputs across 0
  // that fewer than 4 in 5 entries of W1 are left to compare on the generated images.
  const reference::CentralDifference difference{reference::DifferenceScheme::four_point, 3e-4};
  nlohmann::json parameters = nlohmann::json::array();
  const auto check = [&](const std::string& name, Matrix<double>& parameter, const Matrix<double>& reference_grad,
                         const Matrix<double>& tape_grad, bool zero_by_theory) {
    std::vector<Index> entries;
    std::vector<double> numerical;
    for (Index i = 0; i < parameter.size(); ++i) {
      crossed = false;
      const Index one[] = {i};
      const double value = reference::numerical_gradient_at(cost, parameter, one, difference)(0);
      if (crossed) continue;
      entries.push_back(i);
      numerical.push_back(value);
    }
    const Matrix<double> numeric = Eigen::Map<const Matrix<double>>(numerical.data(), Index(numerical.size()), 1);
    const Matrix<double> analytic = reference::gather_entries(reference_grad, entries);
    double tape_error = 0, numerical_error = 0;
    bool ok = true;
    if (zero_by_theory) {
      tape_error = tape_grad.cwiseAbs().maxCoeff();
      numerical_error = numeric.size() ? numeric.cwiseAbs().maxCoeff() : 0.0;
      ok = reference_grad.cwiseAbs().maxCoeff() < 1e-12 && tape_error < 1e-12 && numerical_error < 1e-8;
    } else {
      tape_error = reference::max_relative_error(tape_grad, reference_grad);
      numerical_error = reference::max_relative_error(analytic, numeric);
      ok = tape_error <= kTapeTolerance && numerical_error <= kNumericalTolerance &&
           reference_grad.cwiseAbs().maxCoeff() > 1e-8 && entries.size() * 5 >= std::size_t(parameter.size()) * 4;
    }
    passed = passed && ok;
    parameters.push_back({{"parameter", name},
                          {"tape_vs_reference", tape_error},
                          {"reference_vs_numerical", numerical_error},
                          {"entries_checked", entries.size()},
                          {"zero_by_theory", zero_by_theory},
                          {"passed", ok}});
  };
  for (std::size_t l = 0; l < p.layers(); ++l) {
    const std::string layer = std::to_string(l + 1);
    check("W" + layer, p.weights[l], expected.gradients.weights[l], tape.weights[l], false);
    check("b" + layer, p.biases[l], expected.gradients.biases[l], tape.biases[l],
          p.batch_normalised() && l + 1 < p.layers());
    if (p.batch_normalised() && l + 1 < p.layers()) {
      check("gamma" + layer, p.gammas[l], expected.gradients.gammas[l], tape.gammas[l], false);
      check("beta" + layer, p.betas[l], expected.gradients.betas[l], tape.betas[l], false);
    }
  }
  return parameters;
}

}  // namespace

nlohmann::json run_gradient_check(const KLayerSettings& settings, const ImageSplits& splits,
                                  const RunDirectory& directory) {
  write_run_config(directory, to_json(settings));
  constexpr int features = 20;
  constexpr int examples = 5;
  const data::Normalizer normalizer = data::Normalizer::fitted(splits.train);
  const Matrix<double> all = normalizer.template apply<double>(splits.train.pixels.leftCols(examples));
  const Matrix<double> X = all.topRows(features);
  const std::vector<int> labels(splits.train.labels.begin(), splits.train.labels.begin() + examples);
  const double lambda = 0.01;
  Generator generator(settings.seed);
  bool passed = true;
  nlohmann::json checks = nlohmann::json::array();
  double worst_tape = 0, worst_numerical = 0;
  const std::vector<std::vector<Index>> shapes = {{12}, {12, 8}, {10, 8, 6}};
  for (const auto& hidden : shapes) {
    for (const bool batch_norm : {false, true}) {
      Parameters p = he_network(features, hidden, splits.train.num_classes(), batch_norm, generator);
      const nlohmann::json parameters = check_network(p, X, labels, lambda, settings.eps, passed);
      for (const auto& entry : parameters) {
        if (entry["zero_by_theory"].get<bool>()) continue;
        worst_tape = std::max(worst_tape, entry["tape_vs_reference"].get<double>());
        worst_numerical = std::max(worst_numerical, entry["reference_vs_numerical"].get<double>());
      }
      checks.push_back({{"layers", hidden.size() + 1}, {"batch_norm", batch_norm}, {"parameters", parameters}});
      spdlog::info("gradcheck: {} layers {} batch norm checked", hidden.size() + 1,
                   batch_norm ? "with" : "without");
    }
  }
  const nlohmann::json result = {{"features", features},
                                 {"examples", examples},
                                 {"lambda", lambda},
                                 {"eps", settings.eps},
                                 {"tape_tolerance", kTapeTolerance},
                                 {"numerical_tolerance", kNumericalTolerance},
                                 {"worst_tape_vs_reference", worst_tape},
                                 {"worst_reference_vs_numerical", worst_numerical},
                                 {"passed", passed},
                                 {"checks", checks}};
  write_file_atomically(directory.root() / "gradcheck.json", result.dump(2) + "\n");
  const nlohmann::json summary = {{"preset", "gradcheck"},
                                  {"passed", passed},
                                  {"worst_tape_vs_reference", worst_tape},
                                  {"worst_reference_vs_numerical", worst_numerical}};
  directory.write_summary(summary);
  if (!passed)
    spdlog::error("gradcheck: a gradient is past its limit; see {}",
                  (directory.root() / "gradcheck.json").string());
  return summary;
}

}  // namespace tapegrad::apps::k_layer_batchnorm
