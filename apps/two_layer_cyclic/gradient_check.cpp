#include "apps/two_layer_cyclic/gradient_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/ops/ops.h>

namespace tapegrad::apps::two_layer_cyclic {
namespace {

constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();
const std::array<const char*, 4> kParameterNames = {"W1", "b1", "W2", "b2"};

// W1, b1, W2, b2 as the network starts training.
std::vector<Tensor<double>> initial_parameters(Index features, Index hidden, Index classes, std::uint64_t seed) {
  Generator generator(seed);
  return {Tensor<double>::normal(hidden, features, generator, 0.0, 1.0 / std::sqrt(double(features))),
          Tensor<double>::zeros(hidden, 1),
          Tensor<double>::normal(classes, hidden, generator, 0.0, 1.0 / std::sqrt(double(hidden))),
          Tensor<double>::zeros(classes, 1)};
}

// The cost through the tape: mean cross-entropy + lambda (||W1||^2 + ||W2||^2).
Tensor<double> tape_cost(const std::vector<Tensor<double>>& p, const Tensor<double>& inputs,
                         std::span<const int> labels, double lambda) {
  const Tensor<double> hidden = relu(linear(p[0], inputs, p[1]));
  const Tensor<double> loss = cross_entropy_with_logits(linear(p[2], hidden, p[3]), labels);
  if (lambda == 0) return loss;
  return loss + (sum_of_squares(p[0]) + sum_of_squares(p[2])) * lambda;
}

// The reference cost as one node whose backward rule is the reports' formulas, so that gradcheck() holds the
// hand-derived gradients against central differences of the hand-derived cost, without the tape's ops.
Tensor<double> reference_cost_node(const std::vector<Tensor<double>>& p, const Matrix<double>& inputs,
                                   std::span<const int> labels, double lambda) {
  const Matrix<double> targets = reference::one_hot<double>(labels, p[2].value().rows());
  if (!grad_enabled()) {
    const auto cost = reference::two_layer_cost<double>(p[0].value(), p[1].value(), p[2].value(), p[3].value(),
                                                        inputs, targets, lambda);
    return Tensor<double>::scalar(cost.cost);
  }
  auto gradients = std::make_shared<reference::TwoLayerResult<double>>(reference::two_layer_gradients<double>(
      p[0].value(), p[1].value(), p[2].value(), p[3].value(), inputs, targets, lambda));
  Matrix<double> value(1, 1);
  value(0, 0) = gradients->cost;
  return Tensor<double>::from_op("two_layer_reference", std::move(value), p,
                                 [gradients](Node<double>& node, const Matrix<double>& upstream) {
                                   const double g = upstream(0, 0);
                                   const std::array<const Matrix<double>*, 4> parts = {
                                       &gradients->first_layer.weights, &gradients->first_layer.bias,
                                       &gradients->second_layer.weights, &gradients->second_layer.bias};
                                   for (std::size_t i = 0; i < parts.size(); ++i) {
                                     if (node.needs_grad(i)) node.accumulate(i, g * *parts[i]);
                                   }
                                 });
}

using CostFunction = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

// The largest change of a hidden pre-activation W1 x + b1 that one finite-difference evaluation makes: the
// fourth-order formula moves an entry by up to 2h, which moves a pre-activation by 2h |x| through W1 or 2h
// through b1. W2 and b2 do not move them.
double largest_shift_per_step(const Matrix<double>& inputs) {
  const double largest_input = inputs.size() ? inputs.cwiseAbs().maxCoeff() : 0.0;
  return 2 * std::max(1.0, largest_input);
}

constexpr double kLargestStep = 1e-3;   // gradcheck's own default: O(h^4) truncation, about 1e-12
constexpr double kSmallestStep = 1e-7;  // rounding then adds about 1e-9 to each numerical gradient

// Central differences across ReLU's kink measure a different function on each side, so W1 and b1 are checked
// with a step small enough that no pre-activation changes sign, and large enough that rounding stays far below
// the gradients.
double kink_safe_step(const Matrix<double>& pre_activations, const Matrix<double>& inputs) {
  const double nearest = pre_activations.size() ? pre_activations.cwiseAbs().minCoeff() : 1.0;
  return std::clamp(0.5 * nearest / largest_shift_per_step(inputs), kSmallestStep, kLargestStep);
}

// Relative errors of `cost`'s tape gradients against central differences, per parameter: the first layer
// (W1, b1) with `first_layer_step`, the second (W2, b2) with the largest step, each with the other layer held.
std::array<double, 4> numerical_errors(const CostFunction& cost, const std::vector<Tensor<double>>& parameters,
                                       double first_layer_step) {
  std::vector<Tensor<double>> held;
  for (const auto& p : parameters) held.push_back(Tensor<double>(p.value()));
  GradcheckOptions first;
  first.step = first_layer_step;
  GradcheckOptions second;
  second.step = kLargestStep;
  const GradcheckResult first_layer = gradcheck(
      [&](const std::vector<Tensor<double>>& p) { return cost({p[0], p[1], held[2], held[3]}); },
      {parameters[0], parameters[1]}, first);
  const GradcheckResult second_layer = gradcheck(
      [&](const std::vector<Tensor<double>>& p) { return cost({held[0], held[1], p[0], p[1]}); },
      {parameters[2], parameters[3]}, second);
  return {first_layer.max_relative_error[0], first_layer.max_relative_error[1], second_layer.max_relative_error[0],
          second_layer.max_relative_error[1]};
}

GradientCheckCaseResult check_case(const GradientCheckCase& check, const Matrix<double>& all_inputs,
                                   std::span<const int> all_labels, Index hidden, Index classes, std::uint64_t seed) {
  const Matrix<double> inputs = all_inputs.topLeftCorner(check.features, check.examples);
  const std::span<const int> labels = all_labels.first(static_cast<std::size_t>(check.examples));
  const Tensor<double> input_tensor(inputs);

  GradientCheckCaseResult result;
  result.check = check;

  const std::vector<Tensor<double>> parameters = initial_parameters(check.features, hidden, classes, seed);
  Matrix<double> pre_activations = parameters[0].value() * inputs;
  pre_activations.colwise() += parameters[1].value().col(0);
  const double first_layer_step = kink_safe_step(pre_activations, inputs);
  result.near_kink = static_cast<int>(
      (pre_activations.array().abs() <= first_layer_step * largest_shift_per_step(inputs)).count());

  for (const auto& p : parameters) p.set_requires_grad(true);
  tape_cost(parameters, input_tensor, labels, check.lambda).backward();
  const auto reference = reference::two_layer_gradients<double>(
      parameters[0].value(), parameters[1].value(), parameters[2].value(), parameters[3].value(), inputs,
      reference::one_hot<double>(labels, classes), check.lambda);
  const std::array<const Matrix<double>*, 4> reference_gradients = {
      &reference.first_layer.weights, &reference.first_layer.bias, &reference.second_layer.weights,
      &reference.second_layer.bias};

  std::array<double, 4> tape_numerical{kNotComputed, kNotComputed, kNotComputed, kNotComputed};
  std::array<double, 4> reference_numerical = tape_numerical;
  if (check.numerical) {
    tape_numerical = numerical_errors(
        [&](const std::vector<Tensor<double>>& p) { return tape_cost(p, input_tensor, labels, check.lambda); },
        parameters, first_layer_step);
    reference_numerical = numerical_errors(
        [&](const std::vector<Tensor<double>>& p) { return reference_cost_node(p, inputs, labels, check.lambda); },
        parameters, first_layer_step);
  }

  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Matrix<double>& tape_gradient = parameters[i].grad();
    ParameterErrors errors;
    errors.parameter = kParameterNames[i];
    errors.rows = static_cast<int>(tape_gradient.rows());
    errors.cols = static_cast<int>(tape_gradient.cols());
    errors.tape_vs_reference = max_relative_error(tape_gradient, *reference_gradients[i], GradcheckOptions{}.eps);
    errors.max_abs_gradient = tape_gradient.size() ? tape_gradient.cwiseAbs().maxCoeff() : 0.0;
    errors.tape_vs_numerical = tape_numerical[i];
    errors.reference_vs_numerical = reference_numerical[i];
    errors.finite_difference_step = !check.numerical ? kNotComputed : i < 2 ? first_layer_step : kLargestStep;
    result.parameters.push_back(errors);
  }
  return result;
}

std::string format_error(double error) { return std::isnan(error) ? "-" : fmt::format("{:.2e}", error); }

nlohmann::json error_json(double error) { return std::isnan(error) ? nlohmann::json(nullptr) : nlohmann::json(error); }

}  // namespace

std::vector<GradientCheckCase> gradient_check_cases(const CyclicSettings& settings, int available_examples,
                                                    int available_features) {
  const int features = std::min(settings.gradcheck_features, available_features);
  const int slice = std::min(settings.gradcheck_examples, available_examples);
  const int batch = std::min(settings.batch_size, available_examples);
  // lambda 0 and lambda > 0: with --lambda 0 the second case still checks the penalty's gradient.
  const double lambda = settings.lambda > 0 ? settings.lambda : 0.01;
  return {
      {fmt::format("slice, lambda 0"), features, slice, 0.0, true},
      {fmt::format("slice, lambda {:g}", lambda), features, slice, lambda, true},
      {fmt::format("batch, lambda {:g}", lambda), features, batch, lambda, true},
      {fmt::format("batch, all features, lambda {:g}", lambda), available_features, batch, lambda, false},
  };
}

GradientCheckReport run_gradient_check(const std::vector<GradientCheckCase>& cases, const data::ImageDataset& training,
                                       int hidden, std::uint64_t seed) {
  int examples = 0;
  for (const auto& c : cases) examples = std::max(examples, c.examples);
  const data::Normalizer normalizer = data::Normalizer::fitted(training);
  const Matrix<double> inputs = normalizer.apply<double>(training.pixels.leftCols(examples));
  const std::span<const int> labels(training.labels.data(), static_cast<std::size_t>(examples));

  GradientCheckReport report;
  for (const auto& c : cases) {
    report.cases.push_back(check_case(c, inputs, labels, hidden, training.num_classes(), seed));
    for (const auto& p : report.cases.back().parameters) {
      report.worst_tape_vs_reference = std::max(report.worst_tape_vs_reference, p.tape_vs_reference);
      if (c.numerical) {
        report.worst_numerical = std::max({report.worst_numerical, p.tape_vs_numerical, p.reference_vs_numerical});
      }
    }
  }
  return report;
}

std::string format_gradient_check(const GradientCheckReport& report) {
  std::string text = fmt::format("{:<50} {:<4} {:>11} {:>11} {:>11} {:>11} {:>9}\n", "case", "", "tape-ref",
                                 "tape-num", "ref-num", "max |grad|", "step");
  for (const auto& c : report.cases) {
    const std::string label = fmt::format("{} (d {}, n {})", c.check.name, c.check.features, c.check.examples);
    bool first = true;
    for (const auto& p : c.parameters) {
      text += fmt::format("{:<50} {:<4} {:>11} {:>11} {:>11} {:>11.3e} {:>9}\n", first ? label : "", p.parameter,
                          format_error(p.tape_vs_reference), format_error(p.tape_vs_numerical),
                          format_error(p.reference_vs_numerical), p.max_abs_gradient,
                          std::isnan(p.finite_difference_step) ? "" : fmt::format("{:.1e}", p.finite_difference_step));
      first = false;
    }
  }
  int near_kink = 0;
  for (const auto& c : report.cases) near_kink += c.check.numerical ? c.near_kink : 0;
  if (near_kink > 0) {
    text += fmt::format("{} hidden pre-activation{} within a step of ReLU's kink: central differences there are not "
                        "the derivative\n",
                        near_kink, near_kink == 1 ? " lies" : "s lie");
  }
  text += fmt::format(
      "largest relative error: tape vs reference {:.2e} (limit {:.0e}), against central differences {:.2e} "
      "(limit {:.0e}): {}\n",
      report.worst_tape_vs_reference, report.tape_vs_reference_limit, report.worst_numerical, report.numerical_limit,
      report.passed() ? "passed" : "FAILED");
  return text;
}

nlohmann::json to_json(const GradientCheckReport& report) {
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& c : report.cases) {
    nlohmann::json parameters = nlohmann::json::array();
    for (const auto& p : c.parameters) {
      parameters.push_back({{"parameter", p.parameter},
                            {"rows", p.rows},
                            {"cols", p.cols},
                            {"tape_vs_reference", error_json(p.tape_vs_reference)},
                            {"tape_vs_numerical", error_json(p.tape_vs_numerical)},
                            {"reference_vs_numerical", error_json(p.reference_vs_numerical)},
                            {"max_abs_gradient", p.max_abs_gradient},
                            {"finite_difference_step", error_json(p.finite_difference_step)}});
    }
    cases.push_back({{"name", c.check.name},
                     {"features", c.check.features},
                     {"examples", c.check.examples},
                     {"lambda", c.check.lambda},
                     {"numerical", c.check.numerical},
                     {"near_kink", c.near_kink},
                     {"parameters", parameters}});
  }
  return {{"cases", cases},
          {"worst_tape_vs_reference", report.worst_tape_vs_reference},
          {"worst_numerical", report.worst_numerical},
          {"tape_vs_reference_limit", report.tape_vs_reference_limit},
          {"numerical_limit", report.numerical_limit},
          {"passed", report.passed()}};
}

}  // namespace tapegrad::apps::two_layer_cyclic
