#include <tapegrad/nn/reference/validation.h>

#include <cmath>
#include <sstream>

#include <tapegrad/nn/reference/types.h>

// Messages are built with the standard library alone: the reference path depends on nothing but Eigen.
namespace tapegrad::reference {
namespace {

std::string text(Shape shape) { return shape_text(shape.rows, shape.cols); }

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw_argument_error(message.str());
}

}  // namespace

void throw_argument_error(const std::string& message) { throw ArgumentError(message); }

std::string shape_text(Eigen::Index rows, Eigen::Index cols) {
  std::ostringstream out;
  out << '(' << rows << " x " << cols << ')';
  return out.str();
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void check_nonempty_batch(std::string_view function, Eigen::Index examples) {
  if (examples <= 0) fail(function, ": the batch is empty (0 columns); pass at least one example as a column");
}

void check_linear_shapes(std::string_view function, Shape weights, Shape bias, Shape inputs,
                         std::string_view weights_name, std::string_view bias_name) {
  if (weights.cols != inputs.rows) {
    fail(function, ": ", weights_name, " ", text(weights), " and inputs ", text(inputs),
         " disagree: the weights (K x d) need one column per row of the inputs (d x n)");
  }
  if (bias.rows != weights.rows || bias.cols != 1) {
    fail(function, ": ", bias_name, " ", text(bias), " must be ", shape_text(weights.rows, 1),
         ", one entry per row of the ", weights_name, " ", text(weights));
  }
  check_nonempty_batch(function, inputs.cols);
}

void check_linear_model(std::string_view function, Shape weights, Shape bias, Shape inputs, Shape targets,
                        double lambda) {
  check_linear_shapes(function, weights, bias, inputs);
  check_shape(function, "targets", targets, {weights.rows, inputs.cols});
  check_regularisation(function, lambda);
}

void check_probability_columns(std::string_view function, double largest_deviation, double rounding) {
  if (!(largest_deviation <= rounding)) {
    fail(function, ": a column of the targets sums to 1 +- ", number_text(largest_deviation),
         "; the gradient P - Y needs columns that sum to 1 (one-hot labels or probabilities)");
  }
}

void check_labels(std::string_view function, std::span<const int> labels, Eigen::Index classes,
                  Eigen::Index examples) {
  if (static_cast<Eigen::Index>(labels.size()) != examples) {
    fail(function, ": ", labels.size(), " labels for ", examples,
         " examples; pass one label per column of the inputs");
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail(function, ": label ", labels[i], " at index ", i, " is outside 0..", classes - 1, " (", classes,
           " classes, one per row of the scores)");
    }
  }
}

void check_shape(std::string_view function, std::string_view what, Shape actual, Shape expected) {
  if (actual.rows != expected.rows || actual.cols != expected.cols) {
    fail(function, ": ", what, " has shape ", text(actual), " but must be ", text(expected));
  }
}

void check_regularisation(std::string_view function, double lambda) {
  if (!std::isfinite(lambda) || lambda < 0) {
    fail(function, ": the regularisation strength lambda must be finite and >= 0, got ", number_text(lambda));
  }
}

void check_learning_rate(std::string_view function, double learning_rate) {
  if (!std::isfinite(learning_rate) || learning_rate < 0) {
    fail(function, ": the learning rate must be finite and >= 0, got ", number_text(learning_rate));
  }
}

void check_argument(std::string_view function, std::string_view what, double value, bool valid,
                    std::string_view requirement) {
  if (!valid) fail(function, ": ", what, " must be ", requirement, ", got ", number_text(value));
}

}  // namespace tapegrad::reference
