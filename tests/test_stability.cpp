// Losses from logits stay finite and exact for huge logits.
#include <catch2/catch.hpp>

#include <cmath>

#include <tapegrad/ops/ops.h>

using namespace tapegrad;

TEMPLATE_TEST_CASE("cross-entropy of logits +-1e4 is finite and exact", "[ops][stability]", float, double) {
  using T = TestType;
  Matrix<T> s = Matrix<T>::Zero(10, 2);
  s(0, 0) = T(1e4);
  s(1, 0) = T(-1e4);
  s(0, 1) = T(1e4);
  s(1, 1) = T(-1e4);
  Tensor<T> scores(s, true);
  // Column 0 labelled with its largest logit: loss log(1 + 8 e^-1e4 + e^-2e4) = 0 exactly in floating point.
  // Column 1 labelled with its smallest: loss 1e4 - (-1e4) = 2e4.
  const std::vector<int> labels = {0, 1};
  Tensor<T> loss = cross_entropy_with_logits(scores, labels);
  CHECK(std::isfinite(loss.item()));
  CHECK(loss.item() == Approx(T(1e4)).epsilon(1e-6));  // mean of 0 and 2e4
  loss.backward();
  CHECK(scores.grad().allFinite());
  // (P - Y) / n: P puts all its mass on row 0 in both columns.
  CHECK(scores.grad()(0, 0) == Approx(0.0).margin(1e-6));
  CHECK(scores.grad()(0, 1) == Approx(0.5).margin(1e-6));
  CHECK(scores.grad()(1, 1) == Approx(-0.5).margin(1e-6));

  Tensor<T> onehot(Matrix<T>::Zero(10, 2));
  onehot.mutable_value()(0, 0) = 1;
  onehot.mutable_value()(1, 1) = 1;
  CHECK(cross_entropy_with_logits(Tensor<T>(s), onehot).item() == Approx(T(1e4)).epsilon(1e-6));

  Tensor<T> p = softmax(Tensor<T>(s));
  CHECK(p.value().allFinite());
  CHECK(p.value().colwise().sum().isApproxToConstant(T(1)));
  CHECK(log_softmax(Tensor<T>(s)).value().allFinite());
}

TEMPLATE_TEST_CASE("multiple binary cross-entropy of logits +-1e4 is finite and exact", "[ops][stability]", float,
                   double) {
  using T = TestType;
  Matrix<T> s(2, 1);
  s << T(1e4), T(-1e4);
  Matrix<T> y(2, 1);
  y << T(0), T(0);  // both targets 0: losses 1e4 and 0, mean over K = 2 gives 5e3
  Tensor<T> scores(s, true);
  Tensor<T> loss = multi_binary_cross_entropy_with_logits(scores, Tensor<T>(y));
  CHECK(loss.item() == Approx(T(5e3)).epsilon(1e-6));
  loss.backward();
  CHECK(scores.grad().allFinite());
  CHECK(scores.grad()(0, 0) == Approx(0.5).margin(1e-6));  // (sigmoid(1e4) - 0) / 2
  CHECK(sigmoid(Tensor<T>(s)).value().allFinite());
}

TEST_CASE("cross-entropy at zero weights is log K", "[ops][stability]") {
  const std::vector<int> labels = {3, 9, 0};
  CHECK(cross_entropy_with_logits(Tensor<double>::zeros(10, 3), labels).item() == Approx(std::log(10.0)).epsilon(1e-15));
}
