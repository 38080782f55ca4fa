// gradcheck: the tape's gradients against central differences, in double.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

struct GradcheckOptions {
  // Step of the fourth-order central difference [-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)] / 12h, whose error is
  // O(h^4): about 1e-12 at h = 1e-3 for smooth functions of O(1) values.
  double step = 1e-3;
  // The eps of the reports' relative error |ga - gn| / max(eps, |ga| + |gn|). It matters only where both
  // gradients are below it: there the rounding noise of the differences (about 1e-13) must not count as error.
  double eps = 1e-6;
  // A non-scalar output is reduced to sum(out o R) with R ~ N(0, 1) drawn from this seed, which checks the whole
  // vector-Jacobian product rather than one row of it.
  std::uint64_t seed = 20261122;
};

struct GradcheckResult {
  // Per input, the largest relative error over its entries.
  std::vector<double> max_relative_error;
  // Per input, the largest |analytic gradient| entry: a check where every gradient is zero checks nothing.
  std::vector<double> max_abs_analytic;
  std::vector<double> max_abs_numerical;
  double worst() const;
  // Human-readable: one line per input.
  std::string report(const std::vector<std::string>& names = {}) const;
};

using GradcheckFunction = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

// Checks d f / d inputs for every input (each is made a leaf that requires a gradient). The inputs' values are
// left as they were.
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options = {});

// The reports' relative error, maximised over the entries of two same-shape gradients.
double max_relative_error(const Matrix<double>& analytic, const Matrix<double>& numerical, double eps = 1e-6);

}  // namespace tapegrad
