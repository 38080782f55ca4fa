#include <tapegrad/nn/reference/numerical_gradient.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

void check_difference(const char* function, const CentralDifference& difference) {
  if (!std::isfinite(difference.step) || difference.step <= 0) {
    throw_argument_error(std::string(function) + ": the difference step must be finite and > 0, got " +
                         number_text(difference.step));
  }
  if (difference.scheme != DifferenceScheme::two_point && difference.scheme != DifferenceScheme::four_point) {
    throw_argument_error(std::string(function) + ": unknown difference scheme " +
                         std::to_string(static_cast<int>(difference.scheme)));
  }
}

double cost_at(const CostFunction& cost, double& entry, double value) {
  entry = value;
  return cost();
}

double central_difference(const CostFunction& cost, double& entry, const CentralDifference& difference) {
  const double original = entry;
  const double h = difference.step;
  double derivative = 0;
  if (difference.scheme == DifferenceScheme::two_point) {
    derivative = (cost_at(cost, entry, original + h) - cost_at(cost, entry, original - h)) / (2 * h);
  } else {
    const double near = cost_at(cost, entry, original + h) - cost_at(cost, entry, original - h);
    const double far = cost_at(cost, entry, original + 2 * h) - cost_at(cost, entry, original - 2 * h);
    derivative = (8 * near - far) / (12 * h);
  }
  entry = original;
  return derivative;
}

}  // namespace

Matrix<double> numerical_gradient(const CostFunction& cost, Matrix<double>& parameter,
                                  const CentralDifference& difference) {
  check_difference("numerical_gradient", difference);
  Matrix<double> gradient(parameter.rows(), parameter.cols());
  for (Eigen::Index i = 0; i < parameter.size(); ++i) {
    gradient(i) = central_difference(cost, parameter(i), difference);
  }
  return gradient;
}

Matrix<double> numerical_gradient_at(const CostFunction& cost, Matrix<double>& parameter,
                                     std::span<const Eigen::Index> entries, const CentralDifference& difference) {
  check_difference("numerical_gradient_at", difference);
  Matrix<double> gradient(static_cast<Eigen::Index>(entries.size()), 1);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const Eigen::Index entry = entries[k];
    if (entry < 0 || entry >= parameter.size()) {
      throw_argument_error("numerical_gradient_at: entry " + std::to_string(entry) + " is outside a parameter " +
                           shape_text(parameter.rows(), parameter.cols()) + " of " +
                           std::to_string(parameter.size()) + " entries");
    }
    gradient(static_cast<Eigen::Index>(k)) = central_difference(cost, parameter(entry), difference);
  }
  return gradient;
}

double relative_error(double analytic, double numerical, double floor) {
  return std::abs(analytic - numerical) / std::max(floor, std::abs(analytic) + std::abs(numerical));
}

double max_relative_error(const Matrix<double>& analytic, const Matrix<double>& numerical, double floor) {
  check_shape("max_relative_error", "the numerical gradient", shape_of(numerical), shape_of(analytic));
  double worst = 0;
  for (Eigen::Index i = 0; i < analytic.size(); ++i) {
    const double error = relative_error(analytic.data()[i], numerical.data()[i], floor);
    // NaN anywhere is the worst possible result, never a pass.
    if (std::isnan(error)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, error);
  }
  return worst;
}

Matrix<double> gather_entries(const Matrix<double>& matrix, std::span<const Eigen::Index> entries) {
  Matrix<double> gathered(static_cast<Eigen::Index>(entries.size()), 1);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const Eigen::Index entry = entries[k];
    if (entry < 0 || entry >= matrix.size()) {
      throw_argument_error("gather_entries: entry " + std::to_string(entry) + " is outside a matrix " +
                           shape_text(matrix.rows(), matrix.cols()) + " of " + std::to_string(matrix.size()) +
                           " entries");
    }
    gathered(static_cast<Eigen::Index>(k)) = matrix(entry);
  }
  return gathered;
}

}  // namespace tapegrad::reference
