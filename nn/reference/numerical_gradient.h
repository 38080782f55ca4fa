// Central-difference gradients in double and the reports' relative error, to hold analytic gradients (the
// reference ones and the tape's) against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// A cost to differentiate: it is called again for every perturbed entry, so it must read the parameter matrix
// that is being perturbed (capture that matrix by reference).
using CostFunction = std::function<double()>;

// A central difference makes two errors: truncation, from the curvature of J, and rounding, about
// (machine epsilon * |J|) / h. The reports' two-point formula with h = 1e-6 leaves rounding noise near 1e-9, so
// that gradient entries below about 1e-3 cannot be checked to a relative 1e-6. The four-point formula is accurate
// to O(h^4), so it can take a larger h: with h = 1e-3 both errors stay near 1e-12 for costs of order 1-10.
enum class DifferenceScheme {
  two_point,   // (J(p + h) - J(p - h)) / 2h, the reports' formula; error O(h^2)
  four_point,  // (-J(p + 2h) + 8 J(p + h) - 8 J(p - h) + J(p - 2h)) / 12h; error O(h^4)
};

struct CentralDifference {
  DifferenceScheme scheme = DifferenceScheme::four_point;
  // Keep h small enough that no kink (a ReLU switching on or off) lies within the stencil, which reaches 2h
  // (four_point) or h (two_point) away from the entry.
  double step = 1e-3;
};

// The reports' eps in |ga - gn| / max(eps, |ga| + |gn|). Where both gradients are below it, the difference is
// judged against eps instead, so that rounding noise on entries that are zero or nearly so is not counted as a
// relative error of order 1.
inline constexpr double default_relative_error_floor = 1e-6;

// dJ/dp_i by central differences for every entry i of `parameter`; each entry is restored bit for bit.
Matrix<double> numerical_gradient(const CostFunction& cost, Matrix<double>& parameter,
                                  const CentralDifference& difference = {});
// The same at the given entries only (column-major linear indices), as a column in their order.
Matrix<double> numerical_gradient_at(const CostFunction& cost, Matrix<double>& parameter,
                                     std::span<const Eigen::Index> entries,
                                     const CentralDifference& difference = {});

// |ga - gn| / max(floor, |ga| + |gn|).
double relative_error(double analytic, double numerical, double floor = default_relative_error_floor);
// The largest relative error over the entries of two same-shaped gradients (0 when they are empty; infinity when
// any entry is NaN): the largest relative_error, with a check that names the shapes.
double max_relative_error(const Matrix<double>& analytic, const Matrix<double>& numerical,
                          double floor = default_relative_error_floor);

// The entries of `matrix` at column-major linear indices, as a column (to compare with numerical_gradient_at).
Matrix<double> gather_entries(const Matrix<double>& matrix, std::span<const Eigen::Index> entries);
// `count` distinct column-major indices into a matrix of `size` entries, in increasing order, drawn with
// `generator` (anything with below(n), uniform in 0..n-1, such as tapegrad::Generator); all of them when
// count >= size. For checking a sample of a large gradient.
template <typename Generator>
std::vector<Eigen::Index> sample_entries(Eigen::Index size, Eigen::Index count, Generator& generator) {
  if (size < 0 || count < 0) {
    throw ArgumentError("sample_entries: size " + std::to_string(size) + " and count " + std::to_string(count) +
                        " must not be negative");
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
