#include <tapegrad/nn/reference/numerical_gradient.h>

#include <tapegrad/core/gradcheck.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

void check_difference(const char* function, const CentralDifference& difference) {
  if (!std::isfinite(difference.step) || difference.step <= 0) {
    throw_error(fmt::format("{}: the difference step must be finite and > 0, got {}", function, difference.step));
  }
  if (difference.scheme != DifferenceScheme::two_point && difference.scheme != DifferenceScheme::four_point) {
    throw_error(fmt::format("{}: unknown difference scheme {}", function, static_cast<int>(difference.scheme)));
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
      throw_error(fmt::format("numerical_gradient_at: entry {} is outside a parameter {} of {} entries", entry,
                              shape_string(parameter.rows(), parameter.cols()), parameter.size()));
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
  return tapegrad::max_relative_error(analytic, numerical, floor);  // the same formula as gradcheck's
}

Matrix<double> gather_entries(const Matrix<double>& matrix, std::span<const Eigen::Index> entries) {
  Matrix<double> gathered(static_cast<Eigen::Index>(entries.size()), 1);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const Eigen::Index entry = entries[k];
    if (entry < 0 || entry >= matrix.size()) {
      throw_error(fmt::format("gather_entries: entry {} is outside a matrix {} of {} entries", entry,
                              shape_string(matrix.rows(), matrix.cols()), matrix.size()));
    }
    gathered(static_cast<Eigen::Index>(k)) = matrix(entry);
  }
  return gathered;
}

std::vector<Eigen::Index> sample_entries(Eigen::Index size, Eigen::Index count, Generator& generator) {
  if (size < 0 || count < 0) {
    throw_error(fmt::format("sample_entries: size {} and count {} must not be negative", size, count));
  }
  std::vector<Eigen::Index> all(static_cast<std::size_t>(size));
  for (Eigen::Index i = 0; i < size; ++i) all[static_cast<std::size_t>(i)] = i;
  if (count >= size) return all;
  // A partial Fisher-Yates: the first `count` slots end up a uniform sample without repeats.
  for (Eigen::Index i = 0; i < count; ++i) {
    const auto j = i + static_cast<Eigen::Index>(generator.below(static_cast<std::uint64_t>(size - i)));
    std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
  }
  all.resize(static_cast<std::size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace tapegrad::reference
