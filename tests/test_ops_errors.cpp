// Bad input to the ops: every shape error is a tapegrad::Error that names the op, the shapes and the rule, and the
// caller's file and line, for the named functions and for the operators alike.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <tapegrad/ops/ops.h>

using namespace tapegrad;
using Catch::Matchers::Contains;

namespace {

// "test_ops_errors.cpp:<line>", the location an error must carry for an expression on that line.
std::string here(int line) { return "test_ops_errors.cpp:" + std::to_string(line); }

template <typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

// The message of an expression that must fail, and the line it was written on (one short statement per line, so
// that formatting never moves the expression away from its __LINE__).
struct Failure {
  std::string message;
  std::string location;
};
template <typename F>
Failure failure_of(F&& f, int line) {
  return {message_of(std::forward<F>(f)), here(line)};
}

}  // namespace

TEST_CASE("a failing a + b names the user's file and line, for every binary operator", "[ops][errors]") {
  const Tensor<float> a = Tensor<float>::zeros(3, 4);
  const Tensor<float> b = Tensor<float>::zeros(2, 1);
  const Failure added = failure_of([&] { return a + b; }, __LINE__);
  const Failure subtracted = failure_of([&] { return a - b; }, __LINE__);
  const Failure multiplied = failure_of([&] { return a * b; }, __LINE__);
  const Failure divided = failure_of([&] { return a / b; }, __LINE__);
  CHECK_THAT(added.message, Contains("add: shapes (3 x 4) and (2 x 1) do not broadcast") && Contains(added.location));
  CHECK_THAT(subtracted.message, Contains("sub: shapes (3 x 4) and (2 x 1)") && Contains(subtracted.location));
  CHECK_THAT(multiplied.message, Contains("mul: shapes (3 x 4) and (2 x 1)") && Contains(multiplied.location));
  CHECK_THAT(divided.message, Contains("div: shapes (3 x 4) and (2 x 1)") && Contains(divided.location));
  CHECK_THAT(added.message, !Contains("elementwise.h"));
  // Inside a larger expression the failing operator still reports this line.
  const Failure nested = failure_of([&] { return (a * 2.0f) + (b - b); }, __LINE__);
  CHECK_THAT(nested.message, Contains("add") && Contains(nested.location));
  // In double as in float.
  const Tensor<double> c = Tensor<double>::zeros(1, 3);
  const Tensor<double> d = Tensor<double>::zeros(1, 4);
  const Failure in_double = failure_of([&] { return c * d; }, __LINE__);
  CHECK_THAT(in_double.message, Contains("mul: shapes (1 x 3) and (1 x 4)") && Contains(in_double.location));
}

TEST_CASE("broadcast refuses every mismatch but the five forms, naming the rule", "[ops][errors][broadcast]") {
  const auto refused = [](Index ar, Index ac, Index br, Index bc) {
    return message_of([&] { return add(Tensor<double>::zeros(ar, ac), Tensor<double>::zeros(br, bc)); });
  };
  for (const auto& message : {refused(3, 4, 2, 1), refused(3, 4, 1, 3), refused(3, 4, 4, 3), refused(3, 1, 2, 1),
                              refused(1, 4, 1, 5), refused(3, 4, 3, 2), refused(2, 1, 3, 4)}) {
    CHECK_THAT(message, Contains("do not broadcast") && Contains("(m x 1) column with a (1 x n) row") &&
                            Contains("test_ops_errors.cpp"));
  }
}

TEST_CASE("outer broadcast: a column with a row gives the full table, in both orders", "[ops][broadcast]") {
  Matrix<double> column(3, 1), row(1, 4);
  column << 1, 2, 3;
  row << 10, 20, 30, 40;
  const Tensor<double> c(column), r(row);
  const Matrix<double> sum = (c + r).value();
  const Matrix<double> reversed = (r - c).value();
  const Matrix<double> product = mul(c, r).value();
  const Matrix<double> quotient = div(r, c).value();
  REQUIRE(sum.rows() == 3);
  REQUIRE(sum.cols() == 4);
  REQUIRE(reversed.rows() == 3);
  REQUIRE(reversed.cols() == 4);
  for (Index i = 0; i < 3; ++i) {
    for (Index j = 0; j < 4; ++j) {
      CHECK(sum(i, j) == column(i) + row(j));
      CHECK(reversed(i, j) == row(j) - column(i));
      CHECK(product(i, j) == column(i) * row(j));
      CHECK(quotient(i, j) == row(j) / column(i));
    }
  }
}

TEST_CASE("the new ops refuse bad shapes and arguments, naming the op, the shapes, the rule and the line",
          "[ops][errors]") {
  const Tensor<double> x = Tensor<double>::zeros(3, 4);
  const Tensor<double> empty = Tensor<double>::zeros(3, 0);
  const Tensor<double> no_rows = Tensor<double>::zeros(0, 2);
  const std::vector<int> bad_row = {0, 3};
  struct Expected {
    Failure failure;
    std::vector<std::string> parts;
  };
  const std::vector<Expected> cases = {
      {failure_of([&] { return reshape(x, 5, 2); }, __LINE__), {"reshape", "(5 x 2)", "(3 x 4)", "rows * cols"}},
      {failure_of([&] { return reshape(x, -2, -6); }, __LINE__), {"reshape", "(-2 x -6)"}},
      {failure_of([&] { return hcat({x, Tensor<double>::zeros(2, 4)}); }, __LINE__),
       {"hcat", "3 rows", "tensor 1 is (2 x 4)", "(3 x 4), (2 x 4)"}},
      {failure_of([&] { return vcat({x, x, Tensor<double>::zeros(3, 5)}); }, __LINE__),
       {"vcat", "4 columns", "tensor 2 is (3 x 5)"}},
      {failure_of([&] { return hcat(std::vector<Tensor<double>>{}); }, __LINE__), {"hcat", "at least one"}},
      {failure_of([&] { return slice_rows(x, 2, 2); }, __LINE__),
       {"slice_rows", "[2, 2 + 2)", "(3 x 4)", "first + count <= 3"}},
      {failure_of([&] { return slice_cols(x, -1, 2); }, __LINE__), {"slice_cols", "(3 x 4)", "0 <= first"}},
      {failure_of([&] { return slice_cols(x, 1, -1); }, __LINE__), {"slice_cols", "0 <= count"}},
      {failure_of([&] { return select_rows(x, bad_row); }, __LINE__),
       {"select_rows", "index 3 at position 1", "[0, 3)", "(3 x 4)"}},
      {failure_of([&] { return mean(no_rows); }, __LINE__), {"mean", "(0 x 2)", "at least one entry"}},
      {failure_of([&] { return mean_rows(empty); }, __LINE__), {"mean_rows", "(3 x 0)", "no columns"}},
      {failure_of([&] { return mean_cols(no_rows); }, __LINE__), {"mean_cols", "(0 x 2)", "no rows"}},
      {failure_of([&] { return max_rows(empty); }, __LINE__), {"max_rows", "(3 x 0)"}},
      {failure_of([&] { return max_cols(no_rows); }, __LINE__), {"max_cols", "(0 x 2)"}},
      {failure_of([&] { return argmax_rows(empty); }, __LINE__), {"argmax_rows", "(3 x 0)"}},
      {failure_of([&] { return argmax_cols(no_rows); }, __LINE__), {"argmax_cols", "(0 x 2)"}},
      {failure_of([&] { return logsumexp(no_rows); }, __LINE__), {"logsumexp", "(0 x 2)", "no rows"}},
      {failure_of([&] { return clamp(x, 1.0, -1.0); }, __LINE__), {"clamp", "[1, -1]", "lo <= hi"}},
      {failure_of([&] { return clamp(x, std::nan(""), 1.0); }, __LINE__), {"clamp", "lo <= hi"}},
      {failure_of([&] { return leaky_relu(x, std::numeric_limits<double>::infinity()); }, __LINE__),
       {"leaky_relu", "finite"}},
  };
  for (const auto& expected : cases) {
    INFO(expected.failure.message);
    for (const auto& part : expected.parts) CHECK_THAT(expected.failure.message, Contains(part));
    CHECK_THAT(expected.failure.message, Contains(expected.failure.location));
  }
}
