// The op table: every registered op, on several shapes and every broadcast form, against finite differences in
// double. An op in ops/registry.h without a case here fails "every registered op has a gradient check".
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/ops/ops.h>

using namespace tapegrad;
using Fn = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

namespace {

enum class Domain { any, positive, away_from_zero, unit_interval };

struct InputSpec {
  Index rows;
  Index cols;
  Domain domain = Domain::any;
};

struct OpCase {
  std::string op;     // the op that the case's result must have been recorded by
  std::string label;  // what the case exercises
  std::vector<InputSpec> inputs;
  Fn f;
};

Tensor<double> draw(const InputSpec& spec, Generator& generator) {
  Matrix<double> value(spec.rows, spec.cols);
  for (Index i = 0; i < value.size(); ++i) {
    double v = generator.normal();
    switch (spec.domain) {
      case Domain::any:
        break;
      case Domain::positive:
        v = generator.uniform(0.5, 2.0);
        break;
      case Domain::away_from_zero:
        v = (generator.bernoulli(0.5) ? 1.0 : -1.0) * generator.uniform(0.2, 1.5);
        break;
      case Domain::unit_interval:
        v = generator.uniform(0.05, 0.95);
        break;
    }
    value.data()[i] = v;
  }
  return Tensor<double>(value);
}

const std::vector<int> kLabels3 = {1, 7, 3};
const std::vector<int> kLabels1 = {4};
const std::vector<int> kColumns = {5, 0, 5, 2};

std::vector<OpCase> op_table() {
  std::vector<OpCase> table;
  auto binary = [&](const std::string& op, Fn f, Domain b_domain = Domain::any) {
    table.push_back({op, "same shape", {{3, 4}, {3, 4, b_domain}}, f});
    table.push_back({op, "column across columns", {{3, 4}, {3, 1, b_domain}}, f});
    table.push_back({op, "row across rows", {{3, 4}, {1, 4, b_domain}}, f});
    table.push_back({op, "scalar", {{3, 4}, {1, 1, b_domain}}, f});
    table.push_back({op, "broadcast on the left (column)", {{2, 1}, {2, 5, b_domain}}, f});
    table.push_back({op, "broadcast on the left (scalar)", {{1, 1}, {4, 2, b_domain}}, f});
  };
  binary("add", [](const auto& x) { return add(x[0], x[1]); });
  binary("sub", [](const auto& x) { return sub(x[0], x[1]); });
  binary("mul", [](const auto& x) { return mul(x[0], x[1]); });
  binary("div", [](const auto& x) { return div(x[0], x[1]); }, Domain::away_from_zero);

  auto unary = [&](const std::string& op, Fn f, Domain domain = Domain::any) {
    table.push_back({op, "5 x 3", {{5, 3, domain}}, f});
    table.push_back({op, "1 x 7", {{1, 7, domain}}, f});
  };
  // Per-column ops need columns longer than one entry to have any gradient at all.
  auto per_column = [&](const std::string& op, Fn f) {
    table.push_back({op, "5 x 3", {{5, 3}}, f});
    table.push_back({op, "one column of 10", {{10, 1}}, f});
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
  unary("relu", [](const auto& x) { return relu(x[0]); }, Domain::away_from_zero);
  unary("sigmoid", [](const auto& x) { return sigmoid(x[0]); });
  unary("tanh", [](const auto& x) { return tanh(x[0]); });
  unary("transpose", [](const auto& x) { return transpose(x[0]); });
  unary("sum", [](const auto& x) { return sum(x[0]); });
  unary("sum_rows", [](const auto& x) { return sum_rows(x[0]); });
  unary("sum_cols", [](const auto& x) { return sum_cols(x[0]); });
  unary("mean", [](const auto& x) { return mean(x[0]); });
  unary("sum_of_squares", [](const auto& x) { return sum_of_squares(x[0]); });
  per_column("softmax", [](const auto& x) { return softmax(x[0]); });
  per_column("log_softmax", [](const auto& x) { return log_softmax(x[0]); });

  table.push_back({"matmul", "(3 x 4) * (4 x 5)", {{3, 4}, {4, 5}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  table.push_back({"matmul", "row * column", {{1, 6}, {6, 1}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  table.push_back({"matmul", "(6 x 2) * (2 x 6)", {{6, 2}, {2, 6}}, [](const auto& x) { return matmul(x[0], x[1]); }});
  table.push_back({"linear", "W X + b", {{4, 6}, {6, 3}, {4, 1}},
                   [](const auto& x) { return linear(x[0], x[1], x[2]); }});
  table.push_back({"linear", "one example", {{10, 20}, {20, 1}, {10, 1}},
                   [](const auto& x) { return linear(x[0], x[1], x[2]); }});
  table.push_back({"cross_entropy_with_logits", "labels, n = 3", {{10, 3}},
                   [](const auto& x) { return cross_entropy_with_logits(x[0], kLabels3); }});
  table.push_back({"cross_entropy_with_logits", "labels, n = 1", {{10, 1}},
                   [](const auto& x) { return cross_entropy_with_logits(x[0], kLabels1); }});
  table.push_back({"cross_entropy_with_logits_soft", "soft targets", {{4, 3}, {4, 3, Domain::unit_interval}},
                   [](const auto& x) { return cross_entropy_with_logits(x[0], x[1]); }});
  table.push_back({"multi_binary_cross_entropy_with_logits", "K = 10, n = 3", {{10, 3}, {10, 3, Domain::unit_interval}},
                   [](const auto& x) { return multi_binary_cross_entropy_with_logits(x[0], x[1]); }});
  table.push_back({"multi_binary_cross_entropy_with_logits", "K = 1, n = 5", {{1, 5}, {1, 5, Domain::unit_interval}},
                   [](const auto& x) { return multi_binary_cross_entropy_with_logits(x[0], x[1]); }});
  table.push_back({"select_columns", "repeated indices", {{4, 6}},
                   [](const auto& x) { return select_columns(x[0], kColumns); }});
  // ops/normalization.h. Dropout draws its mask from a generator seeded inside f, so that every evaluation of the
  // finite differences sees the same mask. batch_norm with eps = 1e-12 is the reports' form (eps only guards
  // against a zero variance; finite differences of step 1e-3 stay meaningful because the drawn rows have
  // variances of order 1) and with PyTorch's 1e-5; n = 3 is the smallest batch whose gradient is not ~eps-small
  // (for n = 2, s_hat = +-1 whatever the input).
  table.push_back({"dropout", "p = 0.3", {{5, 4}}, [](const auto& x) {
                     Generator mask_generator(11);
                     return dropout(x[0], 0.3, mask_generator);
                   }});
  table.push_back({"dropout", "p = 0", {{3, 2}}, [](const auto& x) {
                     Generator mask_generator(11);
                     return dropout(x[0], 0.0, mask_generator);
                   }});
  for (double eps : {1e-12, 1e-5}) {
    const std::string suffix = eps < 1e-6 ? ", eps 1e-12" : ", eps 1e-5";
    table.push_back({"batch_norm", "4 x 6" + suffix, {{4, 6}}, [eps](const auto& x) { return batch_norm(x[0], eps); }});
    table.push_back({"batch_norm", "3 x 3" + suffix, {{3, 3}}, [eps](const auto& x) { return batch_norm(x[0], eps); }});
    table.push_back({"batch_norm", "gamma, beta, 4 x 6" + suffix, {{4, 6}, {4, 1}, {4, 1}},
                     [eps](const auto& x) { return batch_norm(x[0], x[1], x[2], eps); }});
    table.push_back({"batch_norm", "gamma, beta, 1 x 5" + suffix, {{1, 5}, {1, 1}, {1, 1}},
                     [eps](const auto& x) { return batch_norm(x[0], x[1], x[2], eps); }});
  }
  return table;
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
  double worst_overall = 0;
  std::map<std::string, double> worst_per_op;
  for (const auto& c : op_table()) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      Generator generator(seed * 7919 + c.inputs.size());
      std::vector<Tensor<double>> inputs;
      for (const auto& spec : c.inputs) inputs.push_back(draw(spec, generator));
      INFO("op " << c.op << " (" << c.label << "), seed " << seed);

      // The case must really run its op: the recorded node carries the op's name.
      std::vector<Tensor<double>> leaves;
      for (const auto& input : inputs) leaves.emplace_back(input.value(), true);
      const Tensor<double> out = c.f(leaves);
      REQUIRE(std::string(out.op_name()) == c.op);

      const GradcheckResult result = gradcheck(c.f, inputs);
      INFO(result.report());
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        CHECK(result.max_relative_error[k] <= 1e-6);
        // Not vacuous: some gradient entry is clearly non-zero for every input.
        CHECK(result.max_abs_analytic[k] > 1e-6);
      }
      worst_overall = std::max(worst_overall, result.worst());
      worst_per_op[c.op] = std::max(worst_per_op[c.op], result.worst());
    }
  }
  std::ostringstream table;
  for (const auto& [op, worst] : worst_per_op) table << "  " << op << ": " << worst << "\n";
  WARN("worst relative error per op:\n" << table.str() << "worst over the op table: " << worst_overall);
}

TEST_CASE("gradcheck catches a wrong gradient", "[ops][gradcheck]") {
  // An op whose backward is deliberately off by a factor: the check must fail it.
  Fn wrong = [](const std::vector<Tensor<double>>& x) {
    Matrix<double> value = x[0].value().array().square().matrix();
    return Tensor<double>::from_op("square", value, {x[0]}, [](Node<double>& node, const Matrix<double>& g) {
      node.accumulate(0, (3.0 * g.array() * node.input(0).array()).matrix());
    });
  };
  Generator generator(5);
  const GradcheckResult result = gradcheck(wrong, {Tensor<double>::normal(3, 3, generator)});
  CHECK(result.worst() > 0.1);
}
