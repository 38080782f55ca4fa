// The tape against the reports' hand-derived gradients (nn/reference), in double: equal to about 1e-10 on the
// reports' small checks and on a full-size batch.
#include <catch2/catch.hpp>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/reference/logistic_regression.h>
#include <tapegrad/nn/reference/sigmoid_regression.h>
#include <tapegrad/nn/reference/softmax_regression.h>
#include <tapegrad/nn/reference/two_layer_network.h>
#include <tapegrad/ops/ops.h>

using namespace tapegrad;
using M = Matrix<double>;

namespace {

struct Problem {
  M x, w, b, w2, b2;
  std::vector<int> labels;
};

Problem make_problem(Index d, Index n, Index k, Index hidden, std::uint64_t seed, double weight_std) {
  Generator g(seed);
  Problem p;
  p.x = Tensor<double>::normal(d, n, g).value();
  p.w = Tensor<double>::normal(hidden > 0 ? hidden : k, d, g, 0.0, weight_std).value();
  p.b = Tensor<double>::normal(hidden > 0 ? hidden : k, 1, g, 0.0, weight_std).value();
  if (hidden > 0) {
    p.w2 = Tensor<double>::normal(k, hidden, g, 0.0, 1.0 / std::sqrt(double(hidden))).value();
    p.b2 = Tensor<double>::normal(k, 1, g, 0.0, 0.1).value();
  }
  for (Index j = 0; j < n; ++j) p.labels.push_back(static_cast<int>(g.below(static_cast<std::uint64_t>(k))));
  return p;
}

M one_hot(const std::vector<int>& labels, Index k) {
  M y = M::Zero(k, static_cast<Index>(labels.size()));
  for (std::size_t j = 0; j < labels.size(); ++j) y(labels[j], static_cast<Index>(j)) = 1;
  return y;
}

struct Shape {
  Index d, n;
};
const std::vector<Shape> kShapes = {{10, 1}, {10, 2}, {20, 3}, {20, 1}, {3072, 100}};
const double kLambdas[] = {0.0, 0.1};

void check_close(const M& tape, const M& reference, const char* what) {
  INFO(what << ": max |tape| " << tape.cwiseAbs().maxCoeff());
  REQUIRE(tape.rows() == reference.rows());
  REQUIRE(tape.cols() == reference.cols());
  CHECK(tape.cwiseAbs().maxCoeff() > 1e-8);  // not a check of zeros
  CHECK(max_relative_error(tape, reference) <= 1e-10);
}

}  // namespace

TEST_CASE("softmax regression: tape == reference", "[reference][tape]") {
  for (const auto& shape : kShapes)
    for (double lambda : kLambdas)
      for (std::uint64_t seed : {1u, 2u}) {
        INFO("d " << shape.d << " n " << shape.n << " lambda " << lambda << " seed " << seed);
        const Problem p = make_problem(shape.d, shape.n, 10, 0, seed, 0.01);
        Tensor<double> w(p.w, true), b(p.b, true);
        Tensor<double> cost = cross_entropy_with_logits(linear(w, Tensor<double>(p.x), b), p.labels) +
                              sum_of_squares(w) * lambda;
        cost.backward();
        const auto ref =
            reference::softmax_regression_gradients<double>(p.w, p.b, p.x, one_hot(p.labels, 10), lambda);
        CHECK(cost.item() == Approx(ref.cost).epsilon(1e-13));
        check_close(w.grad(), ref.gradient.weights, "dW");
        check_close(b.grad(), ref.gradient.bias, "db");
      }
}

TEST_CASE("sigmoid with multiple binary cross-entropy: tape == reference", "[reference][tape]") {
  for (const auto& shape : kShapes)
    for (double lambda : kLambdas) {
      INFO("d " << shape.d << " n " << shape.n << " lambda " << lambda);
      const Problem p = make_problem(shape.d, shape.n, 10, 0, 5, 0.01);
      Tensor<double> w(p.w, true), b(p.b, true);
      Tensor<double> cost = multi_binary_cross_entropy_with_logits(linear(w, Tensor<double>(p.x), b),
                                                                   Tensor<double>(one_hot(p.labels, 10))) +
                            sum_of_squares(w) * lambda;
      cost.backward();
      const auto ref =
          reference::sigmoid_regression_gradients<double>(p.w, p.b, p.x, one_hot(p.labels, 10), lambda);
      CHECK(cost.item() == Approx(ref.cost).epsilon(1e-13));
      check_close(w.grad(), ref.gradient.weights, "dW");
      check_close(b.grad(), ref.gradient.bias, "db");
    }
}

TEST_CASE("two-layer ReLU network: tape == reference", "[reference][tape]") {
  for (const auto& shape : kShapes)
    for (double lambda : kLambdas) {
      INFO("d " << shape.d << " n " << shape.n << " lambda " << lambda);
      const Problem p = make_problem(shape.d, shape.n, 10, 50, 9, 1.0 / std::sqrt(double(shape.d)));
      Tensor<double> w1(p.w, true), b1(p.b, true), w2(p.w2, true), b2(p.b2, true);
      Tensor<double> h = relu(linear(w1, Tensor<double>(p.x), b1));
      Tensor<double> cost = cross_entropy_with_logits(linear(w2, h, b2), p.labels) +
                            (sum_of_squares(w1) + sum_of_squares(w2)) * lambda;
      cost.backward();
      const auto ref =
          reference::two_layer_gradients<double>(p.w, p.b, p.w2, p.b2, p.x, one_hot(p.labels, 10), lambda);
      CHECK(cost.item() == Approx(ref.cost).epsilon(1e-13));
      check_close(w1.grad(), ref.first_layer.weights, "dW1");
      check_close(b1.grad(), ref.first_layer.bias, "db1");
      check_close(w2.grad(), ref.second_layer.weights, "dW2");
      check_close(b2.grad(), ref.second_layer.bias, "db2");
    }
}

TEST_CASE("binary logistic regression: tape == reference", "[reference][tape]") {
  for (const auto& shape : kShapes)
    for (double lambda : kLambdas) {
      INFO("d " << shape.d << " n " << shape.n << " lambda " << lambda);
      Problem p = make_problem(shape.d, shape.n, 2, 0, 13, 0.1);
      const M w_column = p.w.row(0).transpose();  // the reports' w is d x 1
      const M b = p.b.topRows(1);
      M y(1, shape.n);
      for (Index j = 0; j < shape.n; ++j) y(0, j) = p.labels[static_cast<std::size_t>(j)];
      Tensor<double> w(M(w_column.transpose()), true), bias(b, true);
      Tensor<double> cost = multi_binary_cross_entropy_with_logits(linear(w, Tensor<double>(p.x), bias),
                                                                   Tensor<double>(y)) +
                            sum_of_squares(w) * lambda;
      cost.backward();
      const auto ref = reference::logistic_regression_gradients<double>(w_column, b, p.x, y, lambda);
      CHECK(cost.item() == Approx(ref.cost).epsilon(1e-13));
      check_close(M(w.grad().transpose()), ref.gradient.weights, "dw");
      check_close(bias.grad(), ref.gradient.bias, "db");
    }
}
