// The new ops' values against hand-computed results: the layouts (column-major reshape, concatenation, slices,
// gathers), the reduction directions, the tie rule of max and argmax, and stability far from zero.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <tapegrad/ops/ops.h>

using namespace tapegrad;

namespace {

Matrix<double> matrix(Index rows, Index cols, std::initializer_list<double> row_major) {
  Matrix<double> m(rows, cols);
  auto it = row_major.begin();
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = *it++;
  return m;
}

}  // namespace

TEST_CASE("reshape reads and fills down the columns", "[ops][shape]") {
  // x = [1 3 5; 2 4 6] stores 1..6 in order; as (3 x 2) that is [1 4; 2 5; 3 6].
  const Tensor<double> x(matrix(2, 3, {1, 3, 5, 2, 4, 6}));
  CHECK(reshape(x, 3, 2).value() == matrix(3, 2, {1, 4, 2, 5, 3, 6}));
  CHECK(reshape(x, 1, 6).value() == matrix(1, 6, {1, 2, 3, 4, 5, 6}));
  // The gradient comes back in the input's shape, entry for entry.
  Tensor<double> leaf(x.value(), true);
  reshape(leaf, 6, 1).backward(matrix(6, 1, {10, 20, 30, 40, 50, 60}));
  CHECK(leaf.grad() == matrix(2, 3, {10, 30, 50, 20, 40, 60}));
}

TEST_CASE("hcat and vcat join in order, each part gets its own block of the gradient", "[ops][shape]") {
  Tensor<double> a(matrix(2, 1, {1, 2}), true);
  Tensor<double> b(matrix(2, 2, {3, 4, 5, 6}), true);
  const Tensor<double> joined = hcat({a, b});
  CHECK(joined.value() == matrix(2, 3, {1, 3, 4, 2, 5, 6}));
  joined.backward(matrix(2, 3, {1, 2, 3, 4, 5, 6}));
  CHECK(a.grad() == matrix(2, 1, {1, 4}));
  CHECK(b.grad() == matrix(2, 2, {2, 3, 5, 6}));

  Tensor<double> c(matrix(1, 2, {7, 8}), true);
  const Tensor<double> stacked = vcat(std::vector<Tensor<double>>{c, Tensor<double>(matrix(2, 2, {1, 2, 3, 4})), c});
  CHECK(stacked.value() == matrix(4, 2, {7, 8, 1, 2, 3, 4, 7, 8}));
  // The same tensor twice: both blocks add up in its gradient.
  stacked.backward(matrix(4, 2, {1, 2, 0, 0, 0, 0, 10, 20}));
  CHECK(c.grad() == matrix(1, 2, {11, 22}));
}

TEST_CASE("slices take first .. first + count - 1, select_rows gathers with repeats", "[ops][indexing]") {
  Tensor<double> x(matrix(3, 4, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), true);
  CHECK(slice_rows(x, 1, 2).value() == matrix(2, 4, {5, 6, 7, 8, 9, 10, 11, 12}));
  CHECK(slice_cols(x, 1, 2).value() == matrix(3, 2, {2, 3, 6, 7, 10, 11}));
  CHECK(slice_cols(x, 4, 0).value().size() == 0);  // an empty range at the end is allowed
  const std::vector<int> rows = {2, 0, 2};
  const Tensor<double> picked = select_rows(x, rows);
  CHECK(picked.value() == matrix(3, 4, {9, 10, 11, 12, 1, 2, 3, 4, 9, 10, 11, 12}));
  sum(picked).backward();
  // Row 2 was picked twice, row 1 never.
  CHECK(x.grad() == matrix(3, 4, {1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2}));
}

TEST_CASE("*_rows reduce each row to a column, *_cols each column to a row", "[ops][reduction]") {
  const Tensor<double> x(matrix(2, 3, {1, 5, 3, -4, -2, -6}));
  CHECK(mean_rows(x).value() == matrix(2, 1, {3, -4}));
  CHECK(mean_cols(x).value() == matrix(1, 3, {-1.5, 1.5, -1.5}));
  CHECK(max_rows(x).value() == matrix(2, 1, {5, -2}));
  CHECK(max_cols(x).value() == matrix(1, 3, {1, 5, 3}));
  CHECK(argmax_rows(x) == std::vector<Index>{1, 1});
  CHECK(argmax_cols(x) == std::vector<Index>{0, 0, 0});
  // Consistent with sum_rows / sum_cols.
  CHECK(sum_rows(x).value() == (mean_rows(x).value() * 3.0));
  CHECK(sum_cols(x).value() == (mean_cols(x).value() * 2.0));
}

TEST_CASE("max and argmax choose the first of equal maxima, and the gradient goes there alone", "[ops][reduction]") {
  // Row 0 ties at columns 1 and 2; row 1 ties at columns 0, 1 and 3. Column 2 ties at rows 0 and 1.
  Tensor<double> x(matrix(2, 4, {1, 3, 3, 0, 2, 2, 3, 2}), true);
  CHECK(argmax_rows(x) == std::vector<Index>{1, 2});
  const Tensor<double> ties(matrix(2, 4, {1, 3, 3, 0, 2, 2, 0, 2}));
  CHECK(argmax_rows(ties) == std::vector<Index>{1, 0});
  CHECK(argmax_cols(x) == std::vector<Index>{1, 0, 0, 1});

  Tensor<double> y(ties.value(), true);
  max_rows(y).backward(matrix(2, 1, {10, 20}));
  CHECK(y.grad() == matrix(2, 4, {0, 10, 0, 0, 20, 0, 0, 0}));
  Tensor<double> z(matrix(3, 2, {4, 1, 4, 1, 0, 1}), true);
  max_cols(z).backward(matrix(1, 2, {5, 7}));
  CHECK(z.grad() == matrix(3, 2, {5, 7, 0, 0, 0, 0}));
  // A constant tensor: every entry ties, the first takes all.
  Tensor<double> flat(Matrix<double>::Constant(3, 3, 2.0), true);
  sum(max_cols(flat)).backward();
  CHECK(flat.grad() == matrix(3, 3, {1, 1, 1, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("abs, clamp and leaky_relu, with their gradients at and around the kinks", "[ops][elementwise]") {
  Tensor<double> x(matrix(1, 5, {-2, -0.5, 0, 0.5, 2}), true);
  CHECK(abs(x).value() == matrix(1, 5, {2, 0.5, 0, 0.5, 2}));
  CHECK(clamp(x, -0.5, 0.5).value() == matrix(1, 5, {-0.5, -0.5, 0, 0.5, 0.5}));
  CHECK(leaky_relu(x, 0.1).value() == matrix(1, 5, {-0.2, -0.05, 0, 0.5, 2}));

  sum(abs(x)).backward();
  CHECK(x.grad() == matrix(1, 5, {-1, -1, 0, 1, 1}));  // 0 at 0
  x.zero_grad();
  sum(clamp(x, -0.5, 0.5)).backward();
  CHECK(x.grad() == matrix(1, 5, {0, 1, 1, 1, 0}));  // the bounds pass the gradient
  x.zero_grad();
  sum(leaky_relu(x, 0.1)).backward();
  CHECK(x.grad() == matrix(1, 5, {0.1, 0.1, 0.1, 1, 1}));  // the slope at 0
}

TEST_CASE("softplus and logsumexp are finite and exact for large |x|", "[ops][stability]") {
  Tensor<double> x(matrix(1, 4, {-1e4, -40, 40, 1e4}), true);
  const Matrix<double> y = softplus(x).value();
  CHECK(y(0, 0) == 0.0);
  CHECK(y(0, 1) == Approx(std::exp(-40.0)).epsilon(1e-12));
  CHECK(y(0, 2) == Approx(40.0).epsilon(1e-15));
  CHECK(y(0, 3) == 1e4);
  sum(softplus(x)).backward();
  CHECK(x.grad()(0, 0) == 0.0);
  CHECK(x.grad()(0, 1) == Approx(std::exp(-40.0)).epsilon(1e-12));
  CHECK(x.grad()(0, 3) == 1.0);
  Tensor<float> xf(matrix(1, 2, {-200, 200}).cast<float>(), true);
  CHECK(softplus(xf).value()(0, 1) == 200.0f);
  CHECK(std::isfinite(softplus(xf).value()(0, 0)));

  // Columns [1e4, 1e4, -1e4] and [0, log 3 - ..., ...]: the maximum is shifted out before exp.
  Tensor<double> scores(matrix(3, 2, {1e4, 0, 1e4, 0, -1e4, 0}), true);
  const Matrix<double> lse = logsumexp(scores).value();
  REQUIRE(lse.rows() == 1);
  REQUIRE(lse.cols() == 2);
  CHECK(lse(0, 0) == Approx(1e4 + std::log(2.0)).epsilon(1e-15));
  CHECK(lse(0, 1) == Approx(std::log(3.0)).epsilon(1e-15));
  sum(logsumexp(scores)).backward();
  CHECK(scores.grad() == matrix(3, 2, {0.5, 1.0 / 3, 0.5, 1.0 / 3, 0, 1.0 / 3}));
  Tensor<float> big(matrix(2, 1, {1e4, 1e4}).cast<float>());
  CHECK(std::isfinite(logsumexp(big).value()(0, 0)));
}

TEST_CASE("argmax_cols of a score matrix gives the predicted classes", "[ops][reduction]") {
  Generator generator(3);
  const Tensor<float> scores = Tensor<float>::normal(10, 50, generator);
  const std::vector<Index> classes = argmax_cols(scores);
  REQUIRE(classes.size() == 50);
  for (Index j = 0; j < 50; ++j) {
    Index best = 0;
    scores.value().col(j).maxCoeff(&best);
    CHECK(classes[static_cast<std::size_t>(j)] == best);
  }
  // No gradient: argmax records nothing, even on a tensor that requires one.
  const Tensor<double> x(matrix(2, 2, {1, 2, 3, 4}), true);
  CHECK(argmax_rows(x) == std::vector<Index>{1, 1});
}
