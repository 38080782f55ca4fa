// The element-wise passes of core/kernels/elementwise.h: every pass at every level this CPU runs against the
// portable level (bit for bit where no exp, tanh or log is involved) and against a plain scalar formula, on sizes
// around the vector widths and one large matrix; shifted inputs give the same bits; NaN and Inf where defined.
#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/core/kernels/isa.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace tapegrad::kernels;

namespace {

// The levels above portable that can run here; the missing ones are reported once per run.
std::vector<Isa> levels_to_compare() {
  static bool warned = false;
  std::vector<Isa> levels;
  for (const Isa isa : runnable_levels()) {
    if (isa != Isa::portable && elementwise_level_runs(isa)) levels.push_back(isa);
  }
  const Isa highest = levels.empty() ? Isa::portable : levels.back();
  if (highest != Isa::avx512 && !warned) {
    warned = true;
    WARN("element-wise levels above " << isa_name(highest) << " not tested here (this CPU or build lacks them)");
  }
  return levels;
}

// Deterministic values in [lo, hi) (a small linear congruential generator: the same on every platform).
template <typename T>
std::vector<T> values(Count n, std::uint64_t seed, double lo, double hi) {
  std::vector<T> out(static_cast<std::size_t>(n));
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 12345;
  for (T& v : out) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double unit = static_cast<double>(state >> 11) * 0x1.0p-53;
    v = static_cast<T>(lo + (hi - lo) * unit);
  }
  return out;
}

// Copies of the inputs placed `offset` elements into their buffers (to move them off any alignment).
template <typename T>
struct Shifted {
  std::vector<T> storage;
  Count offset;
  Shifted(const std::vector<T>& data, Count shift) : storage(data.size() + 8), offset(shift) {
    std::copy(data.begin(), data.end(), storage.begin() + offset);
  }
  T* get() { return storage.data() + offset; }
  std::vector<T> result(Count n) const { return {storage.begin() + offset, storage.begin() + offset + n}; }
};

// One pass: run it at a level on (rows x cols) inputs shifted by `offset`, and its plain scalar formula.
template <typename T>
struct Pass {
  std::string name;
  bool transcendental;
  std::function<std::vector<T>(const ElementwiseKernels<T>&, Count rows, Count cols, Count offset)> run;
  std::function<std::vector<double>(Count rows, Count cols)> formula;
  double formula_tolerance = 1.0;  // a multiple of the type's base tolerance
};

template <typename T>
double base_tolerance() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-13;
}

template <typename T>
AdamCoefficients<T> adam_coefficients(bool l2, bool decoupled) {
  return {T(0.9),
          T(0.1),
          T(0.999),
          T(0.001),
          T(0.01 / (1 - 0.9 * 0.9 * 0.9)),
          T(std::sqrt(1 - std::pow(0.999, 3))),
          T(1e-8),
          T(l2 ? 0.01 : 0.0),
          T(decoupled ? 1 - 0.01 * 0.01 : 1.0),
          l2,
          decoupled};
}

template <typename T>
Pass<T> adam_pass(bool l2, bool decoupled) {
  const auto c = adam_coefficients<T>(l2, decoupled);
  Pass<T> pass{std::string("adam_update") + (l2 ? " l2" : "") + (decoupled ? " decoupled" : ""), false, {}, {}};
  pass.run = [c](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const Count n = rows * cols;
    Shifted<T> w(values<T>(n, 1, -1, 1), offset), g(values<T>(n, 2, -1, 1), offset);
    Shifted<T> m(values<T>(n, 3, -0.1, 0.1), offset), v(values<T>(n, 4, 0, 0.01), offset);
    k.adam_update(n, w.get(), g.get(), m.get(), v.get(), c);
    std::vector<T> out = w.result(n);
    for (const auto* s : {&m, &v}) {
      const auto part = s->result(n);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  pass.formula = [c](Count rows, Count cols) {
    const Count n = rows * cols;
    const auto w = values<T>(n, 1, -1, 1), g = values<T>(n, 2, -1, 1);
    const auto m = values<T>(n, 3, -0.1, 0.1), v = values<T>(n, 4, 0, 0.01);
    std::vector<double> ws(n), ms(n), vs(n);
    for (Count i = 0; i < n; ++i) {
      const double gd = double(g[i]) + (c.l2_in_gradient ? double(c.weight_decay) * w[i] : 0.0);
      ms[i] = double(c.beta1) * m[i] + double(c.one_minus_beta1) * gd;
      vs[i] = double(c.beta2) * v[i] + double(c.one_minus_beta2) * gd * gd;
      const double update =
          double(c.step_size) * ms[i] / (std::sqrt(vs[i]) / double(c.sqrt_bias_correction2) + double(c.eps));
      ws[i] = (c.decoupled_decay ? double(c.weight_keep) * w[i] : double(w[i])) - update;
    }
    ws.insert(ws.end(), ms.begin(), ms.end());
    ws.insert(ws.end(), vs.begin(), vs.end());
    return ws;
  };
  pass.formula_tolerance = 50;  // the update divides by sqrt(v) + eps, which amplifies the rounding of v
  return pass;
}

template <typename T>
Pass<T> sgd_pass(T momentum, T weight_decay, bool nesterov, bool first) {
  const SgdCoefficients<T> c{T(0.05),  weight_decay, momentum, T(momentum != 0 && !nesterov ? 0.9 : 1.0),
                             nesterov, first};
  Pass<T> pass{"sgd_update momentum " + std::to_string(double(momentum)) + " decay " +
                   std::to_string(double(weight_decay)) + (nesterov ? " nesterov" : "") + (first ? " first" : ""),
               false,
               {},
               {}};
  pass.run = [c](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const Count n = rows * cols;
    Shifted<T> w(values<T>(n, 5, -1, 1), offset), g(values<T>(n, 6, -1, 1), offset),
        b(values<T>(n, 7, -1, 1), offset);
    k.sgd_update(n, w.get(), g.get(), c.momentum == 0 ? nullptr : b.get(), c);
    std::vector<T> out = w.result(n);
    const auto buffer = b.result(n);
    out.insert(out.end(), buffer.begin(), buffer.end());
    return out;
  };
  pass.formula = [c](Count rows, Count cols) {
    const Count n = rows * cols;
    const auto w = values<T>(n, 5, -1, 1), g = values<T>(n, 6, -1, 1), b = values<T>(n, 7, -1, 1);
    std::vector<double> ws(n), bs(b.begin(), b.end());
    for (Count i = 0; i < n; ++i) {
      const double gd = double(g[i]) + double(c.weight_decay) * w[i];
      double step = gd;
      if (c.momentum != 0) {
        bs[i] = c.first_momentum_step ? gd : double(c.momentum) * b[i] + double(c.gradient_share) * gd;
        step = c.nesterov ? gd + double(c.momentum) * bs[i] : bs[i];
      }
      ws[i] = w[i] - double(c.learning_rate) * step;
    }
    ws.insert(ws.end(), bs.begin(), bs.end());
    return ws;
  };
  return pass;
}

// A pass of one input x (values in [lo, hi)) and, when binary, a second input y in [-1, 1).
template <typename T>
Pass<T> unary_pass(std::string name, bool transcendental, double lo, double hi,
                   std::function<void(const ElementwiseKernels<T>&, Count, const T*, const T*, T*)> call,
                   std::function<double(double x, double y)> formula) {
  Pass<T> pass{std::move(name), transcendental, {}, {}};
  pass.run = [=](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const Count n = rows * cols;
    Shifted<T> x(values<T>(n, 8, lo, hi), offset), y(values<T>(n, 9, -1, 1), offset),
        out(std::vector<T>(n), offset);
    call(k, n, x.get(), y.get(), out.get());
    return out.result(n);
  };
  pass.formula = [=](Count rows, Count cols) {
    const Count n = rows * cols;
    const auto x = values<T>(n, 8, lo, hi), y = values<T>(n, 9, -1, 1);
    std::vector<double> out(n);
    for (Count i = 0; i < n; ++i) out[i] = formula(x[i], y[i]);
    return out;
  };
  return pass;
}

double plain_sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Passes over (rows x cols) matrices: softmax, its backward rules, broadcasts and sums.
template <typename T>
std::vector<Pass<T>> column_passes() {
  std::vector<Pass<T>> passes;
  const auto matrix_pass =
      [&](std::string name, bool transcendental, Count out_size_rows, Count out_size_cols,
          std::function<void(const ElementwiseKernels<T>&, Count, Count, const T*, const T*, T*)> call,
          std::function<std::vector<double>(Count, Count, const std::vector<T>&, const std::vector<T>&)> formula,
          double tolerance) {
        Pass<T> pass{std::move(name), transcendental, {}, {}, tolerance};
        pass.run = [=](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
          const Count out_size = (out_size_rows ? rows : 1) * (out_size_cols ? cols : 1) + (out_size_rows ? 0 : 0);
          // x: scores in [-5, 5); y: in [0, 1) and normalised per column (a probability-like second input).
          Shifted<T> x(values<T>(rows * cols, 10, -5, 5), offset), y(values<T>(rows * cols, 11, 0, 1), offset);
          Shifted<T> out(std::vector<T>(out_size), offset);
          call(k, rows, cols, x.get(), y.get(), out.get());
          return out.result(out_size);
        };
        pass.formula = [=](Count rows, Count cols) {
          return formula(rows, cols, values<T>(rows * cols, 10, -5, 5), values<T>(rows * cols, 11, 0, 1));
        };
        passes.push_back(pass);
      };
  using V = std::vector<T>;
  matrix_pass(
      "column_softmax", true, 1, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T*, T* out) {
        std::vector<T> lse(cols);
        k.column_softmax(rows, cols, x, out, lse.data());
        // Both outputs checked through one: each column's log-sum-exp added to its first probability.
        for (Count j = 0; j < cols; ++j) out[j * rows] += lse[j];
      },
      [](Count rows, Count cols, const V& x, const V&) {
        std::vector<double> out(rows * cols);
        for (Count j = 0; j < cols; ++j) {
          double shift = -INFINITY, total = 0;
          for (Count i = 0; i < rows; ++i) shift = std::max(shift, double(x[j * rows + i]));
          for (Count i = 0; i < rows; ++i) total += std::exp(x[j * rows + i] - shift);
          for (Count i = 0; i < rows; ++i) out[j * rows + i] = std::exp(x[j * rows + i] - shift) / total;
          out[j * rows] += shift + std::log(total);
        }
        return out;
      },
      4);
  matrix_pass(
      "softmax_backward", false, 1, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T* y, T* out) {
        k.softmax_backward(rows, cols, y, x, out);
      },
      [](Count rows, Count cols, const V& x, const V& y) {
        std::vector<double> out(rows * cols);
        for (Count j = 0; j < cols; ++j) {
          double inner = 0;
          for (Count i = 0; i < rows; ++i) inner += double(x[j * rows + i]) * y[j * rows + i];
          for (Count i = 0; i < rows; ++i) out[j * rows + i] = y[j * rows + i] * (x[j * rows + i] - inner);
        }
        return out;
      },
      200);
  matrix_pass(
      "log_softmax_backward", false, 1, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T* y, T* out) {
        k.log_softmax_backward(rows, cols, y, x, out);
      },
      [](Count rows, Count cols, const V& x, const V& y) {
        std::vector<double> out(rows * cols);
        for (Count j = 0; j < cols; ++j) {
          double total = 0;
          for (Count i = 0; i < rows; ++i) total += x[j * rows + i];
          for (Count i = 0; i < rows; ++i) out[j * rows + i] = x[j * rows + i] - y[j * rows + i] * total;
        }
        return out;
      },
      200);
  matrix_pass(
      "add_column", false, 1, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T* y, T* out) {
        std::copy(x, x + rows * cols, out);
        k.add_column(rows, cols, out, y);  // the first column of y as the bias
      },
      [](Count rows, Count cols, const V& x, const V& y) {
        std::vector<double> out(rows * cols);
        for (Count j = 0; j < cols; ++j)
          for (Count i = 0; i < rows; ++i) out[j * rows + i] = double(x[j * rows + i]) + y[i];
        return out;
      },
      1);
  matrix_pass(
      "sum_across_columns", false, 1, 0,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T*, T* out) {
        k.sum_across_columns(rows, cols, x, out);
      },
      [](Count rows, Count cols, const V& x, const V&) {
        std::vector<double> out(rows, 0.0);
        for (Count j = 0; j < cols; ++j)
          for (Count i = 0; i < rows; ++i) out[i] += x[j * rows + i];
        return out;
      },
      500);
  matrix_pass(
      "sum_down_columns", false, 0, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T*, T* out) {
        k.sum_down_columns(rows, cols, x, out);
      },
      [](Count rows, Count cols, const V& x, const V&) {
        std::vector<double> out(cols, 0.0);
        for (Count j = 0; j < cols; ++j)
          for (Count i = 0; i < rows; ++i) out[j] += x[j * rows + i];
        return out;
      },
      500);
  matrix_pass(
      "sum", false, 0, 0,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T*, const T* y, T* out) {
        out[0] = k.sum(rows * cols, y);
      },
      [](Count rows, Count cols, const V&, const V& y) {
        double total = 0;
        for (Count i = 0; i < rows * cols; ++i) total += y[i];
        return std::vector<double>{total};
      },
      500);
  // Scores in [-5, 5) and targets in [0, 1): the multiple BCE's sum (its padding must add nothing).
  matrix_pass(
      "binary_cross_entropy_sum", true, 0, 0,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T* y, T* out) {
        out[0] = k.binary_cross_entropy_sum(rows * cols, x, y);
      },
      [](Count rows, Count cols, const V& x, const V& y) {
        double total = 0;
        for (Count i = 0; i < rows * cols; ++i) {
          const double s = x[i];
          total += std::max(s, 0.0) + std::log1p(std::exp(-std::abs(s))) - s * y[i];
        }
        return std::vector<double>{total};
      },
      500);
  matrix_pass(
      "sum_of_squares", false, 0, 0,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T*, T* out) {
        out[0] = k.sum_of_squares(rows * cols, x);
      },
      [](Count rows, Count cols, const V& x, const V&) {
        double total = 0;
        for (Count i = 0; i < rows * cols; ++i) total += double(x[i]) * x[i];
        return std::vector<double>{total};
      },
      500);
  matrix_pass(
      "scale then add_scaled", false, 1, 1,
      [](const ElementwiseKernels<T>& k, Count rows, Count cols, const T* x, const T* y, T* out) {
        k.scale(rows * cols, x, T(0.75), out);
        k.add_scaled(rows * cols, y, T(-2.5), out);
      },
      [](Count rows, Count cols, const V& x, const V& y) {
        std::vector<double> out(rows * cols);
        for (Count i = 0; i < rows * cols; ++i) out[i] = 0.75 * x[i] - 2.5 * y[i];
        return out;
      },
      4);
  return passes;
}

// Pixels 0..255 (cycling through every value) standardised by a per-feature center and scale.
template <typename T>
Pass<T> standardize_pass() {
  const auto pixels_of = [](Count n) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(n));
    for (Count i = 0; i < n; ++i)
      pixels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    return pixels;
  };
  Pass<T> pass{"standardize_pixels", false, {}, {}};
  pass.run = [=](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const Count n = rows * cols;
    const std::vector<std::uint8_t> pixels = pixels_of(n);
    std::vector<std::uint8_t> shifted_pixels(pixels.size() + 8);
    std::copy(pixels.begin(), pixels.end(), shifted_pixels.begin() + offset);
    Shifted<T> center(values<T>(n, 12, 0, 255), offset), scale(values<T>(n, 13, 0.001, 0.05), offset);
    Shifted<T> out(std::vector<T>(n), offset);
    k.standardize_pixels(n, shifted_pixels.data() + offset, center.get(), scale.get(), out.get());
    return out.result(n);
  };
  pass.formula = [=](Count rows, Count cols) {
    const Count n = rows * cols;
    const auto pixels = pixels_of(n);
    const auto center = values<T>(n, 12, 0, 255), scale = values<T>(n, 13, 0.001, 0.05);
    std::vector<double> out(n);
    for (Count i = 0; i < n; ++i) out[i] = (double(pixels[i]) - center[i]) * double(scale[i]);
    return out;
  };
  return pass;
}

// The per-feature statistics of a (rows x cols) batch in double: mean, biased variance, 1 / sqrt(v + eps).
struct PlainStatistics {
  std::vector<double> mean, variance, inverse_std;
};

template <typename T>
PlainStatistics plain_statistics(Count rows, Count cols, const std::vector<T>& x, double eps) {
  PlainStatistics s{std::vector<double>(rows, 0.0), std::vector<double>(rows, 0.0), std::vector<double>(rows)};
  for (Count j = 0; j < cols; ++j)
    for (Count i = 0; i < rows; ++i) s.mean[i] += double(x[j * rows + i]) / double(cols);
  for (Count j = 0; j < cols; ++j)
    for (Count i = 0; i < rows; ++i) {
      const double d = x[j * rows + i] - s.mean[i];
      s.variance[i] += d * d / double(cols);
    }
  for (Count i = 0; i < rows; ++i) s.inverse_std[i] = 1 / std::sqrt(s.variance[i] + eps);
  return s;
}

// BatchNorm's inputs: x with a large mean (12) next to its spread, an upstream gradient, gamma and beta per row.
template <typename T>
struct BatchNormInputs {
  std::vector<T> x, g, gamma, beta;
  BatchNormInputs(Count rows, Count cols)
      : x(values<T>(rows * cols, 14, 9, 15)),
        g(values<T>(rows * cols, 15, -1, 1)),
        gamma(values<T>(rows, 16, 0.5, 2)),
        beta(values<T>(rows, 17, -1, 1)) {}
};

constexpr double batch_norm_eps = 1e-5;

// Forward: out, then mean, variance and 1 / sqrt(v + eps), with or without gamma and beta.
template <typename T>
Pass<T> batch_norm_forward_pass(bool affine) {
  Pass<T> pass{std::string("batch_norm_forward") + (affine ? " affine" : ""), false, {}, {}, 500};
  pass.run = [=](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const BatchNormInputs<T> in(rows, cols);
    Shifted<T> x(in.x, offset), gamma(in.gamma, offset), beta(in.beta, offset);
    Shifted<T> out(std::vector<T>(rows * cols), offset);
    std::vector<T> stats(3 * rows);
    k.batch_norm_forward(rows, cols, x.get(), affine ? gamma.get() : nullptr, affine ? beta.get() : nullptr,
                         T(batch_norm_eps), out.get(), stats.data(), stats.data() + rows, stats.data() + 2 * rows);
    std::vector<T> result = out.result(rows * cols);
    result.insert(result.end(), stats.begin(), stats.end());
    return result;
  };
  pass.formula = [=](Count rows, Count cols) {
    const BatchNormInputs<T> in(rows, cols);
    const PlainStatistics s = plain_statistics(rows, cols, in.x, batch_norm_eps);
    std::vector<double> out(rows * cols);
    for (Count j = 0; j < cols; ++j)
      for (Count i = 0; i < rows; ++i) {
        const double y = (in.x[j * rows + i] - s.mean[i]) * s.inverse_std[i];
        out[j * rows + i] = affine ? y * in.gamma[i] + in.beta[i] : y;
      }
    for (const auto* part : {&s.mean, &s.variance, &s.inverse_std})
      out.insert(out.end(), part->begin(), part->end());
    return out;
  };
  return pass;
}

// Backward (after the level's forward): dx, then dgamma and dbeta when affine.
template <typename T>
Pass<T> batch_norm_backward_pass(bool affine) {
  Pass<T> pass{std::string("batch_norm_backward") + (affine ? " affine" : ""), false, {}, {}, 500};
  pass.run = [=](const ElementwiseKernels<T>& k, Count rows, Count cols, Count offset) {
    const BatchNormInputs<T> in(rows, cols);
    Shifted<T> x(in.x, offset), g(in.g, offset), gamma(in.gamma, offset);
    Shifted<T> dx(std::vector<T>(rows * cols), offset);
    std::vector<T> out(rows * cols), mean(rows), variance(rows), inverse_std(rows), dgamma(rows), dbeta(rows);
    k.batch_norm_forward(rows, cols, x.get(), nullptr, nullptr, T(batch_norm_eps), out.data(), mean.data(),
                         variance.data(), inverse_std.data());
    k.batch_norm_backward(rows, cols, x.get(), g.get(), mean.data(), inverse_std.data(),
                          affine ? gamma.get() : nullptr, dx.get(), affine ? dgamma.data() : nullptr,
                          affine ? dbeta.data() : nullptr);
    std::vector<T> result = dx.result(rows * cols);
    if (affine) {
      result.insert(result.end(), dgamma.begin(), dgamma.end());
      result.insert(result.end(), dbeta.begin(), dbeta.end());
    }
    return result;
  };
  pass.formula = [=](Count rows, Count cols) {
    const BatchNormInputs<T> in(rows, cols);
    const PlainStatistics s = plain_statistics(rows, cols, in.x, batch_norm_eps);
    std::vector<double> sg(rows, 0.0), sgd(rows, 0.0), dx(rows * cols);
    for (Count j = 0; j < cols; ++j)
      for (Count i = 0; i < rows; ++i) {
        sg[i] += in.g[j * rows + i];
        sgd[i] += in.g[j * rows + i] * (in.x[j * rows + i] - s.mean[i]);
      }
    const double n = double(cols);
    for (Count j = 0; j < cols; ++j)
      for (Count i = 0; i < rows; ++i) {
        const double a = s.inverse_std[i] * (affine ? double(in.gamma[i]) : 1.0);
        const double d = in.x[j * rows + i] - s.mean[i];
        dx[j * rows + i] =
            a * (in.g[j * rows + i] - sg[i] / n - d * s.inverse_std[i] * s.inverse_std[i] * sgd[i] / n);
      }
    if (affine) {
      for (Count i = 0; i < rows; ++i) dx.push_back(sgd[i] * s.inverse_std[i]);
      dx.insert(dx.end(), sg.begin(), sg.end());
    }
    return dx;
  };
  return pass;
}

template <typename T>
std::vector<Pass<T>> all_passes() {
  std::vector<Pass<T>> passes;
  for (bool l2 : {false, true})
    for (bool decoupled : {false, true}) passes.push_back(adam_pass<T>(l2, decoupled));
  passes.push_back(sgd_pass<T>(0, 0, false, false));
  passes.push_back(sgd_pass<T>(0, T(0.01), false, false));
  passes.push_back(sgd_pass<T>(T(0.9), T(0.01), false, true));
  passes.push_back(sgd_pass<T>(T(0.9), T(0.01), false, false));
  passes.push_back(sgd_pass<T>(T(0.9), 0, true, false));
  using K = ElementwiseKernels<T>;
  passes.push_back(unary_pass<T>(
      "relu_forward", false, -1, 1,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.relu_forward(n, x, o); },
      [](double x, double) { return std::max(x, 0.0); }));
  passes.push_back(unary_pass<T>(
      "relu_backward", false, -1, 1,
      [](const K& k, Count n, const T* x, const T* y, T* o) { k.relu_backward(n, x, y, o); },
      [](double x, double y) { return x > 0 ? y : 0.0; }));
  passes.push_back(unary_pass<T>(
      "leaky_relu_forward", false, -1, 1,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.leaky_relu_forward(n, x, T(0.125), o); },
      [](double x, double) { return x > 0 ? x : 0.125 * x; }));
  passes.push_back(unary_pass<T>(
      "leaky_relu_backward", false, -1, 1,
      [](const K& k, Count n, const T* x, const T* y, T* o) { k.leaky_relu_backward(n, x, y, T(0.125), o); },
      [](double x, double y) { return x > 0 ? y : 0.125 * y; }));
  passes.push_back(unary_pass<T>(
      "sigmoid_forward", true, -30, 30,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.sigmoid_forward(n, x, o); },
      [](double x, double) { return plain_sigmoid(x); }));
  passes.push_back(unary_pass<T>(
      "sigmoid_backward", false, 0, 1,
      [](const K& k, Count n, const T* x, const T* y, T* o) { k.sigmoid_backward(n, x, y, o); },
      [](double p, double g) { return g * p * (1 - p); }));
  passes.push_back(unary_pass<T>(
      "tanh_forward", true, -12, 12,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.tanh_forward(n, x, o); },
      [](double x, double) { return std::tanh(x); }));
  passes.push_back(unary_pass<T>(
      "tanh_forward near 0", true, -1e-3, 1e-3,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.tanh_forward(n, x, o); },
      [](double x, double) { return std::tanh(x); }));
  passes.push_back(unary_pass<T>(
      "tanh_backward", false, -1, 1,
      [](const K& k, Count n, const T* x, const T* y, T* o) { k.tanh_backward(n, x, y, o); },
      [](double t, double g) { return g * (1 - t * t); }));
  passes.push_back(unary_pass<T>(
      "sigmoid_minus_target", true, -30, 30,
      [](const K& k, Count n, const T* x, const T* y, T* o) { k.sigmoid_minus_target(n, x, y, T(0.5), o); },
      [](double s, double y) { return (plain_sigmoid(s) - y) * 0.5; }));
  passes.push_back(unary_pass<T>(
      "softplus_forward", true, -40, 40,
      [](const K& k, Count n, const T* x, const T*, T* o) { k.softplus_forward(n, x, o); },
      [](double x, double) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }));
  for (auto& pass : column_passes<T>()) passes.push_back(std::move(pass));
  passes.push_back(standardize_pass<T>());
  for (bool affine : {false, true}) {
    passes.push_back(batch_norm_forward_pass<T>(affine));
    passes.push_back(batch_norm_backward_pass<T>(affine));
  }
  return passes;
}

struct Shape {
  Count rows, cols;
};

// Sizes 1..33 around every vector width (as columns of 3, so that the column passes see them too) and one large.
std::vector<Shape> shapes() {
  std::vector<Shape> list;
  for (Count rows = 1; rows <= 33; ++rows) list.push_back({rows, 3});
  // Whole and partial groups of short columns, either side of the softmax's short-column limit (64); BatchNorm's
  // shapes (features x examples).
  for (Shape shape : {Shape{10, 37}, Shape{64, 17}, Shape{65, 5}, Shape{50, 100}, Shape{256, 100}})
    list.push_back(shape);
  list.push_back({3072, 100});
  return list;
}

bool same_bits(const auto& a, const auto& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
}

// Relative distance with a floor of 1 (values near zero compared absolutely).
double distance(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); }

template <typename T>
void check_against_portable_and_formula() {
  const auto& portable = elementwise_at<T>(Isa::portable);
  const auto levels = levels_to_compare();
  for (const Pass<T>& pass : all_passes<T>()) {
    for (const Shape& shape : shapes()) {
      INFO(pass.name << " on " << shape.rows << " x " << shape.cols);
      const auto expected = pass.run(portable, shape.rows, shape.cols, 0);
      const auto formula = pass.formula(shape.rows, shape.cols);
      REQUIRE(formula.size() == expected.size());
      double worst = 0;
      for (std::size_t i = 0; i < formula.size(); ++i) worst = std::max(worst, distance(expected[i], formula[i]));
      CHECK(worst <= base_tolerance<T>() * pass.formula_tolerance);
      for (Isa isa : levels) {
        INFO("level " << isa_name(isa));
        const auto got = pass.run(elementwise_at<T>(isa), shape.rows, shape.cols, 0);
        if (pass.transcendental) {
          // In machine epsilons of max(|expected|, 1), as elementwise.h promises: a result cancelling to near zero
          // (sigmoid - target) is measured against 1, like the rounding of the values it came from.
          double level_worst = 0;
          for (std::size_t i = 0; i < got.size(); ++i)
            level_worst = std::max(level_worst, distance(got[i], expected[i]) / std::numeric_limits<T>::epsilon());
          CHECK(level_worst <= 4);
        } else {
          CHECK(same_bits(got, expected));
        }
      }
    }
  }
}

template <typename T>
void check_shifted_inputs() {
  std::vector<Isa> levels = levels_to_compare();
  levels.push_back(Isa::portable);
  for (Isa isa : levels) {
    const auto& kernels = elementwise_at<T>(isa);
    for (const Pass<T>& pass : all_passes<T>()) {
      for (const Shape& shape : {Shape{1, 1}, Shape{7, 3}, Shape{19, 2}, Shape{33, 3}, Shape{200, 5}}) {
        const auto unshifted = pass.run(kernels, shape.rows, shape.cols, 0);
        for (Count offset = 1; offset <= 7; ++offset) {
          INFO(pass.name << " at " << isa_name(isa) << " on " << shape.rows << " x " << shape.cols
                         << " shifted by " << offset);
          CHECK(same_bits(pass.run(kernels, shape.rows, shape.cols, offset), unshifted));
        }
      }
    }
  }
}

template <typename T>
void check_special_values() {
  constexpr T nan = std::numeric_limits<T>::quiet_NaN();
  constexpr T inf = std::numeric_limits<T>::infinity();
  std::vector<Isa> levels = levels_to_compare();
  levels.push_back(Isa::portable);
  // Padded to 21 values so that the specials sit in whole vectors and in the partial last one.
  std::vector<T> x(21, T(0.5));
  x[0] = nan, x[1] = inf, x[2] = -inf, x[19] = nan, x[20] = -inf;
  for (Isa isa : levels) {
    INFO("level " << isa_name(isa));
    const auto& k = elementwise_at<T>(isa);
    std::vector<T> out(x.size());
    const Count n = static_cast<Count>(x.size());
    k.relu_forward(n, x.data(), out.data());
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == inf);
    CHECK(out[2] == 0);
    CHECK(std::isnan(out[19]));
    CHECK(out[20] == 0);
    k.leaky_relu_forward(n, x.data(), T(0.1), out.data());
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == inf);
    CHECK(out[2] == -inf);
    CHECK(std::isnan(out[19]));
    k.sigmoid_forward(n, x.data(), out.data());
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 1);
    CHECK(out[2] == 0);
    CHECK(std::isnan(out[19]));
    CHECK(out[20] == 0);
    k.tanh_forward(n, x.data(), out.data());
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 1);
    CHECK(out[2] == -1);
    CHECK(std::isnan(out[19]));
    CHECK(out[20] == -1);
    CHECK(out[5] == Approx(std::tanh(0.5)).epsilon(1e-6));
    // A column holding NaN is NaN throughout; a column of large finite scores stays finite.
    std::vector<T> scores = {T(1), nan, T(2), T(1000), T(-1000), T(999)};
    std::vector<T> p(6), lse(2);
    k.column_softmax(3, 2, scores.data(), p.data(), lse.data());
    CHECK(std::isnan(p[0]));
    CHECK(std::isnan(p[2]));
    CHECK(std::isnan(lse[0]));
    CHECK(std::isfinite(lse[1]));
    CHECK(lse[1] == Approx(1000 + std::log1p(std::exp(-1.0))));
    CHECK(p[4] == 0);
    CHECK(std::isnan(k.sum(n, x.data())));
    // Every argument keeps its relative accuracy: near 0 (no 1 - 2 / (e^2x + 1) cancellation) and on both sides
    // of the switch between the two formulas.
    std::vector<T> small, small_tanh(2000);
    for (int i = 0; i < 1000; ++i) small.push_back(T(std::pow(10.0, -8 + 8.0 * i / 1000)));
    for (int i = 0; i < 1000; ++i) small.push_back(T(-0.5 - 0.3 * i / 1000));
    k.tanh_forward(2000, small.data(), small_tanh.data());
    double worst = 0;
    for (std::size_t i = 0; i < small.size(); ++i) {
      const double exact = std::tanh(double(small[i]));
      worst = std::max(worst, std::abs(small_tanh[i] - exact) / std::abs(exact));
    }
    CHECK(worst <= 4 * std::numeric_limits<T>::epsilon());
  }
}

// A column's softmax and its two backward rules take the same bits whether the column is computed alone or among
// others (short columns go several at a time, each in a lane of its own, and the last group is partial).
template <typename T>
void check_softmax_column_independence() {
  std::vector<Isa> levels = levels_to_compare();
  levels.push_back(Isa::portable);
  for (Isa isa : levels) {
    const auto& k = elementwise_at<T>(isa);
    for (const Shape& shape : {Shape{10, 37}, Shape{3, 21}, Shape{64, 9}, Shape{65, 4}}) {
      INFO("level " << isa_name(isa) << " on " << shape.rows << " x " << shape.cols);
      const Count rows = shape.rows, cols = shape.cols;
      const auto scores = values<T>(rows * cols, 18, -20, 20);
      const auto g = values<T>(rows * cols, 19, -1, 1);
      std::vector<T> p(rows * cols), lse(cols), one(rows), one_lse(1);
      std::vector<T> dx(rows * cols), log_dx(rows * cols);
      k.column_softmax(rows, cols, scores.data(), p.data(), lse.data());
      k.softmax_backward(rows, cols, p.data(), g.data(), dx.data());
      k.log_softmax_backward(rows, cols, p.data(), g.data(), log_dx.data());
      for (Count j = 0; j < cols; ++j) {
        INFO("column " << j);
        const Count at = j * rows;
        k.column_softmax(rows, 1, scores.data() + at, one.data(), one_lse.data());
        CHECK(std::memcmp(one.data(), p.data() + at, rows * sizeof(T)) == 0);
        CHECK(std::memcmp(one_lse.data(), lse.data() + j, sizeof(T)) == 0);
        k.softmax_backward(rows, 1, p.data() + at, g.data() + at, one.data());
        CHECK(std::memcmp(one.data(), dx.data() + at, rows * sizeof(T)) == 0);
        k.log_softmax_backward(rows, 1, p.data() + at, g.data() + at, one.data());
        CHECK(std::memcmp(one.data(), log_dx.data() + at, rows * sizeof(T)) == 0);
      }
    }
  }
}

// A short column (up to 64 rows, several columns a lane each) gets the bits of the one-column path of longer
// ones (elementwise_level.inc, transposed_sum): the same column with rows appended up to 65, a score of -inf
// (e^-inf = 0, as the long path's own padding) and a gradient of 0 there, gives the same probabilities,
// log-sum-exp and gradients in its first rows, and zeros below.
template <typename T>
void check_short_columns_match_long_path() {
  constexpr Count long_rows = 65;
  std::vector<Isa> levels = levels_to_compare();
  levels.push_back(Isa::portable);
  for (Isa isa : levels) {
    const auto& k = elementwise_at<T>(isa);
    for (const Count rows : {Count(1), Count(2), Count(10), Count(17), Count(63), Count(64)}) {
      INFO("level " << isa_name(isa) << ", " << rows << " rows");
      const Count cols = 5;
      const auto scores = values<T>(rows * cols, 20, -20, 20);
      const auto g = values<T>(rows * cols, 21, -1, 1);
      std::vector<T> long_scores(long_rows * cols, -std::numeric_limits<T>::infinity());
      std::vector<T> long_g(long_rows * cols, T(0));
      for (Count j = 0; j < cols; ++j) {
        std::copy_n(scores.data() + j * rows, rows, long_scores.data() + j * long_rows);
        std::copy_n(g.data() + j * rows, rows, long_g.data() + j * long_rows);
      }
      std::vector<T> p(rows * cols), lse(cols), dx(rows * cols), log_dx(rows * cols);
      std::vector<T> long_p(long_rows * cols), long_lse(cols), long_dx(long_rows * cols);
      std::vector<T> long_log_dx(long_rows * cols);
      k.column_softmax(rows, cols, scores.data(), p.data(), lse.data());
      k.softmax_backward(rows, cols, p.data(), g.data(), dx.data());
      k.log_softmax_backward(rows, cols, p.data(), g.data(), log_dx.data());
      k.column_softmax(long_rows, cols, long_scores.data(), long_p.data(), long_lse.data());
      k.softmax_backward(long_rows, cols, long_p.data(), long_g.data(), long_dx.data());
      k.log_softmax_backward(long_rows, cols, long_p.data(), long_g.data(), long_log_dx.data());
      CHECK(std::memcmp(lse.data(), long_lse.data(), cols * sizeof(T)) == 0);
      for (Count j = 0; j < cols; ++j) {
        INFO("column " << j);
        const T* long_column[] = {long_p.data() + j * long_rows, long_dx.data() + j * long_rows,
                                  long_log_dx.data() + j * long_rows};
        CHECK(std::memcmp(p.data() + j * rows, long_column[0], rows * sizeof(T)) == 0);
        CHECK(std::memcmp(dx.data() + j * rows, long_column[1], rows * sizeof(T)) == 0);
        CHECK(std::memcmp(log_dx.data() + j * rows, long_column[2], rows * sizeof(T)) == 0);
        for (const T* column : long_column) {
          CHECK(std::all_of(column + rows, column + long_rows, [](T v) { return v == 0; }));
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("element-wise passes at every level equal the portable level and the plain formula (float)",
          "[elementwise]") {
  check_against_portable_and_formula<float>();
}

TEST_CASE("element-wise passes at every level equal the portable level and the plain formula (double)",
          "[elementwise]") {
  check_against_portable_and_formula<double>();
}

TEST_CASE("element-wise passes give the same bits on inputs shifted by 1 to 7 elements", "[elementwise]") {
  check_shifted_inputs<float>();
  check_shifted_inputs<double>();
}

TEST_CASE("element-wise passes propagate NaN and map Inf as the ops define", "[elementwise]") {
  check_special_values<float>();
  check_special_values<double>();
}

TEST_CASE("the element-wise passes in force are those of the level in force", "[elementwise]") {
  const Isa level = active_isa();
  CHECK(elementwise_level_runs(level));
  CHECK(&elementwise<float>() == &elementwise_at<float>(level));
  CHECK(&elementwise<double>() == &elementwise_at<double>(level));
  if (!elementwise_level_runs(Isa::avx512))
    CHECK_THROWS_WITH(elementwise_at<float>(Isa::avx512), Catch::Contains("cannot run here"));
}

TEST_CASE("a column's softmax and its backward rules do not depend on the columns next to it", "[elementwise]") {
  check_softmax_column_independence<float>();
  check_softmax_column_independence<double>();
}

TEST_CASE("a short column's softmax and backward rules give the bits of the long-column path", "[elementwise]") {
  check_short_columns_match_long_path<float>();
  check_short_columns_match_long_path<double>();
}
