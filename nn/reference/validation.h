// Argument checks shared by the reference functions. Each throws ArgumentError (types.h) whose message starts with
// the name of the function that was called and names the shapes or values that were wrong.
#pragma once

#include <Eigen/Core>
#include <limits>
#include <span>
#include <string>
#include <string_view>

namespace tapegrad::reference {

struct Shape {
  Eigen::Index rows = 0;
  Eigen::Index cols = 0;
};

// Throws ArgumentError(message).
[[noreturn]] void throw_argument_error(const std::string& message);
// "(rows x cols)", the way every shape appears in messages.
std::string shape_text(Eigen::Index rows, Eigen::Index cols);
// A number as a message shows it: 0.1, not 0.100000.
std::string number_text(double value);

template <typename Derived>
Shape shape_of(const Eigen::EigenBase<Derived>& matrix) {
  return {matrix.rows(), matrix.cols()};
}

// S = W X + b needs W (K x d), b (K x 1), X (d x n) with n > 0. The names say which layer, in messages.
void check_linear_shapes(std::string_view function, Shape weights, Shape bias, Shape inputs,
                         std::string_view weights_name = "weights", std::string_view bias_name = "bias");
// A linear model's arguments: S = W X + b as above, targets Y with one row per row of W and one column per
// example, and lambda finite and >= 0.
void check_linear_model(std::string_view function, Shape weights, Shape bias, Shape inputs, Shape targets,
                        double lambda);
// The softmax models' gradient P - Y is that of their loss only when every column of Y sums to 1 (one-hot, or
// probabilities): `largest_deviation` is the largest |1^T y_i - 1|, which must be within rounding.
void check_probability_columns(std::string_view function, double largest_deviation, double rounding);
template <typename Derived>
void check_probability_columns(std::string_view function, const Eigen::MatrixBase<Derived>& targets) {
  using T = typename Derived::Scalar;
  const auto deviation = (targets.colwise().sum().array() - T(1)).abs().maxCoeff();
  check_probability_columns(function, static_cast<double>(deviation), 100 * std::numeric_limits<T>::epsilon());
}
// Labels are class indices 0..classes-1, one per example (column).
void check_labels(std::string_view function, std::span<const int> labels, Eigen::Index classes,
                  Eigen::Index examples);
// `what` (e.g. "targets") must have exactly the shape `expected`.
void check_shape(std::string_view function, std::string_view what, Shape actual, Shape expected);
void check_nonempty_batch(std::string_view function, Eigen::Index examples);
void check_regularisation(std::string_view function, double lambda);
void check_learning_rate(std::string_view function, double learning_rate);
// Any other argument: `valid` says whether `value` meets `requirement`, which the message quotes, e.g.
// check_argument("k_layer_forward", "eps", eps, eps > 0, "finite and > 0").
void check_argument(std::string_view function, std::string_view what, double value, bool valid,
                    std::string_view requirement);

}  // namespace tapegrad::reference
