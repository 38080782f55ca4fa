// The op table: every registered op, on several shapes and every broadcast form. Each case runs four ways, all
// derived from the one table so that a newly registered op cannot skip any of them:
//   - gradcheck against finite differences in double;
//   - the op's inputs reused by a second op (as leaves, and as intermediates of the graph), gradchecked;
//   - accumulation: backward into gradients already there gives old + new, and twice gives old + 2 new;
//   - a float pass: values and gradients in float against the double ones, with a looser tolerance.
// An op in ops/registry.h without a case here fails "every registered op has a gradient check".
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/ops/ops.h>

using namespace tapegrad;

namespace {

template <typename T>
using Fn = std::function<Tensor<T>(const std::vector<Tensor<T>>&)>;

// Where the random inputs are drawn. Ops with kinks (abs, relu, leaky_relu at 0, clamp at its bounds +-0.5) and
// ties (max) are not differentiable there, and a finite difference of step 2e-3 across a kink is wrong, so their
// inputs keep a margin from those points.
enum class Domain {
  any,
  positive,         // [0.5, 2]: log, sqrt, pow
  away_from_zero,   // +-[0.2, 1.5]: a divisor, relu
  unit_interval,    // [0.05, 0.95]: targets
  away_from_kinks,  // normal, at least 0.05 from -0.5, 0 and 0.5: abs, clamp(-0.5, 0.5), leaky_relu
  well_separated,   // distinct values at least 0.15 apart, shuffled: max_rows / max_cols never near a tie
};

constexpr double kClampLow = -0.5;
constexpr double kClampHigh = 0.5;

struct InputSpec {
  Index rows;
  Index cols;
  Domain domain = Domain::any;
};

struct OpCase {
  std::string op;     // the op that the case's result must have been recorded by
  std::string label;  // what the case exercises
  std::vector<InputSpec> inputs;
  Fn<double> f;
  Fn<float> f_float;  // the same expression in float
};

double draw_entry(Domain domain, Generator& generator) {
  switch (domain) {
    case Domain::any:
      return generator.normal();
    case Domain::positive:
      return generator.uniform(0.5, 2.0);
    case Domain::away_from_zero:
      return (generator.bernoulli(0.5) ? 1.0 : -1.0) * generator.uniform(0.2, 1.5);
    case Domain::unit_interval:
      return generator.uniform(0.05, 0.95);
    case Domain::away_from_kinks:
      for (;;) {
        const double v = generator.normal();
        if (std::abs(v) >= 0.05 && std::abs(v - kClampLow) >= 0.05 && std::abs(v - kClampHigh) >= 0.05) return v;
      }
    case Domain::well_separated:
      break;  // drawn per tensor
  }
  return 0.0;
}

Matrix<double> draw(const InputSpec& spec, Generator& generator) {
  Matrix<double> value(spec.rows, spec.cols);
  if (spec.domain == Domain::well_separated) {
    // A grid of spacing 0.25 with jitter below 0.05, in random order.
    std::vector<double> grid(static_cast<std::size_t>(value.size()));
    for (std::size_t k = 0; k < grid.size(); ++k) {
      grid[k] = 0.25 * (static_cast<double>(k) - static_cast<double>(grid.size()) / 2) + generator.uniform(-0.05, 0.05);
    }
    generator.shuffle(grid.begin(), grid.end());
    for (Index i = 0; i < value.size(); ++i) value.data()[i] = grid[static_cast<std::size_t>(i)];
    return value;
  }
  for (Index i = 0; i < value.size(); ++i) value.data()[i] = draw_entry(spec.domain, generator);
  return value;
}

std::vector<Matrix<double>> draw_inputs(const OpCase& c, std::uint64_t seed) {
  Generator generator(seed * 7919 + c.inputs.size());
  std::vector<Matrix<double>> values;
  for (const auto& spec : c.inputs) values.push_back(draw(spec, generator));
  return values;
}

template <typename T>
std::vector<Tensor<T>> leaves_of(const std::vector<Matrix<double>>& values) {
  std::vector<Tensor<T>> leaves;
  for (const auto& value : values) leaves.emplace_back(value.cast<T>(), true);
  return leaves;
}

template <typename T>
std::vector<Tensor<T>> constants_of(const std::vector<Matrix<double>>& values) {
  std::vector<Tensor<T>> constants;
  for (const auto& value : values) constants.emplace_back(value.cast<T>(), false);
  return constants;
}

// The case's expression with every input also used by a second op: f(x) + sum_k sum(tanh(x_k)) (the sum is a
// (1 x 1) broadcast over f's result). With `through_intermediate`, the inputs first pass through an exact identity
// (x * 1), so the reused tensor is a node of the graph rather than a leaf, and its two gradients meet in the
// node's buffer before they reach x.
template <typename T>
Tensor<T> reused(const Fn<T>& f, const std::vector<Tensor<T>>& x, bool through_intermediate) {
  std::vector<Tensor<T>> used;
  for (const auto& input : x) used.push_back(through_intermediate ? input * T(1) : input);
  Tensor<T> second_use = sum(tanh(used[0]));
  for (std::size_t k = 1; k < used.size(); ++k) second_use = second_use + sum(tanh(used[k]));
  return f(used) + second_use;
}

const std::vector<int> kLabels3 = {1, 7, 3};
const std::vector<int> kLabels1 = {4};
const std::vector<int> kColumns = {5, 0, 5, 2};
const std::vector<int> kRows = {3, 0, 3, 1, 3};

std::vector<OpCase> op_table() {
  std::vector<OpCase> table;
  // One generic expression serves both scalar types.
  auto push = [&](const std::string& op, const std::string& label, std::vector<InputSpec> inputs, auto f) {
    table.push_back({op, label, std::move(inputs), Fn<double>(f), Fn<float>(f)});
  };
  auto binary = [&](const std::string& op, auto f, Domain b_domain = Domain::any) {
    push(op, "same shape", {{3, 4}, {3, 4, b_domain}}, f);
    push(op, "column across columns", {{3, 4}, {3, 1, b_domain}}, f);
    push(op, "row across rows", {{3, 4}, {1, 4, b_domain}}, f);
    push(op, "scalar", {{3, 4}, {1, 1, b_domain}}, f);
    push(op, "broadcast on the left (column)", {{2, 1}, {2, 5, b_domain}}, f);
    push(op, "broadcast on the left (row)", {{1, 5}, {2, 5, b_domain}}, f);
    push(op, "broadcast on the left (scalar)", {{1, 1}, {4, 2, b_domain}}, f);
    push(op, "outer: column with row", {{3, 1}, {1, 4, b_domain}}, f);
    push(op, "outer: row with column", {{1, 5}, {2, 1, b_domain}}, f);
  };
  binary("add", [](const auto& x) { return add(x[0], x[1]); });
  binary("sub", [](const auto& x) { return sub(x[0], x[1]); });
  binary("mul", [](const auto& x) { return mul(x[0], x[1]); });
  binary("div", [](const auto& x) { return div(x[0], x[1]); }, Domain::away_from_zero);

  auto unary = [&](const std::string& op, auto f, Domain domain = Domain::any) {
    push(op, "5 x 3", {{5, 3, domain}}, f);
    push(op, "1 x 7", {{1, 7, domain}}, f);
  };
  // Per-column ops need columns longer than one entry to have any gradient at all.
  auto per_column = [&](const std::string& op, auto f) {
    push(op, "5 x 3", {{5, 3}}, f);
    push(op, "one column of 10", {{10, 1}}, f);
  };
  unary("neg", [](const auto& x) { return -x[0]; });
  unary("add_scalar", [](const auto& x) { return x[0] + 2.5; });
  unary("mul_scalar", [](const auto& x) { return -1.5 * x[0]; });
  unary("exp", [](const auto& x) { return exp(x[0]); });
  unary("log", [](const auto& x) { return log(x[0]); }, Domain::positive);
  unary("sqrt", [](const auto& x) { return sqrt(x[0]); }, Domain::positive);
  unary("pow", [](const auto& x) { return pow(x[0], 2.5); }, Domain::positive);
  unary("pow", [](const auto& x) { return pow(x[0], -1.5); }, Domain::positive);
  unary("square", [](const auto& x) { return square(x[0]); });
  unary("abs", [](const auto& x) { return abs(x[0]); }, Domain::away_from_kinks);
  unary("clamp", [](const auto& x) { return clamp(x[0], kClampLow, kClampHigh); }, Domain::away_from_kinks);
  unary("relu", [](const auto& x) { return relu(x[0]); }, Domain::away_from_zero);
  unary("leaky_relu", [](const auto& x) { return leaky_relu(x[0], 0.1); }, Domain::away_from_kinks);
  unary("leaky_relu", [](const auto& x) { return leaky_relu(x[0]); }, Domain::away_from_kinks);
  unary("sigmoid", [](const auto& x) { return sigmoid(x[0]); });
  unary("tanh", [](const auto& x) { return tanh(x[0]); });
  unary("softplus", [](const auto& x) { return softplus(x[0]); });
  // Where e^x overflows float (x > 88) and nearly double: the stable form's value and gradient stay exact.
  push("softplus", "x near 100", {{2, 3}}, [](const auto& x) { return softplus(x[0] + 100.0); });
  unary("transpose", [](const auto& x) { return transpose(x[0]); });
  unary("sum", [](const auto& x) { return sum(x[0]); });
  unary("sum_rows", [](const auto& x) { return sum_rows(x[0]); });
  unary("sum_cols", [](const auto& x) { return sum_cols(x[0]); });
  unary("mean", [](const auto& x) { return mean(x[0]); });
  unary("mean_rows", [](const auto& x) { return mean_rows(x[0]); });
  unary("mean_cols", [](const auto& x) { return mean_cols(x[0]); });
  unary("max_rows", [](const auto& x) { return max_rows(x[0]); }, Domain::well_separated);
  unary("max_cols", [](const auto& x) { return max_cols(x[0]); }, Domain::well_separated);
  unary("sum_of_squares", [](const auto& x) { return sum_of_squares(x[0]); });
  per_column("softmax", [](const auto& x) { return softmax(x[0]); });
  per_column("log_softmax", [](const auto& x) { return log_softmax(x[0]); });
  per_column("logsumexp", [](const auto& x) { return logsumexp(x[0]); });
  // Scores near 100, where exp overflows float: the shift by the column maximum keeps them finite (the forward
  // tests go to 1e4 in double).
  push("logsumexp", "scores near 100", {{4, 3}}, [](const auto& x) { return logsumexp(x[0] + 100.0); });

  push("reshape", "(3 x 4) -> (2 x 6)", {{3, 4}}, [](const auto& x) { return reshape(x[0], 2, 6); });
  push("reshape", "(6 x 2) -> (1 x 12)", {{6, 2}}, [](const auto& x) { return reshape(x[0], 1, 12); });
  push("hcat", "three parts", {{3, 2}, {3, 1}, {3, 4}}, [](const auto& x) { return hcat(x); });
  push("hcat", "initializer list", {{2, 3}, {2, 2}}, [](const auto& x) { return hcat({x[0], x[1]}); });
  push("vcat", "three parts", {{2, 3}, {1, 3}, {4, 3}}, [](const auto& x) { return vcat(x); });
  push("vcat", "initializer list", {{3, 2}, {2, 2}}, [](const auto& x) { return vcat({x[0], x[1]}); });
  push("slice_rows", "rows [1, 4) of 5", {{5, 3}}, [](const auto& x) { return slice_rows(x[0], 1, 3); });
  push("slice_rows", "the last row", {{4, 2}}, [](const auto& x) { return slice_rows(x[0], 3, 1); });
  push("slice_cols", "columns [2, 4) of 6", {{3, 6}}, [](const auto& x) { return slice_cols(x[0], 2, 2); });
  push("slice_cols", "the first column", {{4, 3}}, [](const auto& x) { return slice_cols(x[0], 0, 1); });
  push("select_rows", "repeated indices", {{4, 3}}, [](const auto& x) { return select_rows(x[0], kRows); });

  const auto matmul_f = [](const auto& x) { return matmul(x[0], x[1]); };
  push("matmul", "(3 x 4) * (4 x 5)", {{3, 4}, {4, 5}}, matmul_f);
  push("matmul", "row * column", {{1, 6}, {6, 1}}, matmul_f);
  push("matmul", "(6 x 2) * (2 x 6)", {{6, 2}, {2, 6}}, matmul_f);
  const auto linear_f = [](const auto& x) { return linear(x[0], x[1], x[2]); };
  push("linear", "W X + b", {{4, 6}, {6, 3}, {4, 1}}, linear_f);
  push("linear", "one example", {{10, 20}, {20, 1}, {10, 1}}, linear_f);
  push("cross_entropy_with_logits", "labels, n = 3", {{10, 3}},
       [](const auto& x) { return cross_entropy_with_logits(x[0], kLabels3); });
  push("cross_entropy_with_logits", "labels, n = 1", {{10, 1}},
       [](const auto& x) { return cross_entropy_with_logits(x[0], kLabels1); });
  push("cross_entropy_with_logits_soft", "soft targets", {{4, 3}, {4, 3, Domain::unit_interval}},
       [](const auto& x) { return cross_entropy_with_logits(x[0], x[1]); });
  const auto binary_cross_entropy = [](const auto& x) { return multi_binary_cross_entropy_with_logits(x[0], x[1]); };
  push("multi_binary_cross_entropy_with_logits", "K = 10, n = 3", {{10, 3}, {10, 3, Domain::unit_interval}},
       binary_cross_entropy);
  push("multi_binary_cross_entropy_with_logits", "K = 1, n = 5", {{1, 5}, {1, 5, Domain::unit_interval}},
       binary_cross_entropy);
  push("select_columns", "repeated indices", {{4, 6}}, [](const auto& x) { return select_columns(x[0], kColumns); });
  // ops/normalization.h. Dropout draws its mask from a generator seeded inside f, so that every evaluation of the
  // finite differences sees the same mask. batch_norm with eps = 1e-12 is the reports' form (eps only guards
  // against a zero variance; finite differences of step 1e-3 stay meaningful because the drawn rows have
  // variances of order 1) and with PyTorch's 1e-5; n = 3 is the smallest batch whose gradient is not ~eps-small
  // (for n = 2, s_hat = +-1 whatever the input).
  push("dropout", "p = 0.3", {{5, 4}}, [](const auto& x) {
                     Generator mask_generator(11);
                     return dropout(x[0], 0.3, mask_generator);
                   });
  push("dropout", "p = 0", {{3, 2}}, [](const auto& x) {
                     Generator mask_generator(11);
                     return dropout(x[0], 0.0, mask_generator);
                   });
  for (double eps : {1e-12, 1e-5}) {
    const std::string suffix = eps < 1e-6 ? ", eps 1e-12" : ", eps 1e-5";
    push("batch_norm", "4 x 6" + suffix, {{4, 6}}, [eps](const auto& x) { return batch_norm(x[0], eps); });
    push("batch_norm", "3 x 3" + suffix, {{3, 3}}, [eps](const auto& x) { return batch_norm(x[0], eps); });
    push("batch_norm", "gamma, beta, 4 x 6" + suffix, {{4, 6}, {4, 1}, {4, 1}},
                     [eps](const auto& x) { return batch_norm(x[0], x[1], x[2], eps); });
    push("batch_norm", "gamma, beta, 1 x 5" + suffix, {{1, 5}, {1, 1}, {1, 1}},
                     [eps](const auto& x) { return batch_norm(x[0], x[1], x[2], eps); });
  }
  return table;
}

constexpr std::uint64_t kSeeds[] = {1, 2, 3};

std::string worst_table(const std::map<std::string, double>& worst_per_op) {
  std::ostringstream text;
  double overall = 0;
  for (const auto& [op, worst] : worst_per_op) {
    text << "  " << op << ": " << worst << "\n";
    overall = std::max(overall, worst);
  }
  text << "worst over the op table: " << overall;
  return text.str();
}

// A fixed projection R of an output's shape, so that backward(R) runs the whole vector-Jacobian product.
Matrix<double> projection_for(Index rows, Index cols) {
  Generator generator(20261203);
  Matrix<double> r(rows, cols);
  for (Index i = 0; i < r.size(); ++i) r.data()[i] = generator.normal();
  return r;
}

}  // namespace

TEST_CASE("every registered op has a gradient check, and every case names a registered op", "[ops][gradcheck]") {
  std::set<std::string> covered;
  for (const auto& c : op_table()) {
    INFO("case " << c.op << " / " << c.label);
    CHECK(is_registered_op(c.op));
    covered.insert(c.op);
  }
  for (auto op : kOpNames) {
    INFO("op without a gradient check: " << op);
    CHECK(covered.count(std::string(op)) == 1);
  }
}

TEST_CASE("gradcheck over the whole op table, double, several seeds", "[ops][gradcheck]") {
  std::map<std::string, double> worst_per_op;
  for (const auto& c : op_table()) {
    for (std::uint64_t seed : kSeeds) {
      const std::vector<Matrix<double>> values = draw_inputs(c, seed);
      INFO("op " << c.op << " (" << c.label << "), seed " << seed);

      // The case must really run its op: the recorded node carries the op's name.
      const Tensor<double> out = c.f(leaves_of<double>(values));
      REQUIRE(std::string(out.op_name()) == c.op);

      const GradcheckResult result = gradcheck(c.f, constants_of<double>(values));
      INFO(result.report());
      for (std::size_t k = 0; k < values.size(); ++k) {
        CHECK(result.max_relative_error[k] <= 1e-6);
        // Not vacuous: some gradient entry is clearly non-zero for every input.
        CHECK(result.max_abs_analytic[k] > 1e-6);
      }
      worst_per_op[c.op] = std::max(worst_per_op[c.op], result.worst());
    }
  }
  WARN("worst relative error per op:\n" << worst_table(worst_per_op));
}

TEST_CASE("every op's inputs reused by a second op, as leaves and as intermediates, gradchecked", "[ops][gradcheck]") {
  std::map<std::string, double> worst_per_op;
  for (const auto& c : op_table()) {
    for (bool through_intermediate : {false, true}) {
      const std::vector<Matrix<double>> values = draw_inputs(c, 4);
      INFO("op " << c.op << " (" << c.label << ")" << (through_intermediate ? ", through an intermediate" : ""));
      const Fn<double> f = c.f;
      const Fn<double> both = [f, through_intermediate](const std::vector<Tensor<double>>& x) {
        return reused(f, x, through_intermediate);
      };
      const GradcheckResult result = gradcheck(both, constants_of<double>(values));
      INFO(result.report());
      for (std::size_t k = 0; k < values.size(); ++k) CHECK(result.max_relative_error[k] <= 1e-6);
      worst_per_op[c.op] = std::max(worst_per_op[c.op], result.worst());
    }
  }
  WARN("reused inputs, worst relative error per op:\n" << worst_table(worst_per_op));
}

TEST_CASE("every op adds its gradient to the one already there, as dlib tests", "[ops][gradcheck][accumulation]") {
  for (const auto& c : op_table()) {
    const std::vector<Matrix<double>> values = draw_inputs(c, 5);
    INFO("op " << c.op << " (" << c.label << ")");

    // The gradient of one backward from fresh leaves.
    std::vector<Tensor<double>> fresh = leaves_of<double>(values);
    const Tensor<double> fresh_out = c.f(fresh);
    const Matrix<double> projection = projection_for(fresh_out.rows(), fresh_out.cols());
    fresh_out.backward(projection);

    // The same backward into leaves whose gradients already hold G0, then once more through the retained graph.
    std::vector<Tensor<double>> primed = leaves_of<double>(values);
    std::vector<Matrix<double>> before;
    Generator generator(99);
    for (auto& leaf : primed) {
      Matrix<double> g0(leaf.rows(), leaf.cols());
      for (Index i = 0; i < g0.size(); ++i) g0.data()[i] = generator.normal();
      leaf.mutable_grad() = g0;
      before.push_back(g0);
    }
    const Tensor<double> out = c.f(primed);
    out.backward(projection, true);
    for (std::size_t k = 0; k < primed.size(); ++k) {
      const Matrix<double> expected = before[k] + fresh[k].grad();
      CHECK(max_relative_error(primed[k].grad(), expected, 1e-12) < 1e-12);
    }
    out.backward(projection, false);
    for (std::size_t k = 0; k < primed.size(); ++k) {
      const Matrix<double> expected = before[k] + 2.0 * fresh[k].grad();
      CHECK(max_relative_error(primed[k].grad(), expected, 1e-12) < 1e-12);
    }
    // After zero_grad() the next backward gives the gradient of that backward alone.
    for (auto& leaf : primed) leaf.zero_grad();
    c.f(primed).backward(projection);
    for (std::size_t k = 0; k < primed.size(); ++k) {
      CHECK(max_relative_error(primed[k].grad(), fresh[k].grad(), 1e-12) < 1e-12);
    }
  }
}

TEST_CASE("every op in float agrees with double, plain and with reused inputs", "[ops][float]") {
  // Float keeps about 7 digits; these short expressions lose at most a few of them.
  constexpr double kTolerance = 1e-5;  // measured worst: about 1e-6
  std::map<std::string, double> worst_per_op;
  // |float - double| relative to the double values' scale (at least 1).
  auto error = [](const Matrix<float>& single, const Matrix<double>& reference) {
    REQUIRE(single.rows() == reference.rows());
    REQUIRE(single.cols() == reference.cols());
    if (reference.size() == 0) return 0.0;
    const double scale = std::max(1.0, reference.cwiseAbs().maxCoeff());
    return (single.cast<double>() - reference).cwiseAbs().maxCoeff() / scale;
  };
  for (const auto& c : op_table()) {
    for (std::uint64_t seed : kSeeds) {
      for (int form = 0; form < 3; ++form) {  // plain, reused as leaves, reused through an intermediate
        INFO("op " << c.op << " (" << c.label << "), seed " << seed << ", form " << form);
        const std::vector<Matrix<double>> values = draw_inputs(c, seed);
        std::vector<Tensor<double>> xd = leaves_of<double>(values);
        std::vector<Tensor<float>> xf = leaves_of<float>(values);
        const Tensor<double> od = form == 0 ? c.f(xd) : reused(c.f, xd, form == 2);
        const Tensor<float> of = form == 0 ? c.f_float(xf) : reused(c.f_float, xf, form == 2);
        const Matrix<double> projection = projection_for(od.rows(), od.cols());
        od.backward(projection);
        of.backward(projection.cast<float>());
        double worst = error(of.value(), od.value());
        for (std::size_t k = 0; k < xd.size(); ++k) worst = std::max(worst, error(xf[k].grad(), xd[k].grad()));
        CHECK(worst <= kTolerance);
        worst_per_op[c.op] = std::max(worst_per_op[c.op], worst);
      }
    }
  }
  WARN("float against double, worst scaled error per op:\n" << worst_table(worst_per_op));
}

TEST_CASE("gradcheck catches a wrong gradient", "[ops][gradcheck]") {
  // An op whose backward is deliberately off by a factor: the check must fail it.
  Fn<double> wrong = [](const std::vector<Tensor<double>>& x) {
    Matrix<double> value = x[0].value().array().square().matrix();
    return Tensor<double>::from_op("square", value, {x[0]}, [](Node<double>& node, const Matrix<double>& g) {
      node.accumulate(0, (3.0 * g.array() * node.input(0).array()).matrix());
    });
  };
  Generator generator(5);
  const GradcheckResult result = gradcheck(wrong, {Tensor<double>::normal(3, 3, generator)});
  CHECK(result.worst() > 0.1);
}

TEST_CASE("the accumulation check catches a backward that overwrites", "[ops][accumulation]") {
  // A rule that assigns where it must add: a leaf primed with G0 ends with the new gradient alone.
  auto overwriting = [](const Tensor<double>& x) {
    return Tensor<double>::from_op("square", x.value().array().square().matrix(), {x},
                                   [](Node<double>& node, const Matrix<double>& g) {
                                     bool fresh = false;
                                     node.grad_slot(0, fresh) = 2.0 * g.cwiseProduct(node.input(0));
                                   });
  };
  Tensor<double> x(Matrix<double>::Constant(2, 2, 1.5), true);
  x.mutable_grad() = Matrix<double>::Ones(2, 2);
  sum(overwriting(x)).backward();
  const Matrix<double> expected = Matrix<double>::Ones(2, 2) + Matrix<double>::Constant(2, 2, 3.0);
  CHECK(max_relative_error(x.grad(), expected, 1e-12) > 0.1);
}
