// The tape: graph shapes, accumulation, freeing, no_grad and the errors a user can meet.
#include <catch2/catch.hpp>

#include <cmath>
#include <thread>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/ops/ops.h>

using namespace tapegrad;
using Catch::Matchers::Contains;

namespace {
Matrix<double> values(std::initializer_list<std::initializer_list<double>> rows) {
  Matrix<double> m(static_cast<Index>(rows.size()), static_cast<Index>(rows.begin()->size()));
  Index i = 0;
  for (const auto& row : rows) {
    Index j = 0;
    for (double v : row) m(i, j++) = v;
    ++i;
  }
  return m;
}
}  // namespace

TEST_CASE("factories, shapes and item", "[tensor]") {
  Generator generator(3);
  CHECK(Tensor<float>::zeros(2, 3).value().isZero());
  CHECK(Tensor<float>::ones(2, 3).value().sum() == 6.0f);
  CHECK(Tensor<double>::full(4, 1, 2.5).value().sum() == 10.0);
  CHECK(Tensor<double>::scalar(7.0).item() == 7.0);
  const auto n = Tensor<double>::normal(300, 300, generator, 1.0, 2.0);
  CHECK(n.value().mean() == Approx(1.0).margin(0.03));
  const auto u = Tensor<double>::uniform(100, 100, generator, -1.0, 3.0);
  CHECK(u.value().minCoeff() >= -1.0);
  CHECK(u.value().maxCoeff() < 3.0);
  CHECK(u.shape_string() == "(100 x 100)");
  REQUIRE_THROWS_WITH(u.item(), Contains("(100 x 100)") && Contains("item"));
}

TEST_CASE("a handle copy shares the data", "[tensor]") {
  Tensor<double> a = Tensor<double>::zeros(2, 2);
  Tensor<double> b = a;
  b.mutable_value()(0, 0) = 5;
  CHECK(a.value()(0, 0) == 5);
  CHECK(a.same_as(b));
  Tensor<double> c = a.detach();
  c.mutable_value()(0, 0) = 1;
  CHECK(a.value()(0, 0) == 5);
}

TEST_CASE("a reused intermediate gets all its gradient: x*x + x", "[tensor][graph]") {
  Tensor<double> x(values({{1.0, -2.0, 3.0}}), true);
  Tensor<double> y = sum(x * x + x);
  y.backward();
  // d/dx = 2x + 1
  CHECK(x.grad()(0, 0) == Approx(3.0));
  CHECK(x.grad()(0, 1) == Approx(-3.0));
  CHECK(x.grad()(0, 2) == Approx(7.0));
}

TEST_CASE("a diamond: two paths from one input meet again", "[tensor][graph]") {
  Tensor<double> x(values({{0.5, -1.0}}), true);
  Tensor<double> t = tanh(x);
  Tensor<double> left = t * 2.0;
  Tensor<double> right = exp(t);
  Tensor<double> y = sum(left * right);
  y.backward();
  for (Index j = 0; j < 2; ++j) {
    const double tv = std::tanh(x.value()(0, j));
    const double expected = (2 * std::exp(tv) + 2 * tv * std::exp(tv)) * (1 - tv * tv);
    CHECK(x.grad()(0, j) == Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("a chain of 10,000 nodes runs backward without recursion", "[tensor][graph]") {
  Tensor<double> x = Tensor<double>::scalar(1.0, true);
  Tensor<double> y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  y.backward();
  CHECK(x.grad()(0, 0) == Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
}

TEST_CASE("a chain of 300,000 nodes is destroyed without recursion", "[tensor][graph]") {
  const long before = Node<double>::live_count();
  {
    Tensor<double> x = Tensor<double>::scalar(1.0, true);
    Tensor<double> y = x;
    for (int i = 0; i < 300000; ++i) y = y + 1.0;
    CHECK(Node<double>::live_count() - before == 300000);
  }
  CHECK(Node<double>::live_count() == before);
}

TEST_CASE("gradients accumulate over two backward calls until zero_grad", "[tensor][graph]") {
  Tensor<double> w(values({{2.0}}), true);
  for (int i = 0; i < 2; ++i) {
    Tensor<double> loss = square(w) * 3.0;  // d/dw = 6w = 12
    loss.backward();
  }
  CHECK(w.grad()(0, 0) == Approx(24.0));
  w.zero_grad();
  CHECK(w.grad()(0, 0) == 0.0);
  sum_of_squares(w).backward();
  CHECK(w.grad()(0, 0) == Approx(4.0));
}

TEST_CASE("retain_graph allows a second backward, without it the second is a clear error", "[tensor][graph]") {
  Tensor<double> x(values({{1.5}}), true);
  Tensor<double> y = exp(x) * 2.0;
  y.backward(true);
  y.backward();
  CHECK(x.grad()(0, 0) == Approx(4 * std::exp(1.5)));
  REQUIRE_THROWS_AS(y.backward(), Error);
  REQUIRE_THROWS_WITH(y.backward(), Contains("already freed") && Contains("retain_graph"));
}

TEST_CASE("the graph is freed after backward: no node outlives a training step", "[tensor][graph][memory]") {
  Generator generator(11);
  Tensor<double> w = Tensor<double>::normal(10, 20, generator, 0, 0.01, true);
  Tensor<double> b = Tensor<double>::zeros(10, 1, true);
  const Tensor<double> x = Tensor<double>::normal(20, 8, generator);
  const std::vector<int> labels = {0, 1, 2, 3, 4, 5, 6, 7};
  const long before = Node<double>::live_count();
  for (int step = 0; step < 3; ++step) {
    Tensor<double> cost = cross_entropy_with_logits(linear(w, x, b), labels) + sum_of_squares(w) * 0.1;
    CHECK(Node<double>::live_count() > before);
    cost.backward();
  }
  CHECK(Node<double>::live_count() == before);
}

TEST_CASE("NoGradGuard stops recording, nests, and is per thread", "[tensor][graph]") {
  Tensor<double> x(values({{1.0, 2.0}}), true);
  {
    NoGradGuard outer;
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());
    Tensor<double> y = x * 3.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    REQUIRE_THROWS_WITH(sum(y).backward(), Contains("does not require a gradient"));
    bool other_thread_records = false;
    std::thread([&] { other_thread_records = grad_enabled(); }).join();
    CHECK(other_thread_records);
  }
  CHECK(grad_enabled());
  CHECK((x * 3.0).requires_grad());
}

TEST_CASE("inputs that need no gradient get none, and cost nothing", "[tensor][graph]") {
  Generator generator(2);
  Tensor<double> w = Tensor<double>::normal(3, 4, generator, 0, 1, true);
  Tensor<double> x = Tensor<double>::normal(4, 5, generator);
  sum(matmul(w, x)).backward();
  CHECK(w.has_grad());
  CHECK_FALSE(x.has_grad());
}

TEST_CASE("backward of a non-scalar needs an upstream gradient of its shape", "[tensor][graph]") {
  Tensor<double> x(values({{1.0, 2.0}, {3.0, 4.0}}), true);
  Tensor<double> y = x * x;
  REQUIRE_THROWS_WITH(y.backward(), Contains("(2 x 2)") && Contains("upstream"));
  REQUIRE_THROWS_WITH(y.backward(Matrix<double>::Ones(1, 2)), Contains("(1 x 2)") && Contains("(2 x 2)"));
  y.backward(values({{1.0, 0.0}, {0.0, 2.0}}));
  CHECK(x.grad()(0, 0) == Approx(2.0));
  CHECK(x.grad()(0, 1) == Approx(0.0));
  CHECK(x.grad()(1, 1) == Approx(16.0));
}

TEST_CASE("shape errors name the op, both shapes and the caller's line", "[tensor][errors]") {
  Tensor<float> w = Tensor<float>::zeros(10, 3072);
  Tensor<float> x = Tensor<float>::zeros(50, 100);
  REQUIRE_THROWS_WITH(matmul(w, x), Contains("matmul: inner sizes differ: (10 x 3072) * (50 x 100)") &&
                                        Contains("test_tensor.cpp"));
  REQUIRE_THROWS_WITH(add(Tensor<float>::zeros(3, 4), Tensor<float>::zeros(2, 1)),
                      Contains("add") && Contains("(3 x 4)") && Contains("(2 x 1)"));
  REQUIRE_THROWS_WITH(mul(Tensor<float>::zeros(3, 4), Tensor<float>::zeros(1, 3)),
                      Contains("mul") && Contains("(1 x 3)"));
  REQUIRE_THROWS_WITH(linear(Tensor<float>::zeros(10, 5), Tensor<float>::zeros(5, 2), Tensor<float>::zeros(5, 1)),
                      Contains("linear") && Contains("(5 x 1)"));
  const std::vector<int> bad_label = {0, 10};
  REQUIRE_THROWS_WITH(cross_entropy_with_logits(Tensor<float>::zeros(10, 2), bad_label),
                      Contains("label 10") && Contains("position 1"));
  const std::vector<int> too_few = {0};
  REQUIRE_THROWS_WITH(cross_entropy_with_logits(Tensor<float>::zeros(10, 2), too_few), Contains("1 labels"));
  const std::vector<int> bad_column = {0, 7};
  REQUIRE_THROWS_WITH(select_columns(Tensor<float>::zeros(2, 5), bad_column), Contains("index 7"));
  REQUIRE_THROWS_WITH(multi_binary_cross_entropy_with_logits(Tensor<float>::zeros(2, 5), Tensor<float>::zeros(5, 2)),
                      Contains("(2 x 5)") && Contains("(5 x 2)"));
}

TEST_CASE("only leaves can be changed in place or made to require a gradient", "[tensor][errors]") {
  Tensor<double> x = Tensor<double>::ones(2, 2, true);
  Tensor<double> y = x * 2.0;
  REQUIRE_THROWS_WITH(y.mutable_value(), Contains("mul_scalar"));
  REQUIRE_THROWS_WITH(y.set_requires_grad(false), Contains("leaves"));
  REQUIRE_THROWS_WITH(x.assign(Matrix<double>::Zero(3, 2)), Contains("(3 x 2)") && Contains("(2 x 2)"));
  x.assign(Matrix<double>::Constant(2, 2, 4.0));
  CHECK(x.value().sum() == 16.0);
}

TEST_CASE("float and double give the same results to float precision", "[tensor]") {
  Generator generator(9);
  const Matrix<double> w = Tensor<double>::normal(10, 30, generator).value();
  const Matrix<double> x = Tensor<double>::normal(30, 6, generator).value();
  const std::vector<int> labels = {1, 2, 3, 4, 5, 6};
  Tensor<double> wd(w, true);
  Tensor<float> wf(w.cast<float>(), true);
  Tensor<double> cd = cross_entropy_with_logits(matmul(wd, Tensor<double>(x)), labels);
  Tensor<float> cf = cross_entropy_with_logits(matmul(wf, Tensor<float>(x.cast<float>())), labels);
  CHECK(cf.item() == Approx(cd.item()).epsilon(1e-5));
  cd.backward();
  cf.backward();
  CHECK((wf.grad().cast<double>() - wd.grad()).cwiseAbs().maxCoeff() < 1e-5);
}
