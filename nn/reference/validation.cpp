#include <tapegrad/nn/reference/validation.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

void throw_argument_error(const std::string& message) { throw ArgumentError(message); }

std::string shape_text(Eigen::Index rows, Eigen::Index cols) { return fmt::format("({} x {})", rows, cols); }

namespace {

std::string shape_text(Shape shape) { return reference::shape_text(shape.rows, shape.cols); }

}  // namespace

void check_nonempty_batch(std::string_view function, Eigen::Index examples) {
  if (examples <= 0) {
    throw_argument_error(
        fmt::format("{}: the batch is empty (0 columns); pass at least one example as a column", function));
  }
}

void check_linear_shapes(std::string_view function, Shape weights, Shape bias, Shape inputs,
                         std::string_view weights_name, std::string_view bias_name) {
  if (weights.cols != inputs.rows) {
    throw_argument_error(
        fmt::format("{}: {} {} and inputs {} disagree: the weights (K x d) need one column per row of the "
                    "inputs (d x n)",
                    function, weights_name, shape_text(weights), shape_text(inputs)));
  }
  if (bias.rows != weights.rows || bias.cols != 1) {
    throw_argument_error(fmt::format("{}: {} {} must be {}, one entry per row of the {} {}", function, bias_name,
                            shape_text(bias), shape_text(weights.rows, 1), weights_name, shape_text(weights)));
  }
  check_nonempty_batch(function, inputs.cols);
}

void check_labels(std::string_view function, std::span<const int> labels, Eigen::Index classes,
                  Eigen::Index examples) {
  if (static_cast<Eigen::Index>(labels.size()) != examples) {
    throw_argument_error(fmt::format("{}: {} labels for {} examples; pass one label per column of the inputs", function,
                            labels.size(), examples));
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw_argument_error(fmt::format("{}: label {} at index {} is outside 0..{} ({} classes, one per row of the scores)",
                              function, labels[i], i, classes - 1, classes));
    }
  }
}

void check_binary_labels(std::string_view function, std::span<const int> labels, Eigen::Index examples) {
  check_labels(function, labels, 2, examples);
}

void check_shape(std::string_view function, std::string_view what, Shape actual, Shape expected) {
  if (actual.rows != expected.rows || actual.cols != expected.cols) {
    throw_argument_error(fmt::format("{}: {} has shape {} but must be {}", function, what, shape_text(actual),
                            shape_text(expected)));
  }
}

void check_regularisation(std::string_view function, double lambda) {
  if (!std::isfinite(lambda) || lambda < 0) {
    throw_argument_error(
        fmt::format("{}: the regularisation strength lambda must be finite and >= 0, got {}", function, lambda));
  }
}

void check_learning_rate(std::string_view function, double learning_rate) {
  if (!std::isfinite(learning_rate) || learning_rate < 0) {
    throw_argument_error(fmt::format("{}: the learning rate must be finite and >= 0, got {}", function, learning_rate));
  }
}

void check_argument(std::string_view function, std::string_view what, double value, bool valid,
                    std::string_view requirement) {
  if (!valid) throw_argument_error(fmt::format("{}: {} must be {}, got {}", function, what, requirement, value));
}

}  // namespace tapegrad::reference
