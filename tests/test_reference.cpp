// The reference path: the reports' hand-derived gradients against central differences, at hand-computed points,
// at extreme logits, in float against double, and the helpers around them (targets, SGD, evaluation).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/nn/reference/evaluation.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/logistic_regression.h>
#include <tapegrad/nn/reference/numerical_gradient.h>
#include <tapegrad/nn/reference/sgd.h>
#include <tapegrad/nn/reference/sigmoid_regression.h>
#include <tapegrad/nn/reference/softmax_regression.h>
#include <tapegrad/nn/reference/two_layer_network.h>

namespace reference = tapegrad::reference;
using Catch::Matchers::Contains;
using Eigen::Index;
using reference::Matrix;
using tapegrad::Generator;

namespace {

// The pass mark of every gradient check, as in the reports.
constexpr double gradient_tolerance = 1e-6;

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
      std::printf("worst relative error %-28s %.3e\n", gradient.c_str(), error);
  }

 private:
  std::map<std::string, double> worst_;
};
WorstErrors worst_errors;

Matrix<double> normal_matrix(Index rows, Index cols, double stddev, Generator& generator) {
  Matrix<double> matrix(rows, cols);
  for (Index i = 0; i < matrix.size(); ++i) matrix(i) = generator.normal(0.0, stddev);
  return matrix;
}

std::vector<int> random_labels(Index examples, Index classes, Generator& generator) {
  std::vector<int> labels(static_cast<std::size_t>(examples));
  for (int& label : labels) label = static_cast<int>(generator.below(static_cast<std::uint64_t>(classes)));
  return labels;
}

Matrix<double> one_hot(const std::vector<int>& labels, Index classes) {
  Matrix<double> targets = Matrix<double>::Zero(classes, static_cast<Index>(labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) targets(labels[i], static_cast<Index>(i)) = 1;
  return targets;
}

// The logistic regression's targets y (1 x n): the labels 0 and 1 as a row.
Matrix<double> binary_row(const std::vector<int>& labels) {
  Matrix<double> row(1, static_cast<Index>(labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) row(0, static_cast<Index>(i)) = labels[i];
  return row;
}

Matrix<double> column(std::initializer_list<double> values) {
  Matrix<double> matrix(static_cast<Index>(values.size()), 1);
  Index i = 0;
  for (double value : values) matrix(i++) = value;
  return matrix;
}

double max_abs(const Matrix<double>& matrix) { return matrix.cwiseAbs().maxCoeff(); }

class SingleThreadedProducts {
 public:
  SingleThreadedProducts() : previous_(Eigen::nbThreads()) { Eigen::setNbThreads(1); }
  ~SingleThreadedProducts() { Eigen::setNbThreads(previous_); }
  SingleThreadedProducts(const SingleThreadedProducts&) = delete;
  SingleThreadedProducts& operator=(const SingleThreadedProducts&) = delete;

 private:
  int previous_;
};

// The default four-point difference; the two-layer network's checks keep its stencil (2h) away from the kinks.
constexpr reference::CentralDifference difference{};
constexpr double stencil_radius = 2 * difference.step;

// One parameter whose analytic gradient is checked; `sampled_entries` = 0 checks every entry. `smooth_at`, when
// set, says which entries have no kink within the stencil: only those are compared, and they must be most.
struct CheckedGradient {
  std::string name;
  Matrix<double>* parameter;
  Matrix<double> analytic;
  bool regularised;  // the cost holds lambda ||parameter||^2
  Index sampled_entries = 0;
  std::function<bool(Index)> smooth_at = nullptr;
};

std::vector<Index> entries_to_check(const CheckedGradient& gradient, Generator& generator) {
  std::vector<Index> candidates;
  for (Index i = 0; i < gradient.analytic.size(); ++i) {
    if (!gradient.smooth_at || gradient.smooth_at(i)) candidates.push_back(i);
  }
  REQUIRE(candidates.size() >= 0.8 * static_cast<double>(gradient.analytic.size()));
  const Index count = gradient.sampled_entries > 0 ? gradient.sampled_entries : gradient.analytic.size();
  std::vector<Index> entries;
  for (Index k : reference::sample_entries(static_cast<Index>(candidates.size()), count, generator)) {
    entries.push_back(candidates[static_cast<std::size_t>(k)]);
  }
  return entries;
}

// Holds each analytic gradient against central differences of `cost`, and shows that the check has teeth: the
// gradient is not all zero, a 1e-4 relative error in its largest sampled entry is caught, and when lambda > 0 so
// is the gradient with the 2 lambda W term dropped.
void check_gradients(const std::string& model, const reference::CostFunction& cost,
                     std::vector<CheckedGradient> gradients, double lambda, Generator& generator) {
  // Hundreds of cost evaluations on small products: threads would only add synchronisation, and on a busy
  // machine their spinning costs far more than the products.
  const SingleThreadedProducts single_threaded;
  for (CheckedGradient& gradient : gradients) {
    INFO(model << ": gradient of " << gradient.name);
    const auto entries = entries_to_check(gradient, generator);
    const Matrix<double> numerical =
        reference::numerical_gradient_at(cost, *gradient.parameter, entries, difference);
    const Matrix<double> analytic = reference::gather_entries(gradient.analytic, entries);
    const double error = reference::max_relative_error(analytic, numerical);
    CAPTURE(error);
    REQUIRE(error <= gradient_tolerance);
    REQUIRE(max_abs(gradient.analytic) > 1e-6);
    worst_errors.record(model + " d" + gradient.name, error);

    Index largest = 0;
    analytic.col(0).cwiseAbs().maxCoeff(&largest);
    Matrix<double> off_by_a_little = analytic;
    off_by_a_little(largest) *= 1 + 1e-4;
    REQUIRE(reference::max_relative_error(off_by_a_little, numerical) > 10 * gradient_tolerance);
    if (gradient.regularised && lambda > 0) {
      const Matrix<double> without_lambda_term =
          analytic - 2 * lambda * reference::gather_entries(*gradient.parameter, entries);
      REQUIRE(reference::max_relative_error(without_lambda_term, numerical) > 10 * gradient_tolerance);
    }
  }
}

// Inputs of the shapes the reports use: X ~ N(0, 1) like normalised pixels, W ~ N(0, weight_scale^2).
struct LinearProblem {
  Matrix<double> weights;
  Matrix<double> bias;
  Matrix<double> inputs;
  std::vector<int> labels;
};

LinearProblem linear_problem(Index classes, Index dimensions, Index examples, double weight_scale,
                             Generator& generator) {
  LinearProblem problem;
  problem.weights = normal_matrix(classes, dimensions, weight_scale, generator);
  problem.bias = normal_matrix(classes, 1, weight_scale, generator);
  problem.inputs = normal_matrix(dimensions, examples, 1.0, generator);
  problem.labels = random_labels(examples, classes, generator);
  return problem;
}

struct TwoLayerProblem {
  Matrix<double> first_weights;
  Matrix<double> first_bias;
  Matrix<double> second_weights;
  Matrix<double> second_bias;
  Matrix<double> inputs;
  std::vector<int> labels;
};

// W1, b1 ~ N(0, first_scale^2), W2, b2 ~ N(0, second_scale^2), X ~ N(0, 1).
TwoLayerProblem two_layer_problem(Index dimensions, Index hidden, Index classes, Index examples,
                                  double first_scale, double second_scale, Generator& generator) {
  TwoLayerProblem problem;
  problem.first_weights = normal_matrix(hidden, dimensions, first_scale, generator);
  problem.first_bias = normal_matrix(hidden, 1, first_scale, generator);
  problem.second_weights = normal_matrix(classes, hidden, second_scale, generator);
  problem.second_bias = normal_matrix(classes, 1, second_scale, generator);
  problem.inputs = normal_matrix(dimensions, examples, 1.0, generator);
  problem.labels = random_labels(examples, classes, generator);
  return problem;
}

void softmax_regression_check(LinearProblem& problem, double lambda, Index sampled_weights, Generator& generator) {
  const Matrix<double> targets = one_hot(problem.labels, problem.weights.rows());
  const auto result =
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, lambda);
  const auto cost = [&] {
    return reference::softmax_regression_cost(problem.weights, problem.bias, problem.inputs, targets, lambda).cost;
  };
  check_gradients("softmax regression", cost,
                  {{"W", &problem.weights, result.gradient.weights, true, sampled_weights},
                   {"b", &problem.bias, result.gradient.bias, false}},
                  lambda, generator);
}

// `targets` null: one-hot targets of the problem's labels.
void sigmoid_regression_check(LinearProblem& problem, const Matrix<double>* targets, double lambda,
                              Index sampled_weights, Generator& generator) {
  const Matrix<double> Y = targets ? *targets : one_hot(problem.labels, problem.weights.rows());
  const auto result =
      reference::sigmoid_regression_gradients(problem.weights, problem.bias, problem.inputs, Y, lambda);
  const auto cost = [&] {
    return reference::sigmoid_regression_cost(problem.weights, problem.bias, problem.inputs, Y, lambda).cost;
  };
  check_gradients("sigmoid regression", cost,
                  {{"W", &problem.weights, result.gradient.weights, true, sampled_weights},
                   {"b", &problem.bias, result.gradient.bias, false}},
                  lambda, generator);
}

void two_layer_check(TwoLayerProblem& problem, double lambda, Index sampled_weights, Generator& generator) {
  const Matrix<double> targets = one_hot(problem.labels, problem.second_weights.rows());
  const auto result =
      reference::two_layer_gradients(problem.first_weights, problem.first_bias, problem.second_weights,
                                     problem.second_bias, problem.inputs, targets, lambda);
  const auto cost = [&] {
    return reference::two_layer_cost(problem.first_weights, problem.first_bias, problem.second_weights,
                                     problem.second_bias, problem.inputs, targets, lambda)
        .cost;
  };
  // Moving W1(j, i) by up to r moves the pre-activation z(j, e) by up to r |x(i, e)|, and b1(j) moves it by r:
  // where that can reach zero, a ReLU switches inside the stencil and central differences do not measure the
  // derivative. Those entries are left out (entries_to_check requires that they are few).
  Matrix<double> pre_activations = problem.first_weights * problem.inputs;
  pre_activations.colwise() += problem.first_bias.col(0);
  const Index hidden = problem.first_weights.rows();
  const auto weight_smooth_at = [&](Index entry) {
    const Index unit = entry % hidden;
    const Index input = entry / hidden;
    return (pre_activations.row(unit).array().abs() > stencil_radius * problem.inputs.row(input).array().abs())
        .all();
  };
  const auto bias_smooth_at = [&](Index unit) {
    return pre_activations.row(unit).cwiseAbs().minCoeff() > stencil_radius;
  };
  check_gradients(
      "two-layer network", cost,
      {{"W1", &problem.first_weights, result.first_layer.weights, true, sampled_weights, weight_smooth_at},
       {"b1", &problem.first_bias, result.first_layer.bias, false, 0, bias_smooth_at},
       {"W2", &problem.second_weights, result.second_layer.weights, true, sampled_weights},
       {"b2", &problem.second_bias, result.second_layer.bias, false}},
      lambda, generator);
}

// Logistic regression keeps w as a column (d x 1) and labels 0/1.
void logistic_regression_check(LinearProblem& problem, double lambda, Generator& generator) {
  const Matrix<double> targets = binary_row(problem.labels);
  const auto result =
      reference::logistic_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, lambda);
  const auto cost = [&] {
    return reference::logistic_regression_cost(problem.weights, problem.bias, problem.inputs, targets, lambda)
        .cost;
  };
  check_gradients(
      "logistic regression", cost,
      {{"w", &problem.weights, result.gradient.weights, true}, {"b", &problem.bias, result.gradient.bias, false}},
      lambda, generator);
}

LinearProblem logistic_problem(Index dimensions, Index examples, double weight_scale, Generator& generator) {
  LinearProblem problem;
  problem.weights = normal_matrix(dimensions, 1, weight_scale, generator);
  problem.bias = normal_matrix(1, 1, weight_scale, generator);
  problem.inputs = normal_matrix(dimensions, examples, 1.0, generator);
  problem.labels = random_labels(examples, 2, generator);
  return problem;
}

// The reports' small checks: d = 10 or 20, n = 1, 2, 3, with and without regularisation, small and large weights.
struct SmallCheck {
  Index dimensions;
  Index examples;
  double lambda;
  double weight_scale;
  std::uint64_t seed;
};

std::vector<SmallCheck> small_checks() {
  std::vector<SmallCheck> checks;
  std::uint64_t seed = 100;
  for (Index dimensions : {10, 20}) {
    for (Index examples : {1, 2, 3}) {
      for (double lambda : {0.0, 0.1}) {
        for (double weight_scale : {0.01, 1.0})
          checks.push_back({dimensions, examples, lambda, weight_scale, ++seed});
      }
    }
  }
  return checks;
}

double relative_difference(const Matrix<double>& value, const Matrix<double>& expected) {
  return max_abs(value - expected) / max_abs(expected);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Softmax regression

TEST_CASE("softmax regression: zero parameters give a loss of log K and db = 1/K - label frequency",
          "[reference][softmax]") {
  Generator generator(1);
  const Index classes = 10;
  const Index examples = 3;
  const Matrix<double> weights = Matrix<double>::Zero(classes, 20);
  const Matrix<double> bias = Matrix<double>::Zero(classes, 1);
  const Matrix<double> inputs = normal_matrix(20, examples, 1.0, generator);
  const std::vector<int> labels = {3, 7, 3};
  const auto result =
      reference::softmax_regression_gradients(weights, bias, inputs, one_hot(labels, classes), 0.5);
  CHECK(std::abs(result.loss - std::log(10.0)) < 1e-15);
  CHECK(result.cost == result.loss);  // W = 0: the L2 term vanishes
  for (Index k = 0; k < classes; ++k) {
    const double frequency = (k == 3 ? 2.0 : k == 7 ? 1.0 : 0.0) / examples;
    CHECK(std::abs(result.gradient.bias(k) - (0.1 - frequency)) < 1e-16);
  }
}

TEST_CASE("softmax regression: one example, two classes, computed by hand", "[reference][softmax]") {
  // s = W x + b = (1*2 + 0.5*(-1) + 0.5, -1*2 + 0.25*(-1) - 0.25) = (2, -2.5), label 1.
  Matrix<double> weights(2, 2);
  weights << 1.0, 0.5, -1.0, 0.25;
  const Matrix<double> bias = column({0.5, -0.25});
  const Matrix<double> inputs = column({2.0, -1.0});
  const std::vector<int> labels = {1};
  const double lambda = 0.1;
  const double p0 = 1 / (1 + std::exp(-4.5));  // softmax of (2, -2.5)
  const double p1 = 1 - p0;
  const auto result = reference::softmax_regression_gradients(weights, bias, inputs, one_hot(labels, 2), lambda);
  CHECK(result.loss == Approx(std::log(1 + std::exp(4.5))).epsilon(1e-14));
  CHECK(result.cost == Approx(std::log(1 + std::exp(4.5)) + 0.1 * (1 + 0.25 + 1 + 0.0625)).epsilon(1e-14));
  Matrix<double> expected_weights(2, 2);
  expected_weights << p0 * 2 + 0.2 * 1.0, p0 * -1 + 0.2 * 0.5, (p1 - 1) * 2 + 0.2 * -1.0,
      (p1 - 1) * -1 + 0.2 * 0.25;
  CHECK(relative_difference(result.gradient.weights, expected_weights) < 1e-14);
  CHECK(relative_difference(result.gradient.bias, column({p0, p1 - 1})) < 1e-14);
}

TEST_CASE("softmax regression gradients match central differences on the reports' small checks",
          "[reference][softmax][gradcheck]") {
  for (const SmallCheck& check : small_checks()) {
    CAPTURE(check.dimensions, check.examples, check.lambda, check.weight_scale, check.seed);
    Generator generator(check.seed);
    LinearProblem problem = linear_problem(10, check.dimensions, check.examples, check.weight_scale, generator);
    softmax_regression_check(problem, check.lambda, 0, generator);
  }
}

TEST_CASE("softmax regression gradients match central differences at full size (d 3072, n 100, K 10)",
          "[reference][softmax][gradcheck]") {
  for (const auto& [weight_scale, lambda, seed] : {std::tuple{0.01, 0.0, 7u}, std::tuple{0.05, 1.0, 8u}}) {
    CAPTURE(weight_scale, lambda);
    Generator generator(seed);
    LinearProblem problem = linear_problem(10, 3072, 100, weight_scale, generator);
    softmax_regression_check(problem, lambda, 200, generator);
  }
}

TEST_CASE("softmax regression: the sum instead of the mean over the batch is caught", "[reference][softmax]") {
  Generator generator(11);
  LinearProblem problem = linear_problem(10, 20, 3, 0.01, generator);
  const Matrix<double> targets = one_hot(problem.labels, 10);
  const auto result =
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, 0.0);
  const auto cost = [&] {
    return reference::softmax_regression_cost(problem.weights, problem.bias, problem.inputs, targets, 0.0).cost;
  };
  const Matrix<double> numerical = reference::numerical_gradient(cost, problem.bias);
  CHECK(reference::max_relative_error(result.gradient.bias, numerical) <= gradient_tolerance);
  CHECK(reference::max_relative_error(3 * result.gradient.bias, numerical) > 0.1);
}

TEST_CASE("softmax regression: one-hot targets of labels give the mean of -log P[y_i, i]",
          "[reference][softmax]") {
  Generator generator(12);
  LinearProblem problem = linear_problem(10, 50, 30, 0.1, generator);
  const Matrix<double> targets = reference::one_hot<double>(problem.labels, 10);
  CHECK(targets == one_hot(problem.labels, 10));
  const auto result =
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, 0.3);
  const auto cost =
      reference::softmax_regression_cost(problem.weights, problem.bias, problem.inputs, targets, 0.3);
  CHECK(cost.loss == Approx(result.loss).epsilon(1e-14));
  CHECK(cost.cost == Approx(result.cost).epsilon(1e-14));
  CHECK(result.cost == Approx(result.loss + 0.3 * problem.weights.squaredNorm()).epsilon(1e-14));
  Matrix<double> scores = problem.weights * problem.inputs;
  scores.colwise() += problem.bias.col(0);
  double mean_log = 0;
  for (Index i = 0; i < 30; ++i) {
    const double label_score = scores(problem.labels[static_cast<std::size_t>(i)], i);
    mean_log += std::log(scores.col(i).array().exp().sum()) - label_score;
  }
  CHECK(result.loss == Approx(mean_log / 30).epsilon(1e-13));
}

TEST_CASE("softmax regression with soft targets matches central differences", "[reference][softmax][gradcheck]") {
  // Columns that are probability vectors but not one-hot (label smoothing): the gradient is (sum y) P - Y.
  Generator generator(13);
  LinearProblem problem = linear_problem(10, 20, 3, 0.5, generator);
  Matrix<double> targets = one_hot(problem.labels, 10) * 0.9 + Matrix<double>::Constant(10, 3, 0.01);
  const auto result =
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, 0.1);
  const auto cost = [&] {
    return reference::softmax_regression_cost(problem.weights, problem.bias, problem.inputs, targets, 0.1).cost;
  };
  check_gradients(
      "softmax regression (soft targets)", cost,
      {{"W", &problem.weights, result.gradient.weights, true}, {"b", &problem.bias, result.gradient.bias, false}},
      0.1, generator);
}

// ---------------------------------------------------------------------------------------------------------------
// Sigmoid regression (multiple binary cross-entropy)

TEST_CASE("sigmoid regression: zero parameters give a loss of log 2 and db = (1/2 - label frequency) / K",
          "[reference][sigmoid]") {
  Generator generator(2);
  const Index classes = 10;
  const Matrix<double> weights = Matrix<double>::Zero(classes, 10);
  const Matrix<double> bias = Matrix<double>::Zero(classes, 1);
  const Matrix<double> inputs = normal_matrix(10, 2, 1.0, generator);
  const std::vector<int> labels = {4, 4};
  const auto result =
      reference::sigmoid_regression_gradients(weights, bias, inputs, one_hot(labels, classes), 0.2);
  CHECK(std::abs(result.loss - std::log(2.0)) < 1e-15);
  CHECK(result.cost == result.loss);
  for (Index k = 0; k < classes; ++k) {
    const double frequency = k == 4 ? 1.0 : 0.0;
    CHECK(std::abs(result.gradient.bias(k) - (0.5 - frequency) / classes) < 1e-16);
  }
}

TEST_CASE("sigmoid regression: one example, two classes, computed by hand", "[reference][sigmoid]") {
  // s = (2.5, -2) for label 0: loss = 1/2 [log(1 + e^-2.5) + log(1 + e^-2)].
  const Matrix<double> weights = column({1.0, -1.0});
  const Matrix<double> bias = column({0.5, 0.0});
  const Matrix<double> inputs = column({2.0}).transpose();
  const std::vector<int> labels = {0};
  const auto result = reference::sigmoid_regression_gradients(weights, bias, inputs, one_hot(labels, 2), 0.0);
  CHECK(result.loss == Approx(0.5 * (std::log(1 + std::exp(-2.5)) + std::log(1 + std::exp(-2.0)))).epsilon(1e-14));
  const double sigmoid_first = 1 / (1 + std::exp(-2.5));
  const double sigmoid_second = 1 / (1 + std::exp(2.0));
  const Matrix<double> expected_bias = column({(sigmoid_first - 1) / 2, sigmoid_second / 2});
  CHECK(relative_difference(result.gradient.bias, expected_bias) < 1e-14);
  CHECK(relative_difference(result.gradient.weights, 2 * expected_bias) < 1e-14);  // x = 2
}

TEST_CASE("sigmoid regression gradients match central differences on the reports' small checks",
          "[reference][sigmoid][gradcheck]") {
  for (const SmallCheck& check : small_checks()) {
    CAPTURE(check.dimensions, check.examples, check.lambda, check.weight_scale, check.seed);
    Generator generator(check.seed);
    LinearProblem problem = linear_problem(10, check.dimensions, check.examples, check.weight_scale, generator);
    sigmoid_regression_check(problem, nullptr, check.lambda, 0, generator);
    // Multi-label targets: several ones per column, and some all-zero columns.
    Matrix<double> targets(10, check.examples);
    for (Index i = 0; i < targets.size(); ++i) targets(i) = generator.bernoulli(0.3) ? 1.0 : 0.0;
    sigmoid_regression_check(problem, &targets, check.lambda, 0, generator);
  }
}

TEST_CASE("sigmoid regression gradients match central differences at full size (d 3072, n 100, K 10)",
          "[reference][sigmoid][gradcheck]") {
  for (const auto& [weight_scale, lambda, seed] : {std::tuple{0.01, 0.0, 17u}, std::tuple{0.05, 1.0, 18u}}) {
    CAPTURE(weight_scale, lambda);
    Generator generator(seed);
    LinearProblem problem = linear_problem(10, 3072, 100, weight_scale, generator);
    sigmoid_regression_check(problem, nullptr, lambda, 200, generator);
  }
}

TEST_CASE("sigmoid regression: the loss of one-hot targets, term by term", "[reference][sigmoid]") {
  Generator generator(19);
  LinearProblem problem = linear_problem(10, 50, 30, 0.1, generator);
  const Matrix<double> targets = reference::one_hot<double>(problem.labels, 10);
  const auto result =
      reference::sigmoid_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, 0.3);
  const auto cost =
      reference::sigmoid_regression_cost(problem.weights, problem.bias, problem.inputs, targets, 0.3);
  CHECK(cost.loss == Approx(result.loss).epsilon(1e-14));
  CHECK(cost.cost == Approx(result.cost).epsilon(1e-14));
  Matrix<double> scores = problem.weights * problem.inputs;
  scores.colwise() += problem.bias.col(0);
  double total = 0;  // -[y log p + (1 - y) log(1 - p)] with p = sigmoid(s), as written
  for (Index i = 0; i < scores.size(); ++i) {
    const double p = 1 / (1 + std::exp(-scores(i)));
    total -= targets(i) * std::log(p) + (1 - targets(i)) * std::log(1 - p);
  }
  CHECK(result.loss == Approx(total / 300).epsilon(1e-13));
}

// ---------------------------------------------------------------------------------------------------------------
// Two-layer ReLU network

TEST_CASE("two-layer network: dead hidden units give log K and no gradient to the first layer",
          "[reference][two_layer]") {
  // W1 = 0, b1 = 0: H = 0, so S = b2 = 0 whatever W2 is, and no gradient passes back through the ReLUs.
  Generator generator(3);
  const Matrix<double> first_weights = Matrix<double>::Zero(50, 20);
  const Matrix<double> first_bias = Matrix<double>::Zero(50, 1);
  const Matrix<double> second_weights = normal_matrix(10, 50, 1.0, generator);
  const Matrix<double> second_bias = Matrix<double>::Zero(10, 1);
  const Matrix<double> inputs = normal_matrix(20, 3, 1.0, generator);
  const std::vector<int> labels = {0, 5, 9};
  const double lambda = 0.25;
  const auto result = reference::two_layer_gradients(first_weights, first_bias, second_weights, second_bias,
                                                     inputs, one_hot(labels, 10), lambda);
  CHECK(std::abs(result.loss - std::log(10.0)) < 1e-15);
  CHECK(result.cost == Approx(result.loss + lambda * second_weights.squaredNorm()).epsilon(1e-14));
  CHECK(result.first_layer.weights.isZero(0));
  CHECK(result.first_layer.bias.isZero(0));
  CHECK(relative_difference(result.second_layer.weights, 2 * lambda * second_weights) < 1e-15);
  CHECK(std::abs(result.second_layer.bias(0) - (0.1 - 1.0 / 3)) < 1e-16);
}

TEST_CASE("two-layer network: one example through two hidden units, computed by hand", "[reference][two_layer]") {
  // x = 1: pre-activations (1, -1), H = (1, 0); W2 = [[1, 1], [0, 0]] gives s = (1, 0); label 0.
  const Matrix<double> first_weights = column({1.0, -1.0});
  const Matrix<double> first_bias = column({0.0, 0.0});
  Matrix<double> second_weights(2, 2);
  second_weights << 1.0, 1.0, 0.0, 0.0;
  const Matrix<double> second_bias = column({0.0, 0.0});
  const Matrix<double> inputs = column({1.0});
  const std::vector<int> labels = {0};
  const auto result = reference::two_layer_gradients(first_weights, first_bias, second_weights, second_bias,
                                                     inputs, one_hot(labels, 2), 0.0);
  const double p0 = 1 / (1 + std::exp(-1.0));
  CHECK(result.loss == Approx(std::log(1 + std::exp(-1.0))).epsilon(1e-14));
  // G2 = (p0 - 1, 1 - p0); dW2 = G2 H^T; W2^T G2 = (p0 - 1, p0 - 1), masked by H > 0 to (p0 - 1, 0).
  Matrix<double> expected_second(2, 2);
  expected_second << p0 - 1, 0, 1 - p0, 0;
  CHECK(relative_difference(result.second_layer.weights, expected_second) < 1e-14);
  CHECK(relative_difference(result.second_layer.bias, column({p0 - 1, 1 - p0})) < 1e-14);
  CHECK(relative_difference(result.first_layer.weights, column({p0 - 1, 0})) < 1e-14);
  CHECK(relative_difference(result.first_layer.bias, column({p0 - 1, 0})) < 1e-14);
}

TEST_CASE("two-layer network gradients match central differences on the reports' small checks",
          "[reference][two_layer][gradcheck]") {
  for (const SmallCheck& check : small_checks()) {
    CAPTURE(check.dimensions, check.examples, check.lambda, check.weight_scale, check.seed);
    Generator generator(check.seed);
    // weight_scale 1 stands for the reports' initialisation 1/sqrt(fan-in).
    const double first_scale = check.weight_scale == 1.0 ? 1 / std::sqrt(double(check.dimensions)) : 0.01;
    const double second_scale = check.weight_scale == 1.0 ? 1 / std::sqrt(50.0) : 0.01;
    TwoLayerProblem problem =
        two_layer_problem(check.dimensions, 50, 10, check.examples, first_scale, second_scale, generator);
    two_layer_check(problem, check.lambda, 0, generator);
  }
}

TEST_CASE("two-layer network gradients match central differences at full size (d 3072, m 50, n 100, K 10)",
          "[reference][two_layer][gradcheck]") {
  Generator generator(27);
  TwoLayerProblem problem =
      two_layer_problem(3072, 50, 10, 100, 1 / std::sqrt(3072.0), 1 / std::sqrt(50.0), generator);
  two_layer_check(problem, 0.01, 200, generator);
}

TEST_CASE("two-layer network: cost and gradients agree, and the loss is the mean of -log P[y_i, i]",
          "[reference][two_layer]") {
  Generator generator(28);
  TwoLayerProblem problem = two_layer_problem(30, 20, 10, 25, 0.2, 0.2, generator);
  const Matrix<double> targets = reference::one_hot<double>(problem.labels, 10);
  const auto result =
      reference::two_layer_gradients(problem.first_weights, problem.first_bias, problem.second_weights,
                                     problem.second_bias, problem.inputs, targets, 0.1);
  const auto cost = reference::two_layer_cost(problem.first_weights, problem.first_bias, problem.second_weights,
                                              problem.second_bias, problem.inputs, targets, 0.1);
  CHECK(cost.loss == Approx(result.loss).epsilon(1e-14));
  CHECK(cost.cost == Approx(result.cost).epsilon(1e-14));
  const Matrix<double> probabilities = reference::softmax(reference::two_layer_scores(
      problem.first_weights, problem.first_bias, problem.second_weights, problem.second_bias, problem.inputs));
  double mean_log = 0;
  for (Index i = 0; i < 25; ++i)
    mean_log -= std::log(probabilities(problem.labels[static_cast<std::size_t>(i)], i));
  CHECK(result.loss == Approx(mean_log / 25).epsilon(1e-13));
}

// ---------------------------------------------------------------------------------------------------------------
// Binary logistic regression

TEST_CASE("logistic regression: zero parameters give log 2, one example computed by hand",
          "[reference][logistic]") {
  Generator generator(4);
  const Matrix<double> zero_weights = Matrix<double>::Zero(5, 1);
  const Matrix<double> zero_bias = Matrix<double>::Zero(1, 1);
  const Matrix<double> inputs = normal_matrix(5, 4, 1.0, generator);
  const std::vector<int> labels = {1, 0, 1, 1};
  const auto at_zero =
      reference::logistic_regression_gradients(zero_weights, zero_bias, inputs, binary_row(labels), 0.5);
  CHECK(std::abs(at_zero.loss - std::log(2.0)) < 1e-15);
  CHECK(std::abs(at_zero.gradient.bias(0) - (0.5 - 0.75)) < 1e-16);

  // w = (0.5, -0.25), b = 0.1, x = (1, 2): s = 0.1, label 1; C = log(1 + e^-0.1), dC/dw = -(1 - yhat) x.
  const Matrix<double> weights = column({0.5, -0.25});
  const Matrix<double> bias = column({0.1});
  const Matrix<double> one_input = column({1.0, 2.0});
  const std::vector<int> one_label = {1};
  const double lambda = 0.3;
  const auto result =
      reference::logistic_regression_gradients(weights, bias, one_input, binary_row(one_label), lambda);
  const double yhat = 1 / (1 + std::exp(-0.1));
  CHECK(result.loss == Approx(std::log(1 + std::exp(-0.1))).epsilon(1e-14));
  CHECK(result.cost == Approx(std::log(1 + std::exp(-0.1)) + 0.3 * (0.25 + 0.0625)).epsilon(1e-14));
  const Matrix<double> expected_weights = column({-(1 - yhat) * 1 + 0.6 * 0.5, -(1 - yhat) * 2 + 0.6 * -0.25});
  CHECK(relative_difference(result.gradient.weights, expected_weights) < 1e-14);
  CHECK(std::abs(result.gradient.bias(0) - -(1 - yhat)) < 1e-16);
}

TEST_CASE("logistic regression gradients match central differences (small checks and d 784 / 3072, n 100)",
          "[reference][logistic][gradcheck]") {
  for (const SmallCheck& check : small_checks()) {
    CAPTURE(check.dimensions, check.examples, check.lambda, check.weight_scale, check.seed);
    Generator generator(check.seed);
    LinearProblem problem = logistic_problem(check.dimensions, check.examples, check.weight_scale, generator);
    logistic_regression_check(problem, check.lambda, generator);
  }
  for (const auto& [dimensions, weight_scale, lambda, seed] :
       {std::tuple{784, 0.01, 0.0, 37u}, std::tuple{3072, 0.05, 0.5, 38u}}) {
    CAPTURE(dimensions, weight_scale, lambda);
    Generator generator(seed);
    LinearProblem problem = logistic_problem(dimensions, 100, weight_scale, generator);
    logistic_regression_check(problem, lambda, generator);
  }
}

TEST_CASE("logistic regression is sigmoid regression with one output", "[reference][logistic]") {
  Generator generator(39);
  LinearProblem problem = logistic_problem(40, 30, 0.2, generator);
  const Matrix<double> targets = reference::binary_targets<double>(problem.labels);
  CHECK(targets == binary_row(problem.labels));
  const auto logistic =
      reference::logistic_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, 0.2);
  const auto logistic_cost =
      reference::logistic_regression_cost(problem.weights, problem.bias, problem.inputs, targets, 0.2);
  const Matrix<double> row_weights = problem.weights.transpose();
  const auto sigmoid =
      reference::sigmoid_regression_gradients(row_weights, problem.bias, problem.inputs, targets, 0.2);
  CHECK(logistic.loss == Approx(sigmoid.loss).epsilon(1e-14));
  CHECK(logistic.cost == Approx(sigmoid.cost).epsilon(1e-14));
  CHECK(relative_difference(logistic.gradient.weights, sigmoid.gradient.weights.transpose()) < 1e-13);
  CHECK(relative_difference(logistic.gradient.bias, sigmoid.gradient.bias) < 1e-13);
  CHECK(logistic_cost.loss == Approx(logistic.loss).epsilon(1e-14));
  CHECK(logistic_cost.cost == Approx(logistic.cost).epsilon(1e-14));
}

// ---------------------------------------------------------------------------------------------------------------
// Extreme logits, and float against double

TEMPLATE_TEST_CASE("losses stay finite and exact for logits of +-1e4", "[reference][stability]", float, double) {
  using T = TestType;
  const T big = T(1e4);
  const Matrix<T> zero_weights = Matrix<T>::Zero(3, 2);
  const Matrix<T> inputs = Matrix<T>::Ones(2, 2);
  Matrix<T> bias(3, 1);
  bias << big, -big, T(0);                 // every column's scores are (1e4, -1e4, 0)
  const std::vector<int> labels = {0, 1};  // right with certainty, then wrong by 2e4
  const T lambda = T(0);

  const Matrix<T> targets = reference::one_hot<T>(labels, 3);
  const auto softmax = reference::softmax_regression_gradients(zero_weights, bias, inputs, targets, lambda);
  CHECK(softmax.loss == Approx(T(1e4)).epsilon(1e-6));  // (0 + 2e4) / 2
  CHECK(softmax.gradient.bias.allFinite());
  CHECK(softmax.gradient.weights.allFinite());
  // P = (1, 0, 0) in both columns; Y = e0, then e1: db = ((0, 0, 0) + (1, -1, 0)) / 2.
  CHECK(softmax.gradient.bias(0) == Approx(0.5).margin(1e-6));
  CHECK(softmax.gradient.bias(1) == Approx(-0.5).margin(1e-6));
  CHECK(softmax.gradient.bias(2) == Approx(0).margin(1e-6));

  // Sigmoid, term by term: column 0 (label 0) gives 0, 0 and log 2 (the zero score); column 1 (label 1) gives 1e4
  // (scored 1e4, target 0), 1e4 (scored -1e4, target 1) and log 2. The mean runs over the 3 x 2 terms.
  const auto sigmoid = reference::sigmoid_regression_gradients(zero_weights, bias, inputs, targets, lambda);
  CHECK(sigmoid.loss == Approx((2e4 + 2 * std::log(2.0)) / 6).epsilon(1e-6));
  CHECK(sigmoid.gradient.bias.allFinite());
  // dS = (sigmoid(S) - Y) / (K n): column 0 (0, 0, 1/2), column 1 (1, -1, 1/2); summed over the batch.
  CHECK(sigmoid.gradient.bias(0) == Approx(1.0 / 6).margin(1e-6));
  CHECK(sigmoid.gradient.bias(1) == Approx(-1.0 / 6).margin(1e-6));
  CHECK(sigmoid.gradient.bias(2) == Approx(1.0 / 6).margin(1e-6));

  const Matrix<T> hidden_weights = Matrix<T>::Zero(4, 2);
  const Matrix<T> hidden_bias = Matrix<T>::Zero(4, 1);
  const Matrix<T> second_weights = Matrix<T>::Ones(3, 4);
  const auto network =
      reference::two_layer_gradients(hidden_weights, hidden_bias, second_weights, bias, inputs, targets, lambda);
  CHECK(network.loss == Approx(T(1e4)).epsilon(1e-6));
  CHECK(network.second_layer.bias(1) == Approx(-0.5).margin(1e-6));
  CHECK(network.first_layer.weights.allFinite());

  const Matrix<T> logistic_weights = Matrix<T>::Zero(2, 1);
  for (const T logit : {big, -big}) {
    Matrix<T> logistic_bias(1, 1);
    logistic_bias << logit;
    const auto logistic = reference::logistic_regression_gradients(logistic_weights, logistic_bias, inputs,
                                                                   reference::binary_targets<T>(labels), lambda);
    // Labels (0, 1): one term is 1e4, the other 0 (up to e^-1e4).
    CHECK(logistic.loss == Approx(T(5e3)).epsilon(1e-6));
    CHECK(logistic.gradient.bias(0) == Approx(logit > 0 ? 0.5 : -0.5).margin(1e-6));
    CHECK(logistic.gradient.weights.allFinite());
  }
}

namespace {

template <typename Model>
void check_float_agrees_with_double(const Model& model) {
  const auto in_double = model(double{});
  const auto in_float = model(float{});
  for (std::size_t i = 0; i < in_double.size(); ++i) {
    INFO("value " << i);
    CHECK(relative_difference(in_float[i].template cast<double>(), in_double[i]) < 1e-4);
  }
}

template <typename T>
Matrix<T> as(const Matrix<double>& matrix) {
  return matrix.cast<T>();
}

}  // namespace

TEST_CASE("float and double agree on every loss and gradient", "[reference][precision]") {
  Generator generator(40);
  const LinearProblem linear = linear_problem(10, 3072, 100, 0.01, generator);
  const TwoLayerProblem network =
      two_layer_problem(3072, 50, 10, 100, 1 / std::sqrt(3072.0), 1 / std::sqrt(50.0), generator);
  const LinearProblem logistic = logistic_problem(784, 100, 0.05, generator);
  const auto as_matrix = [](auto value) {
    Matrix<decltype(value)> matrix(1, 1);
    matrix << value;
    return matrix;
  };

  check_float_agrees_with_double([&](auto scalar) {
    using T = decltype(scalar);
    const auto result =
        reference::softmax_regression_gradients(as<T>(linear.weights), as<T>(linear.bias), as<T>(linear.inputs),
                                                reference::one_hot<T>(linear.labels, 10), T(0.1));
    return std::vector<Matrix<T>>{as_matrix(result.loss), as_matrix(result.cost), result.gradient.weights,
                                  result.gradient.bias};
  });
  check_float_agrees_with_double([&](auto scalar) {
    using T = decltype(scalar);
    const auto result =
        reference::sigmoid_regression_gradients(as<T>(linear.weights), as<T>(linear.bias), as<T>(linear.inputs),
                                                reference::one_hot<T>(linear.labels, 10), T(0.1));
    return std::vector<Matrix<T>>{as_matrix(result.loss), as_matrix(result.cost), result.gradient.weights,
                                  result.gradient.bias};
  });
  check_float_agrees_with_double([&](auto scalar) {
    using T = decltype(scalar);
    const auto result = reference::two_layer_gradients(
        as<T>(network.first_weights), as<T>(network.first_bias), as<T>(network.second_weights),
        as<T>(network.second_bias), as<T>(network.inputs), reference::one_hot<T>(network.labels, 10), T(0.01));
    return std::vector<Matrix<T>>{as_matrix(result.loss),  as_matrix(result.cost),      result.first_layer.weights,
                                  result.first_layer.bias, result.second_layer.weights, result.second_layer.bias};
  });
  check_float_agrees_with_double([&](auto scalar) {
    using T = decltype(scalar);
    const auto result = reference::logistic_regression_gradients(
        as<T>(logistic.weights), as<T>(logistic.bias), as<T>(logistic.inputs),
        reference::binary_targets<T>(logistic.labels), T(0.1));
    return std::vector<Matrix<T>>{as_matrix(result.loss), as_matrix(result.cost), result.gradient.weights,
                                  result.gradient.bias};
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Batch views, SGD, evaluation, errors

TEST_CASE("a batch can be a block of columns of a larger matrix", "[reference][workspace]") {
  Generator generator(51);
  LinearProblem problem = linear_problem(10, 64, 100, 0.1, generator);
  const Matrix<double> all_targets = one_hot(problem.labels, 10);
  const auto from_block = reference::softmax_regression_gradients(
      problem.weights, problem.bias, problem.inputs.middleCols(20, 30), all_targets.middleCols(20, 30), 0.1);
  const Matrix<double> copied_batch = problem.inputs.middleCols(20, 30);
  const Matrix<double> copied_targets = all_targets.middleCols(20, 30);
  const auto from_copy =
      reference::softmax_regression_gradients(problem.weights, problem.bias, copied_batch, copied_targets, 0.1);
  CHECK(from_block.loss == Approx(from_copy.loss).epsilon(1e-15));
  CHECK(relative_difference(from_block.gradient.weights, from_copy.gradient.weights) < 1e-14);
  // And a different batch gives a different gradient, so the block was really used.
  const auto other_block = reference::softmax_regression_gradients(
      problem.weights, problem.bias, problem.inputs.middleCols(50, 30), all_targets.middleCols(50, 30), 0.1);
  CHECK(relative_difference(other_block.gradient.weights, from_copy.gradient.weights) > 0.1);
}

TEST_CASE("sgd_step subtracts the scaled gradient and refuses mismatched shapes", "[reference][sgd]") {
  Matrix<double> weights(2, 2);
  weights << 1, 2, 3, 4;
  Matrix<double> bias = column({1, -1});
  reference::LinearGradient<double> gradient{Matrix<double>::Constant(2, 2, 0.5), column({2, 4})};
  reference::sgd_step(weights, bias, gradient, 0.1);
  Matrix<double> expected_weights(2, 2);
  expected_weights << 0.95, 1.95, 2.95, 3.95;
  CHECK(relative_difference(weights, expected_weights) < 1e-15);
  CHECK(relative_difference(bias, column({0.8, -1.4})) < 1e-15);

  const Matrix<double> before = weights;
  reference::LinearGradient<double> wrong{Matrix<double>::Zero(2, 2), Matrix<double>::Zero(3, 1)};
  REQUIRE_THROWS_WITH(reference::sgd_step(weights, bias, wrong, 0.1), Contains("(3 x 1)") && Contains("(2 x 1)"));
  CHECK(weights == before);  // nothing moved
  REQUIRE_THROWS_AS(reference::sgd_step(weights, gradient.weights, -0.1), reference::ArgumentError);
  Matrix<float> single(1, 1);
  single << 1.0f;
  reference::sgd_step(single, Matrix<float>::Constant(1, 1, 2.0f), 0.25);  // a double literal for a float model
  CHECK(single(0, 0) == 0.5f);
}

TEST_CASE("training with the reference gradients lowers the cost and fits separable data", "[reference][sgd]") {
  // Three well separated clusters in 5 dimensions; each model should learn them in a few dozen full-batch steps.
  Generator generator(52);
  const Index examples = 90;
  Matrix<double> inputs = normal_matrix(5, examples, 0.3, generator);
  std::vector<int> labels(examples);
  for (Index i = 0; i < examples; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<int>(i % 3);
    inputs(i % 3, i) += 3.0;
  }
  Matrix<double> weights = normal_matrix(3, 5, 0.01, generator);
  Matrix<double> bias = Matrix<double>::Zero(3, 1);
  const Matrix<double> targets = one_hot(labels, 3);
  const double first_cost = reference::softmax_regression_cost(weights, bias, inputs, targets, 0.01).cost;
  for (int step = 0; step < 50; ++step) {
    const auto result = reference::softmax_regression_gradients(weights, bias, inputs, targets, 0.01);
    reference::sgd_step(weights, bias, result.gradient, 0.5);
  }
  CHECK(reference::softmax_regression_cost(weights, bias, inputs, targets, 0.01).cost < 0.5 * first_cost);
  CHECK(reference::accuracy(reference::predict_classes(reference::linear_scores(weights, bias, inputs)), labels) ==
        1.0);

  TwoLayerProblem network = two_layer_problem(5, 16, 3, examples, 1 / std::sqrt(5.0), 0.25, generator);
  const double first_network_cost =
      reference::two_layer_cost(network.first_weights, network.first_bias, network.second_weights,
                                network.second_bias, inputs, targets, 0.001)
          .cost;
  for (int step = 0; step < 100; ++step) {
    const auto gradients =
        reference::two_layer_gradients(network.first_weights, network.first_bias, network.second_weights,
                                       network.second_bias, inputs, targets, 0.001);
    reference::sgd_step(network.first_weights, network.first_bias, gradients.first_layer, 0.1);
    reference::sgd_step(network.second_weights, network.second_bias, gradients.second_layer, 0.1);
  }
  CHECK(reference::two_layer_cost(network.first_weights, network.first_bias, network.second_weights,
                                  network.second_bias, inputs, targets, 0.001)
            .cost < 0.5 * first_network_cost);
  const Matrix<double> network_scores = reference::two_layer_scores(
      network.first_weights, network.first_bias, network.second_weights, network.second_bias, inputs);
  const auto network_predictions = reference::predict_classes(network_scores);
  CHECK(reference::accuracy(network_predictions, labels) == 1.0);
  CHECK(reference::predict_classes(reference::softmax(network_scores)) == network_predictions);

  std::vector<int> binary_labels(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) binary_labels[i] = labels[i] == 0;
  const Matrix<double> binary_targets = binary_row(binary_labels);
  Matrix<double> logistic_weights = Matrix<double>::Zero(5, 1);
  Matrix<double> logistic_bias = Matrix<double>::Zero(1, 1);
  for (int step = 0; step < 100; ++step) {
    const auto gradients =
        reference::logistic_regression_gradients(logistic_weights, logistic_bias, inputs, binary_targets, 0.001);
    reference::sgd_step(logistic_weights, logistic_bias, gradients.gradient, 0.5);
  }
  CHECK(reference::logistic_regression_cost(logistic_weights, logistic_bias, inputs, binary_targets, 0.001).loss <
        0.5 * std::log(2.0));
  // Class 1 where s = w^T x + b >= 0.
  const Matrix<double> logistic_scores =
      reference::linear_scores<double>(logistic_weights.transpose(), logistic_bias, inputs);
  std::vector<int> logistic_predictions;
  for (Index i = 0; i < examples; ++i) logistic_predictions.push_back(logistic_scores(0, i) >= 0);
  CHECK(reference::accuracy(logistic_predictions, binary_labels) == 1.0);
}

TEST_CASE("predictions, probabilities and accuracy", "[reference][evaluation]") {
  Matrix<double> scores(3, 4);
  scores << 0.1, 5, -1, 2,  //
      0.3, 1, -1, 2,        //
      0.2, 0, -3, 1;
  CHECK(reference::predict_classes(scores) == std::vector<int>{1, 0, 0, 0});  // ties go to the first row
  CHECK(reference::accuracy(std::vector<int>{1, 0, 0, 0}, std::vector<int>{1, 2, 0, 0}) == 0.75);
  REQUIRE_THROWS_WITH(reference::accuracy(std::vector<int>{1, 0}, std::vector<int>{1}),
                      Contains("2 predictions") && Contains("1 labels"));

  Generator generator(60);
  const LinearProblem problem = linear_problem(10, 20, 7, 1.0, generator);
  const Matrix<double> scores_again = reference::linear_scores(problem.weights, problem.bias, problem.inputs);
  const Matrix<double> probabilities = reference::softmax(scores_again);
  CHECK((probabilities.colwise().sum().array() - 1).abs().maxCoeff() < 1e-15);
  CHECK(probabilities.minCoeff() >= 0);
  CHECK(reference::predict_classes(probabilities) == reference::predict_classes(scores_again));
  const Matrix<double> sigmoid = reference::sigmoid(scores_again);
  CHECK(std::abs(sigmoid(3, 4) - 1 / (1 + std::exp(-scores_again(3, 4)))) < 1e-15);
  // -log of the label's probability, averaged, is the loss.
  double mean_log = 0;
  for (Index i = 0; i < 7; ++i)
    mean_log -= std::log(probabilities(problem.labels[static_cast<std::size_t>(i)], i));
  CHECK(reference::cross_entropy(scores_again, one_hot(problem.labels, 10)) ==
        Approx(mean_log / 7).epsilon(1e-13));
}

TEST_CASE("bad shapes, labels and settings throw an ArgumentError naming them", "[reference][errors]") {
  Generator generator(70);
  const LinearProblem problem = linear_problem(10, 30, 5, 0.1, generator);
  const Matrix<double> targets = one_hot(problem.labels, 10);
  const Matrix<double> wrong_inputs = normal_matrix(31, 5, 1.0, generator);
  REQUIRE_THROWS_WITH(
      reference::softmax_regression_gradients(problem.weights, problem.bias, wrong_inputs, targets, 0.0),
      Contains("softmax_regression_gradients") && Contains("(10 x 30)") && Contains("(31 x 5)"));
  const Matrix<double> wrong_bias = Matrix<double>::Zero(10, 2);
  REQUIRE_THROWS_WITH(
      reference::sigmoid_regression_cost(problem.weights, wrong_bias, problem.inputs, targets, 0.0),
      Contains("bias") && Contains("(10 x 2)") && Contains("(10 x 1)"));
  const std::vector<int> out_of_range = {0, 1, 10, 2, 3};
  REQUIRE_THROWS_AS(reference::one_hot<double>(out_of_range, 10), reference::ArgumentError);
  REQUIRE_THROWS_WITH(reference::one_hot<double>(out_of_range, 10), Contains("label 10 at index 2"));
  const Matrix<double> too_few = one_hot({0, 1}, 10);
  REQUIRE_THROWS_WITH(reference::two_layer_gradients(
                          Matrix<double>::Zero(4, 30).eval(), Matrix<double>::Zero(4, 1).eval(),
                          Matrix<double>::Zero(10, 4).eval(), problem.bias, problem.inputs, too_few, 0.0),
                      Contains("targets") && Contains("(10 x 2)") && Contains("(10 x 5)"));
  REQUIRE_THROWS_WITH(
      reference::two_layer_cost(Matrix<double>::Zero(4, 30).eval(), Matrix<double>::Zero(4, 1).eval(),
                                Matrix<double>::Zero(10, 5).eval(), problem.bias, problem.inputs, targets, 0.0),
      Contains("W2") && Contains("(10 x 5)") && Contains("(10 x 4)"));
  REQUIRE_THROWS_WITH(
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, targets, -0.1),
      Contains("lambda"));
  const Matrix<double> empty_batch(30, 0);
  REQUIRE_THROWS_WITH(
      reference::softmax_regression_cost(problem.weights, problem.bias, empty_batch, Matrix<double>(10, 0), 0.0),
      Contains("empty"));
  const Matrix<double> wrong_targets = Matrix<double>::Zero(9, 5);
  REQUIRE_THROWS_WITH(
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, wrong_targets, 0.0),
      Contains("targets") && Contains("(9 x 5)") && Contains("(10 x 5)"));
  // P - Y is the gradient of the softmax models only for columns of Y that sum to 1.
  const Matrix<double> unnormalised = 2 * targets;
  REQUIRE_THROWS_WITH(
      reference::softmax_regression_gradients(problem.weights, problem.bias, problem.inputs, unnormalised, 0.0),
      Contains("softmax_regression_gradients") && Contains("sum to 1"));
  REQUIRE_THROWS_WITH(reference::two_layer_cost(
                          Matrix<double>::Zero(4, 30).eval(), Matrix<double>::Zero(4, 1).eval(),
                          Matrix<double>::Zero(10, 4).eval(), problem.bias, problem.inputs, unnormalised, 0.0),
                      Contains("two_layer_cost") && Contains("sum to 1"));
  const std::vector<int> not_binary = {0, 1, 2, 1, 0};
  REQUIRE_THROWS_WITH(reference::binary_targets<double>(not_binary), Contains("label 2 at index 2"));
  const Matrix<double> logistic_bias = Matrix<double>::Zero(1, 1);
  const Matrix<double> binary_targets = binary_row({0, 1, 1, 1, 0});
  REQUIRE_THROWS_WITH(reference::logistic_regression_cost(Matrix<double>::Zero(29, 1).eval(), logistic_bias,
                                                          problem.inputs, binary_targets, 0.0),
                      Contains("(29 x 1)") && Contains("(30 x 1)"));
  REQUIRE_THROWS_WITH(reference::logistic_regression_gradients(Matrix<double>::Zero(30, 1).eval(), logistic_bias,
                                                               problem.inputs, targets, 0.0),
                      Contains("targets y") && Contains("(10 x 5)") && Contains("(1 x 5)"));
}

// ---------------------------------------------------------------------------------------------------------------
// The numerical gradient helpers themselves

TEST_CASE("numerical_gradient differentiates a known function and restores the parameter",
          "[reference][numerical_gradient]") {
  Generator generator(80);
  Matrix<double> parameter = normal_matrix(4, 3, 1.0, generator);
  const Matrix<double> original = parameter;
  // J = sum sin(p) + (sum p)^2, dJ/dp = cos(p) + 2 sum p.
  const auto cost = [&] { return parameter.array().sin().sum() + parameter.sum() * parameter.sum(); };
  const Matrix<double> expected = parameter.array().cos() + 2 * parameter.sum();
  const Matrix<double> numerical = reference::numerical_gradient(cost, parameter);
  CHECK(reference::max_relative_error(expected, numerical) < 1e-8);
  CHECK(parameter == original);  // bit for bit
  const std::vector<Index> entries = {11, 0, 5};
  const Matrix<double> some = reference::numerical_gradient_at(cost, parameter, entries);
  CHECK(reference::max_relative_error(reference::gather_entries(expected, entries), some) < 1e-8);
  CHECK(some(0) == numerical(11));
  CHECK(parameter == original);
  const Matrix<double> two_point =
      reference::numerical_gradient(cost, parameter, {reference::DifferenceScheme::two_point, 1e-6});
  CHECK(reference::max_relative_error(expected, two_point) < 1e-8);
  CHECK(parameter == original);
  REQUIRE_THROWS_AS(reference::numerical_gradient(cost, parameter, {.step = 0.0}), reference::ArgumentError);
  const std::vector<Index> outside = {12};
  REQUIRE_THROWS_WITH(reference::numerical_gradient_at(cost, parameter, outside), Contains("entry 12"));
}

TEST_CASE("the two-point scheme is second order and the four-point scheme fourth order",
          "[reference][numerical_gradient]") {
  // Halving h divides the truncation error by 2^2 and by 2^4. J = exp(p) at p = 0.3, dJ/dp = exp(0.3).
  Matrix<double> parameter = column({0.3});
  const auto cost = [&] { return std::exp(parameter(0)); };
  const double exact = std::exp(0.3);
  for (const auto& [scheme, order] : {std::pair{reference::DifferenceScheme::two_point, 2.0},
                                      std::pair{reference::DifferenceScheme::four_point, 4.0}}) {
    const double coarse = std::abs(reference::numerical_gradient(cost, parameter, {scheme, 0.1})(0) - exact);
    const double fine = std::abs(reference::numerical_gradient(cost, parameter, {scheme, 0.05})(0) - exact);
    CAPTURE(order, coarse, fine);
    CHECK(std::log2(coarse / fine) == Approx(order).margin(0.05));
  }
}

TEST_CASE("relative error is the reports' formula, maximised over entries", "[reference][numerical_gradient]") {
  CHECK(reference::relative_error(1.0, 1.1) == Approx(0.1 / 2.1).epsilon(1e-14));
  CHECK(reference::relative_error(-2.0, 2.0) == 1.0);
  CHECK(reference::relative_error(0.0, 0.0) == 0.0);
  CHECK(reference::relative_error(1e-14, 0.0, 1e-12) == Approx(0.01).epsilon(1e-12));
  CHECK(reference::relative_error(1e-9, 2e-9) == Approx(1e-3).epsilon(1e-12));  // judged against the floor 1e-6
  const Matrix<double> analytic = column({1.0, 2.0, 3.0});
  CHECK(reference::max_relative_error(analytic, column({1.0, 2.2, 3.0})) == Approx(0.2 / 4.2).epsilon(1e-14));
  CHECK(std::isinf(reference::max_relative_error(analytic, column({1.0, std::nan(""), 3.0}))));  // never a pass
  REQUIRE_THROWS_AS(reference::max_relative_error(analytic, column({1.0, 2.0})), reference::ArgumentError);
}

TEST_CASE("sample_entries draws distinct sorted indices reproducibly", "[reference][numerical_gradient]") {
  Generator first(90);
  Generator second(90);
  const auto sample = reference::sample_entries(30720, 200, first);
  CHECK(sample == reference::sample_entries(30720, 200, second));
  REQUIRE(sample.size() == 200);
  CHECK(std::is_sorted(sample.begin(), sample.end()));
  CHECK(std::adjacent_find(sample.begin(), sample.end()) == sample.end());
  CHECK(sample.front() >= 0);
  CHECK(sample.back() < 30720);
  CHECK(sample.back() - sample.front() > 15000);  // spread over the matrix, not its first entries
  CHECK(reference::sample_entries(5, 10, first) == std::vector<Index>{0, 1, 2, 3, 4});
}

TEST_CASE("the reference path is independent of the engine: nothing in nn/reference includes core/, ops/ or fmt",
          "[reference]") {
  // Were the reference to call the tape's GEMM (core/gemm.h), a wrong kernel would give both sides the same wrong
  // gradient and the comparison would pass.
  const std::filesystem::path directory = std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "nn" / "reference";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    INFO(entry.path().string());
    CHECK(text.str().find("#include <tapegrad/core/") == std::string::npos);
    CHECK(text.str().find("#include <tapegrad/ops/") == std::string::npos);
    // Nor anything else beyond Eigen and the standard library (fmt, for one, is the engine's).
    CHECK(text.str().find("#include <fmt/") == std::string::npos);
    // The include lines have the form searched for: the reference's files include each other that way.
    files += text.str().find("#include <tapegrad/nn/reference/") != std::string::npos;
  }
  CHECK(files >= 10);
}
