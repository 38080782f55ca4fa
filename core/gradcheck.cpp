#include <tapegrad/core/gradcheck.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tapegrad {

double GradcheckResult::worst() const {
  double worst = 0;
  for (double e : max_relative_error) worst = std::max(worst, e);
  return worst;
}

std::string GradcheckResult::report(const std::vector<std::string>& names) const {
  std::string text;
  for (std::size_t i = 0; i < max_relative_error.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : fmt::format("input {}", i);
    text += fmt::format("{}: max relative error {:.3e} (max |analytic| {:.3e}, max |numerical| {:.3e})\n", name,
                        max_relative_error[i], max_abs_analytic[i], max_abs_numerical[i]);
  }
  return text;
}

double max_relative_error(const Matrix<double>& analytic, const Matrix<double>& numerical, double eps) {
  if (analytic.rows() != numerical.rows() || analytic.cols() != numerical.cols()) {
    throw_error(fmt::format("max_relative_error: shapes differ: {} and {}",
                            shape_string(analytic.rows(), analytic.cols()),
                            shape_string(numerical.rows(), numerical.cols())));
  }
  double worst = 0;
  for (Index i = 0; i < analytic.size(); ++i) {
    const double a = analytic.data()[i];
    const double n = numerical.data()[i];
    const double error = std::abs(a - n) / std::max(eps, std::abs(a) + std::abs(n));
    // NaN anywhere is the worst possible result, never a pass.
    if (std::isnan(error)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, error);
  }
  return worst;
}

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor<double>> leaves;
  leaves.reserve(inputs.size());
  for (const auto& input : inputs) {
    Tensor<double> leaf(input.value(), true);
    leaves.push_back(leaf);
  }

  // The projection that makes any output a scalar: L = sum(out o R).
  Matrix<double> projection;
  auto evaluate = [&](const std::vector<Tensor<double>>& args) {
    Tensor<double> out = f(args);
    if (projection.size() == 0) {
      Generator generator(options.seed);
      projection = Matrix<double>(out.rows(), out.cols());
      if (out.rows() == 1 && out.cols() == 1) {
        projection(0, 0) = 1.0;
      } else {
        for (Index i = 0; i < projection.size(); ++i) projection.data()[i] = generator.normal();
      }
    }
    return out;
  };

  Tensor<double> out = evaluate(leaves);
  if (!out.requires_grad()) {
    throw_error("gradcheck: the function's result does not depend on any input through the tape");
  }
  out.backward(projection);

  GradcheckResult result;
  NoGradGuard no_grad;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    const Matrix<double> analytic = leaves[k].grad();
    Matrix<double> numerical(analytic.rows(), analytic.cols());
    Matrix<double>& value = leaves[k].mutable_value();
    const double h = options.step;
    auto projected = [&]() { return f(leaves).value().cwiseProduct(projection).sum(); };
    for (Index i = 0; i < value.size(); ++i) {
      const double original = value.data()[i];
      value.data()[i] = original + 2 * h;
      const double f2 = projected();
      value.data()[i] = original + h;
      const double f1 = projected();
      value.data()[i] = original - h;
      const double fm1 = projected();
      value.data()[i] = original - 2 * h;
      const double fm2 = projected();
      value.data()[i] = original;
      numerical.data()[i] = (-f2 + 8 * f1 - 8 * fm1 + fm2) / (12 * h);
    }
    result.max_relative_error.push_back(max_relative_error(analytic, numerical, options.eps));
    result.max_abs_analytic.push_back(analytic.size() ? analytic.cwiseAbs().maxCoeff() : 0.0);
    result.max_abs_numerical.push_back(numerical.size() ? numerical.cwiseAbs().maxCoeff() : 0.0);
  }
  return result;
}

}  // namespace tapegrad
