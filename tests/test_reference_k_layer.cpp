// The k-layer network of the reference path, with and without batch normalisation: every gradient (W, b, gamma,
// beta) against central differences for 2, 3 and 4 layers on small slices and on one full CIFAR-sized batch, the
// closed-form batch-norm backward on its own, evaluation with given statistics, the running averages, and the
// errors for bad arguments. Then the tape: the same network built from the library's layers (nn::Linear,
// nn::BatchNorm with the course's options, nn::ReLU in an nn::Sequential) against the reference, to 1e-10.
#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/k_layer_network.h>
#include <tapegrad/nn/reference/numerical_gradient.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/ops/loss.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace reference = tapegrad::reference;
using Catch::Matchers::Contains;
using Eigen::Index;
using reference::Matrix;
using tapegrad::Generator;

namespace {

using Parameters = reference::KLayerParameters<double>;

// The pass mark of every gradient check, as in the reports.
constexpr double gradient_tolerance = 1e-6;
// The four-point difference (error O(h^4)) with a step small enough that few entries move a ReLU input across 0.
constexpr reference::CentralDifference difference{reference::DifferenceScheme::four_point, 1e-5};

// The worst relative error seen per gradient, printed at exit when TAPEGRAD_REPORT_GRADIENT_ERRORS is set.
class WorstErrors {
 public:
  void record(const std::string& gradient, double error) {
    double& worst = worst_[gradient];
    worst = std::max(worst, error);
  }
  ~WorstErrors() {
    if (std::getenv("TAPEGRAD_REPORT_GRADIENT_ERRORS") == nullptr) return;
    for (const auto& [gradient, error] : worst_)
      std::printf("worst relative error %-34s %.3e\n", gradient.c_str(), error);
  }

 private:
  std::map<std::string, double> worst_;
};
WorstErrors worst_errors;

Matrix<double> normal_matrix(Index rows, Index cols, double mean, double stddev, Generator& generator) {
  Matrix<double> matrix(rows, cols);
  for (Index i = 0; i < matrix.size(); ++i) matrix(i) = generator.normal(mean, stddev);
  return matrix;
}

std::vector<int> random_labels(Index examples, Index classes, Generator& generator) {
  std::vector<int> labels(static_cast<std::size_t>(examples));
  for (int& label : labels) label = static_cast<int>(generator.below(static_cast<std::uint64_t>(classes)));
  return labels;
}

double max_abs(const Matrix<double>& matrix) { return matrix.size() == 0 ? 0.0 : matrix.cwiseAbs().maxCoeff(); }

// He-initialised weights; biases, gamma and beta drawn away from their initial 0, 1, 0 so that every term of the
// backward pass is exercised (a zero beta would hide a missing dbeta, a unit gamma a missing G .* gamma).
Parameters random_network(Index inputs, const std::vector<Index>& hidden, Index classes, bool batch_norm,
                          Generator& generator) {
  Parameters network;
  Index fan_in = inputs;
  std::vector<Index> units = hidden;
  units.push_back(classes);
  for (std::size_t layer = 0; layer < units.size(); ++layer) {
    network.weights.push_back(
        normal_matrix(units[layer], fan_in, 0.0, std::sqrt(2.0 / static_cast<double>(fan_in)), generator));
    network.biases.push_back(normal_matrix(units[layer], 1, 0.0, 0.1, generator));
    if (batch_norm && layer + 1 < units.size()) {
      network.gammas.push_back(normal_matrix(units[layer], 1, 1.0, 0.2, generator));
      network.betas.push_back(normal_matrix(units[layer], 1, 0.0, 0.2, generator));
    }
    fan_in = units[layer];
  }
  return network;
}

struct Problem {
  std::string name;
  Parameters network;
  Matrix<double> inputs;
  std::vector<int> labels;
  double lambda;
};

Problem make_problem(Index inputs, const std::vector<Index>& hidden, Index examples, bool batch_norm,
                     double lambda, std::uint64_t seed) {
  constexpr Index classes = 10;
  Generator generator(seed);
  Problem problem;
  problem.name = std::to_string(hidden.size() + 1) + " layers " + (batch_norm ? "with" : "without") +
                 " batch norm, d " + std::to_string(inputs) + ", n " + std::to_string(examples);
  problem.network = random_network(inputs, hidden, classes, batch_norm, generator);
  problem.inputs = normal_matrix(inputs, examples, 0.0, 1.0, generator);
  problem.labels = random_labels(examples, classes, generator);
  problem.lambda = lambda;
  return problem;
}

// Which ReLU inputs are positive: a central difference is valid only where its stencil keeps this pattern.
std::vector<Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>> activation_pattern(const Problem& problem) {
  const auto forward = reference::k_layer_forward(problem.network, problem.inputs);
  std::vector<Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>> pattern;
  for (const Matrix<double>& pre_activation : forward.pre_activations)
    pattern.push_back(pre_activation.array() > 0);
  return pattern;
}

bool same_pattern(const std::vector<Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>>& a,
                  const std::vector<Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>>& b) {
  for (std::size_t layer = 0; layer < a.size(); ++layer) {
    if ((a[layer] != b[layer]).any()) return false;
  }
  return true;
}

struct CheckedParameter {
  std::string name;
  Matrix<double>* parameter;
  const Matrix<double>* analytic;
  bool regularised;
  bool zero_by_theory;  // db_l under batch normalisation: the mean subtraction removes any shift
};

std::vector<CheckedParameter> parameters_to_check(Parameters& network,
                                                  const reference::KLayerGradients<double>& g) {
  std::vector<CheckedParameter> checked;
  const std::size_t k = network.layers();
  for (std::size_t layer = 1; layer <= k; ++layer) {
    const std::string l = std::to_string(layer);
    checked.push_back({"W" + l, &network.weights[layer - 1], &g.weights[layer - 1], true, false});
    const bool bias_cancelled = network.batch_normalised() && layer < k;
    checked.push_back({"b" + l, &network.biases[layer - 1], &g.biases[layer - 1], false, bias_cancelled});
    if (network.batch_normalised() && layer < k) {
      checked.push_back({"gamma" + l, &network.gammas[layer - 1], &g.gammas[layer - 1], false, false});
      checked.push_back({"beta" + l, &network.betas[layer - 1], &g.betas[layer - 1], false, false});
    }
  }
  return checked;
}

// Holds every gradient of the reference against central differences of its own cost, at all entries or at
// `sampled_entries` of each parameter, skipping entries whose stencil moves a ReLU input across 0 (there the
// cost has a kink and the difference quotient means nothing). The check has teeth: the gradients must not be
// zero, a 1e-4 relative error in the largest entry is caught, and so is W's gradient without its 2 lambda W term.
void check_against_central_differences(Problem& problem, Index sampled_entries = 0) {
  const auto result =
      reference::k_layer_gradients(problem.network, problem.inputs, problem.labels, problem.lambda);
  const auto baseline = activation_pattern(problem);
  bool crossed_kink = false;
  const reference::CostFunction cost = [&] {
    if (!same_pattern(activation_pattern(problem), baseline)) crossed_kink = true;
    return reference::k_layer_cost(problem.network, problem.inputs, problem.labels, problem.lambda).cost;
  };
  Generator sampler(17);
  for (const CheckedParameter& checked : parameters_to_check(problem.network, result.gradients)) {
    INFO(problem.name << ": gradient of " << checked.name);
    REQUIRE(checked.analytic->rows() == checked.parameter->rows());
    REQUIRE(checked.analytic->cols() == checked.parameter->cols());
    const Index count = sampled_entries > 0 ? sampled_entries : checked.parameter->size();
    // Twice the entries wanted, so that those next to a kink can be dropped.
    const auto candidates = reference::sample_entries(checked.parameter->size(), 2 * count, sampler);
    std::vector<Index> entries;
    std::vector<double> numerical_values;
    Index skipped = 0;
    for (Index entry : candidates) {
      if (static_cast<Index>(entries.size()) == count) break;
      crossed_kink = false;
      const Index one[] = {entry};
      const double numerical = reference::numerical_gradient_at(cost, *checked.parameter, one, difference)(0);
      if (crossed_kink) {
        ++skipped;
        continue;
      }
      entries.push_back(entry);
      numerical_values.push_back(numerical);
    }
    CAPTURE(skipped, entries.size(), count);
    REQUIRE(static_cast<double>(entries.size()) >=
            0.8 * static_cast<double>(std::min(count, Index(candidates.size()))));
    const Matrix<double> numerical =
        Eigen::Map<const Matrix<double>>(numerical_values.data(), static_cast<Index>(numerical_values.size()), 1);
    const Matrix<double> analytic = reference::gather_entries(*checked.analytic, entries);
    if (checked.zero_by_theory) {
      // Both must be zero here, where a relative error would only compare rounding noise (the difference's is
      // near 1e-10 at full size); a backward that forgot the mean's share of the gradient would not be zero.
      CAPTURE(max_abs(*checked.analytic), max_abs(numerical));
      REQUIRE(max_abs(*checked.analytic) < 1e-12);
      REQUIRE(max_abs(numerical) < 1e-8);
      continue;
    }
    const double error = reference::max_relative_error(analytic, numerical);
    CAPTURE(error, max_abs(analytic), max_abs(numerical));
    REQUIRE(error <= gradient_tolerance);
    worst_errors.record(problem.name + " d" + checked.name, error);
    REQUIRE(max_abs(analytic) > 1e-6);
    REQUIRE(max_abs(numerical) > 1e-6);
    Index largest = 0;
    analytic.col(0).cwiseAbs().maxCoeff(&largest);
    Matrix<double> off_by_a_little = analytic;
    off_by_a_little(largest) *= 1 + 1e-4;
    REQUIRE(reference::max_relative_error(off_by_a_little, numerical) > 10 * gradient_tolerance);
    if (checked.regularised && problem.lambda > 0) {
      const Matrix<double> without_lambda_term =
          analytic - 2 * problem.lambda * reference::gather_entries(*checked.parameter, entries);
      REQUIRE(reference::max_relative_error(without_lambda_term, numerical) > 10 * gradient_tolerance);
    }
  }
}

}  // namespace

// Small slices as the reports check them: d 10-20 of the pixels, n 2-5 examples. With batch normalisation n is
// at least 3: with n = 2 each unit's two normalised values are +-1 whatever W is, so dJ/dW would be only the
// lambda term and the check would prove little.
TEST_CASE("k-layer reference: 2 layers without batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(15, {12}, 2, false, 0.1, 1);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: 2 layers with batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(15, {12}, 4, true, 0.1, 2);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: 3 layers without batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(20, {12, 8}, 5, false, 0.05, 3);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: 3 layers with batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(20, {12, 8}, 5, true, 0.05, 4);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: 4 layers without batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(10, {10, 8, 6}, 3, false, 0.1, 5);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: 4 layers with batch norm match central differences", "[reference][k_layer]") {
  Problem problem = make_problem(10, {10, 8, 6}, 3, true, 0.1, 6);
  check_against_central_differences(problem);
}

TEST_CASE("k-layer reference: a full batch (3072 x 100), 3 layers with batch norm, matches central differences",
          "[reference][k_layer][full_batch]") {
  Problem problem = make_problem(3072, {50, 50}, 100, true, 0.005, 7);
  check_against_central_differences(problem, 20);
}

TEST_CASE("k-layer reference: a full batch (3072 x 100), 3 layers without batch norm, matches central differences",
          "[reference][k_layer][full_batch]") {
  Problem problem = make_problem(3072, {50, 50}, 100, false, 0.005, 8);
  check_against_central_differences(problem, 20);
}

TEST_CASE("k-layer reference: the closed-form batch-norm backward matches central differences of sum(G .* s^)",
          "[reference][k_layer]") {
  Generator generator(9);
  const double eps = reference::k_layer_default_eps;
  Matrix<double> scores = normal_matrix(6, 5, 0.3, 2.0, generator);
  const Matrix<double> upstream = normal_matrix(6, 5, 0.0, 1.0, generator);
  // s^ of the current scores, with their own batch statistics.
  const auto normalised = [&] {
    const Matrix<double> mean = scores.rowwise().mean();
    const Matrix<double> centred = scores.colwise() - mean.col(0);
    const Eigen::ArrayXd inverse_std = (centred.array().square().rowwise().mean() + eps).rsqrt();
    return Matrix<double>((centred.array().colwise() * inverse_std).matrix());
  };
  const reference::CostFunction cost = [&] { return (upstream.array() * normalised().array()).sum(); };
  const Matrix<double> mean = scores.rowwise().mean();
  const Matrix<double> variance = (scores.colwise() - mean.col(0)).array().square().rowwise().mean().matrix();
  const Matrix<double> analytic = reference::batch_norm_backward<double>(upstream, scores, mean, variance, eps);
  const Matrix<double> numerical = reference::numerical_gradient(cost, scores, difference);
  CAPTURE(analytic, numerical);
  REQUIRE(reference::max_relative_error(analytic, numerical) <= gradient_tolerance);
  REQUIRE(max_abs(analytic) > 1e-3);
  // The gradient of a normalised row sums to 0 along the batch and is orthogonal to its centred scores.
  REQUIRE(max_abs(analytic.rowwise().sum()) < 1e-12);
  // Dropping the variance's term (the -(1/n) D .* (c 1^T)) is caught.
  const Matrix<double> mean_term_only =
      (upstream.array().colwise() * (variance.array() + eps).rsqrt().col(0)).matrix().colwise() -
      (upstream.array().colwise() * (variance.array() + eps).rsqrt().col(0)).matrix().rowwise().mean();
  REQUIRE(reference::max_relative_error(mean_term_only, numerical) > 1e-2);
}

TEST_CASE("k-layer reference: evaluation with the batch's own statistics gives the training forward pass",
          "[reference][k_layer]") {
  Problem problem = make_problem(12, {9, 7}, 6, true, 0.0, 10);
  const auto training = reference::k_layer_forward(problem.network, problem.inputs);
  const auto evaluation = reference::k_layer_forward(problem.network, problem.inputs, training.statistics);
  REQUIRE(training.output_scores == evaluation.output_scores);
  // Each hidden layer's s^ has batch mean 0 and variance 1 (eps is negligible at this scale).
  for (const Matrix<double>& s_hat : training.normalised) {
    REQUIRE(max_abs(s_hat.rowwise().mean()) < 1e-12);
    REQUIRE(max_abs(s_hat.array().square().rowwise().mean().matrix().array() - 1.0) < 1e-10);
  }
  // Other statistics change the result: the evaluation path really reads them.
  auto shifted = training.statistics;
  shifted.means[0].array() += 0.5;
  const auto other = reference::k_layer_forward(problem.network, problem.inputs, shifted);
  REQUIRE(max_abs(other.output_scores - training.output_scores) > 1e-3);
  // The statistics of a set are those of the training forward pass over it.
  const auto statistics = reference::k_layer_batch_statistics(problem.network, problem.inputs);
  REQUIRE(statistics.means[1] == training.statistics.means[1]);
  REQUIRE(statistics.variances[1] == training.statistics.variances[1]);
}

TEST_CASE("k-layer reference: without batch norm the ReLU sees s_l and no statistics are kept",
          "[reference][k_layer]") {
  Problem problem = make_problem(12, {9, 7}, 4, false, 0.0, 11);
  const auto forward = reference::k_layer_forward(problem.network, problem.inputs);
  REQUIRE(forward.pre_activations.size() == 2);
  REQUIRE(forward.pre_activations[1] == forward.scores[1]);
  REQUIRE(forward.statistics.means.empty());
  REQUIRE(forward.activations[0] == forward.scores[0].cwiseMax(0.0));
  // By hand: s = W_3 max(0, W_2 max(0, W_1 X + b_1) + b_2) + b_3.
  const Parameters& p = problem.network;
  const Matrix<double> x1 = ((p.weights[0] * problem.inputs).colwise() + p.biases[0].col(0)).cwiseMax(0.0);
  const Matrix<double> x2 = ((p.weights[1] * x1).colwise() + p.biases[1].col(0)).cwiseMax(0.0);
  const Matrix<double> s = (p.weights[2] * x2).colwise() + p.biases[2].col(0);
  REQUIRE(max_abs(forward.output_scores - s) < 1e-12);
}

TEST_CASE(
    "k-layer reference: running statistics start from the first batch, then mu_av = alpha mu_av + (1-alpha) mu",
    "[reference][k_layer]") {
  reference::BatchStatistics<double> first{{Matrix<double>::Constant(3, 1, 1.0)},
                                           {Matrix<double>::Constant(3, 1, 4.0)}};
  reference::BatchStatistics<double> second{{Matrix<double>::Constant(3, 1, 3.0)},
                                            {Matrix<double>::Constant(3, 1, 2.0)}};
  reference::BatchStatistics<double> average;
  reference::update_running_statistics(average, first, 0.9);
  REQUIRE(average.means[0] == first.means[0]);
  reference::update_running_statistics(average, second, 0.9);
  REQUIRE(average.means[0](0) == Approx(0.9 * 1.0 + 0.1 * 3.0));
  REQUIRE(average.variances[0](2) == Approx(0.9 * 4.0 + 0.1 * 2.0));
  REQUIRE_THROWS_WITH(reference::update_running_statistics(average, second, 1.5), Contains("alpha"));
  reference::BatchStatistics<double> two_layers{{first.means[0], first.means[0]},
                                                {first.means[0], first.means[0]}};
  REQUIRE_THROWS_AS(reference::update_running_statistics(average, two_layers, 0.9), reference::ArgumentError);
}

TEST_CASE("k-layer reference: float agrees with double", "[reference][k_layer]") {
  Problem problem = make_problem(20, {12, 8}, 5, true, 0.01, 12);
  reference::KLayerParameters<float> single;
  const auto to_float = [](const std::vector<Matrix<double>>& matrices) {
    std::vector<Matrix<float>> converted;
    for (const auto& m : matrices) converted.push_back(m.cast<float>());
    return converted;
  };
  single.weights = to_float(problem.network.weights);
  single.biases = to_float(problem.network.biases);
  single.gammas = to_float(problem.network.gammas);
  single.betas = to_float(problem.network.betas);
  // A larger eps for float: 2.2e-16 is below float's resolution of any variance, which is harmless, but the
  // comparison wants the same function in both.
  const auto in_double = reference::k_layer_gradients(problem.network, problem.inputs, problem.labels, 0.01, 1e-8);
  const Matrix<float> inputs = problem.inputs.cast<float>();
  const auto in_float = reference::k_layer_gradients<float>(single, inputs, problem.labels, 0.01f, 1e-8f);
  REQUIRE(in_float.cost == Approx(in_double.cost).epsilon(1e-5));
  for (std::size_t l = 0; l < 3; ++l) {
    REQUIRE(max_abs(in_float.gradients.weights[l].cast<double>() - in_double.gradients.weights[l]) < 1e-4);
  }
  REQUIRE(max_abs(in_float.gradients.gammas[1].cast<double>() - in_double.gradients.gammas[1]) < 1e-4);
}

TEST_CASE("k-layer reference: bad arguments are errors that name what is wrong", "[reference][k_layer]") {
  Problem problem = make_problem(12, {9, 7}, 4, true, 0.0, 13);
  const auto cost = [&](const Parameters& network, double lambda = 0.0, double eps = 1e-10) {
    return reference::k_layer_cost(network, problem.inputs, problem.labels, lambda, eps);
  };
  REQUIRE_NOTHROW(cost(problem.network));

  Parameters wrong = problem.network;
  wrong.weights[1] = Matrix<double>::Zero(7, 8);
  REQUIRE_THROWS_WITH(cost(wrong), Contains("W2") && Contains("(7 x 8)") && Contains("(7 x 9)"));
  wrong = problem.network;
  wrong.gammas.pop_back();
  REQUIRE_THROWS_WITH(cost(wrong), Contains("gammas") && Contains("one per hidden layer, 2"));
  wrong = problem.network;
  wrong.betas[0] = Matrix<double>::Zero(9, 2);
  REQUIRE_THROWS_WITH(cost(wrong), Contains("beta1"));
  wrong = problem.network;
  wrong.biases.pop_back();
  REQUIRE_THROWS_WITH(cost(wrong), Contains("biases"));
  REQUIRE_THROWS_WITH(cost(Parameters{}), Contains("number of layers"));
  REQUIRE_THROWS_WITH(cost(problem.network, -1.0), Contains("lambda"));
  REQUIRE_THROWS_WITH(cost(problem.network, 0.0, 0.0), Contains("eps") && Contains("> 0"));
  REQUIRE_THROWS_WITH(cost(problem.network, 0.0, std::nan("")), Contains("eps"));

  std::vector<int> bad_labels = problem.labels;
  bad_labels[1] = 10;
  REQUIRE_THROWS_WITH(reference::k_layer_gradients(problem.network, problem.inputs, bad_labels, 0.0),
                      Contains("label 10"));
  const Matrix<double> wrong_inputs = Matrix<double>::Zero(11, 4);
  REQUIRE_THROWS_WITH(reference::k_layer_forward(problem.network, wrong_inputs), Contains("W1"));

  reference::BatchStatistics<double> statistics =
      reference::k_layer_batch_statistics(problem.network, problem.inputs);
  statistics.variances[1](0) = -1;
  REQUIRE_THROWS_WITH(reference::k_layer_forward(problem.network, problem.inputs, statistics), Contains("v2"));
  statistics.means.pop_back();
  REQUIRE_THROWS_WITH(reference::k_layer_forward(problem.network, problem.inputs, statistics), Contains("means"));
}

namespace {

// The tape's side: the network as a user builds it from the library, holding the reference's parameter values.
struct TapeNetwork {
  std::shared_ptr<tapegrad::nn::Sequential<double>> model = std::make_shared<tapegrad::nn::Sequential<double>>();
  std::vector<std::shared_ptr<tapegrad::nn::Linear<double>>> linears;
  std::vector<std::shared_ptr<tapegrad::nn::BatchNorm<double>>> norms;
};

TapeNetwork tape_network(const Parameters& parameters, double eps) {
  namespace nn = tapegrad::nn;
  TapeNetwork network;
  Generator unused(0);  // the values are overwritten with the reference's below
  tapegrad::nn::BatchNormOptions options = tapegrad::nn::BatchNormOptions::course();
  options.eps = eps;
  for (std::size_t layer = 1; layer <= parameters.layers(); ++layer) {
    const Matrix<double>& W = parameters.weights[layer - 1];
    auto linear = network.model->emplace_back<nn::Linear<double>>(W.cols(), W.rows(), nn::LinearOptions{}, unused);
    linear->weight().mutable_value() = W;
    linear->bias().mutable_value() = parameters.biases[layer - 1];
    network.linears.push_back(linear);
    if (layer == parameters.layers()) break;
    if (parameters.batch_normalised()) {
      auto norm = network.model->emplace_back<nn::BatchNorm<double>>(W.rows(), options);
      norm->gamma().mutable_value() = parameters.gammas[layer - 1];
      norm->beta().mutable_value() = parameters.betas[layer - 1];
      network.norms.push_back(norm);
    }
    network.model->emplace_back<nn::ReLU<double>>();
  }
  return network;
}

// J on the tape: mean cross-entropy + lambda times the squared Linear weights only (BatchNorm's gamma is also
// called "weight", and the cost does not penalise it).
double tape_backward(TapeNetwork& network, const Problem& problem) {
  network.model->train();
  network.model->zero_grad();
  const tapegrad::Tensor<double> inputs = tapegrad::Tensor<double>::from(problem.inputs);
  const tapegrad::Tensor<double> scores = network.model->forward(inputs);
  std::vector<tapegrad::Tensor<double>> weights;
  for (const auto& linear : network.linears) weights.push_back(linear->weight());
  const tapegrad::Tensor<double> cost = tapegrad::cross_entropy_with_logits(scores, problem.labels) +
                                        tapegrad::nn::l2_penalty(weights, problem.lambda);
  cost.backward();
  return cost.value()(0, 0);
}

// The reports' relative error with its usual floor: entries far below the gradient's scale (dW1 under batch
// normalisation has many near 1e-9, where the backward's cancellations leave rounding of 1e-19) are judged
// against 1e-6 rather than against themselves.
double max_relative(const Matrix<double>& a, const Matrix<double>& b) {
  return reference::max_relative_error(a, b);
}

void check_tape_against_reference(Problem& problem) {
  constexpr double tape_tolerance = 1e-10;
  const double eps = reference::k_layer_default_eps;
  const auto expected =
      reference::k_layer_gradients(problem.network, problem.inputs, problem.labels, problem.lambda, eps);
  TapeNetwork network = tape_network(problem.network, eps);
  const double cost = tape_backward(network, problem);
  INFO(problem.name);
  REQUIRE(std::abs(cost - expected.cost) <= tape_tolerance * std::abs(expected.cost));
  const auto& g = expected.gradients;
  for (std::size_t l = 0; l < problem.network.layers(); ++l) {
    const std::string layer = std::to_string(l + 1);
    const double weight_error = max_relative(network.linears[l]->weight().grad(), g.weights[l]);
    CAPTURE(layer, weight_error);
    REQUIRE(weight_error <= tape_tolerance);
    REQUIRE(max_abs(g.weights[l]) > 1e-6);
    worst_errors.record("tape vs reference " + problem.name + " dW" + layer, weight_error);
    // db_l under batch normalisation is zero up to rounding on both sides: compare absolutely.
    const Matrix<double>& tape_bias = network.linears[l]->bias().grad();
    if (problem.network.batch_normalised() && l + 1 < problem.network.layers()) {
      REQUIRE(max_abs(tape_bias) < 1e-12);
      REQUIRE(max_abs(g.biases[l]) < 1e-12);
    } else {
      const double bias_error = max_relative(tape_bias, g.biases[l]);
      CAPTURE(bias_error);
      REQUIRE(bias_error <= tape_tolerance);
      REQUIRE(max_abs(g.biases[l]) > 1e-6);
    }
  }
  for (std::size_t l = 0; l < network.norms.size(); ++l) {
    const std::string layer = std::to_string(l + 1);
    const double gamma_error = max_relative(network.norms[l]->gamma().grad(), g.gammas[l]);
    const double beta_error = max_relative(network.norms[l]->beta().grad(), g.betas[l]);
    CAPTURE(layer, gamma_error, beta_error);
    REQUIRE(gamma_error <= tape_tolerance);
    REQUIRE(beta_error <= tape_tolerance);
    REQUIRE(max_abs(g.gammas[l]) > 1e-6);
    REQUIRE(max_abs(g.betas[l]) > 1e-6);
    worst_errors.record("tape vs reference " + problem.name + " dgamma" + layer, gamma_error);
    worst_errors.record("tape vs reference " + problem.name + " dbeta" + layer, beta_error);
    // The running statistics the layer kept are the batch's (the course starts the average from it).
    REQUIRE(max_abs(network.norms[l]->running_mean().value() - expected.statistics.means[l]) < 1e-12);
    REQUIRE(max_abs(network.norms[l]->running_var().value() - expected.statistics.variances[l]) < 1e-12);
  }
  REQUIRE(network.norms.size() == problem.network.gammas.size());
}

}  // namespace

TEST_CASE("k-layer tape: nn::Sequential of Linear, BatchNorm, ReLU matches the reference for 2-4 layers",
          "[reference][k_layer][tape]") {
  const bool batch_norm = GENERATE(false, true);
  Problem two = make_problem(15, {12}, 4, batch_norm, 0.1, 21);
  Problem three = make_problem(20, {12, 8}, 5, batch_norm, 0.05, 22);
  Problem four = make_problem(10, {10, 8, 6}, 3, batch_norm, 0.1, 23);
  check_tape_against_reference(two);
  check_tape_against_reference(three);
  check_tape_against_reference(four);
}

TEST_CASE("k-layer tape: a full batch (3072 x 100), 3 layers, matches the reference",
          "[reference][k_layer][tape]") {
  const bool batch_norm = GENERATE(false, true);
  Problem problem = make_problem(3072, {50, 50}, 100, batch_norm, 0.005, 24);
  check_tape_against_reference(problem);
}

TEST_CASE("k-layer tape: in evaluation BatchNorm uses its running statistics as the reference does",
          "[reference][k_layer][tape]") {
  Problem problem = make_problem(12, {9, 7}, 6, true, 0.0, 25);
  const double eps = reference::k_layer_default_eps;
  TapeNetwork network = tape_network(problem.network, eps);
  // Two training batches: the first starts the averages, the second moves them by alpha = 0.9.
  Problem second = problem;
  Generator generator(26);
  second.inputs = normal_matrix(12, 6, 0.5, 2.0, generator);
  tape_backward(network, problem);
  tape_backward(network, second);
  reference::BatchStatistics<double> average;
  reference::update_running_statistics(average,
                                       reference::k_layer_batch_statistics(problem.network, problem.inputs), 0.9);
  reference::update_running_statistics(average,
                                       reference::k_layer_batch_statistics(problem.network, second.inputs), 0.9);
  network.model->eval();
  const Matrix<double> tape_scores =
      network.model->forward(tapegrad::Tensor<double>::from(problem.inputs)).value();
  const auto expected = reference::k_layer_forward(problem.network, problem.inputs, average, eps);
  REQUIRE(max_relative(tape_scores, expected.output_scores) <= 1e-10);
  REQUIRE(max_abs(expected.output_scores -
                  reference::k_layer_forward(problem.network, problem.inputs).output_scores) > 1e-3);
}

TEST_CASE("k-layer tape: batch statistics of a whole data set are the reference's over the whole set",
          "[reference][k_layer][tape]") {
  // 37 images of 3 x 2 x 2 pixels, in chunks of 8 (the last one short): the statistics must not depend on chunks.
  tapegrad::data::ImageDataset dataset;
  dataset.shape = {3, 2, 2};
  dataset.class_names = {"a", "b", "c"};
  Generator generator(31);
  dataset.pixels.resize(12, 37);
  for (Index j = 0; j < dataset.pixels.cols(); ++j) {
    for (Index i = 0; i < dataset.pixels.rows(); ++i) {
      dataset.pixels(i, j) = static_cast<std::uint8_t>(generator.uniform(0.0, 255.99));
    }
    dataset.labels.push_back(static_cast<int>(j % 3));
  }
  const auto normalizer = tapegrad::data::Normalizer::fitted(dataset);
  const Matrix<double> inputs = normalizer.apply<double>(dataset.pixels);
  Problem problem = make_problem(12, {9, 7, 5}, 37, true, 0.0, 32);
  const double eps = reference::k_layer_default_eps;
  TapeNetwork network = tape_network(problem.network, eps);
  tape_backward(network, problem);  // the running averages now hold one batch's statistics, not the whole set's
  const int layers = tapegrad::train::set_batch_norm_statistics_from_data(*network.model, dataset, normalizer, 8);
  REQUIRE(layers == 3);
  REQUIRE(network.model->is_training());  // the mode is put back
  const auto expected = reference::k_layer_batch_statistics(problem.network, inputs, eps);
  for (std::size_t l = 0; l < network.norms.size(); ++l) {
    CAPTURE(l);
    REQUIRE(max_relative(network.norms[l]->running_mean().value(), expected.means[l]) <= 1e-12);
    REQUIRE(max_relative(network.norms[l]->running_var().value(), expected.variances[l]) <= 1e-12);
    REQUIRE(max_abs(expected.variances[l]) > 1e-3);
  }
  // Evaluating with them is the training-mode forward pass over the whole set.
  network.model->eval();
  const Matrix<double> scores = network.model->forward(tapegrad::Tensor<double>::from(inputs)).value();
  REQUIRE(max_relative(scores, reference::k_layer_forward(problem.network, inputs, eps).output_scores) <= 1e-10);
}
