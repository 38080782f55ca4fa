// The layers that use train() / eval(): Dropout and BatchNorm in both modes, their ops (dropout, batch_norm)
// with a reused input, accumulated gradients and in float, the running statistics against values by hand, and
// BatchNorm's state.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/nn.h>
#include <tapegrad/ops/ops.h>

#include "tests/support/test_data.h"

using namespace tapegrad;
using namespace tapegrad::nn;
using tapegrad::testing::error_message;

namespace {

// Per row: mean and biased variance over the columns, by plain loops.
void row_statistics(const Matrix<double>& x, Matrix<double>& mean, Matrix<double>& variance) {
  mean.resize(x.rows(), 1);
  variance.resize(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) {
    double sum = 0;
    for (Index j = 0; j < x.cols(); ++j) sum += x(i, j);
    mean(i, 0) = sum / static_cast<double>(x.cols());
    double squares = 0;
    for (Index j = 0; j < x.cols(); ++j) squares += (x(i, j) - mean(i, 0)) * (x(i, j) - mean(i, 0));
    variance(i, 0) = squares / static_cast<double>(x.cols());
  }
}

Matrix<double> shifted_batch(Index rows, Index cols, Generator& generator, double shift, double scale) {
  Matrix<double> x = Tensor<double>::normal(rows, cols, generator).value();
  return (x.array() * scale + shift).matrix();
}

}  // namespace

TEST_CASE("dropout keeps each entry with probability 1 - p, scaled by 1 / (1 - p), and its gradient is the mask",
          "[layers][dropout]") {
  Generator generator(1);
  const Tensor<double> x = Tensor<double>::full(100, 100, 3.0, true);
  const Tensor<double> y = dropout(x, 0.3, generator);
  Index kept = 0;
  for (Index i = 0; i < y.size(); ++i) {
    const double v = y.value().data()[i];
    CHECK((v == 0.0 || std::abs(v - 3.0 / 0.7) < 1e-12));
    kept += v != 0.0;
  }
  // 10,000 draws: the kept fraction is 0.7 within 5 standard deviations (0.0046 each).
  CHECK(std::abs(static_cast<double>(kept) / 1e4 - 0.7) < 0.023);
  sum(y).backward();
  CHECK(x.grad() == (y.value() / 3.0));
  // The same seed draws the same mask, with or without recording.
  Generator again(1);
  NoGradGuard no_grad;
  CHECK(dropout(Tensor<double>::full(100, 100, 3.0), 0.3, again).value() == y.value());
}

TEST_CASE("dropout refuses p outside 0 <= p < 1", "[layers][dropout]") {
  Generator generator(2);
  const Tensor<float> x = Tensor<float>::ones(2, 2);
  for (double p : {1.0, -0.1, 1.5, std::nan("")}) {
    INFO(p);
    CHECK_THAT(error_message([&] { dropout(x, p, generator); }), Catch::Contains("must be in [0, 1)"));
    CHECK_THAT(error_message([&] { Dropout<float>(p, generator); }), Catch::Contains("must be in [0, 1)"));
  }
  CHECK(dropout(x, 0.0, generator).value() == x.value());
}

TEST_CASE("Dropout drops in training and is the identity in evaluation, switched through Sequential",
          "[layers][dropout]") {
  Generator generator(3);
  Sequential<float> model;
  auto layer = model.emplace_back<Dropout<float>>(0.5, generator);
  const Tensor<float> x = Tensor<float>::ones(20, 20);
  CHECK(layer->is_training());
  const Matrix<float> trained = model.forward(x).value();
  CHECK((trained.array() == 0.0f).any());
  CHECK((trained.array() == 2.0f).any());
  model.eval();
  CHECK_FALSE(layer->is_training());
  CHECK(model.forward(x).value() == x.value());
  model.train();
  CHECK(layer->is_training());
  CHECK(model.forward(x).value() != x.value());
}

TEST_CASE("batch_norm normalises each row over its columns and reports the batch statistics", "[layers][batch_norm]") {
  Generator generator(4);
  const Matrix<double> s = shifted_batch(3, 8, generator, 5.0, 2.0);
  BatchStatistics<double> statistics;
  const Matrix<double> out = batch_norm(Tensor<double>(s), 1e-12, &statistics).value();
  Matrix<double> mean, variance;
  row_statistics(s, mean, variance);
  CHECK((statistics.mean - mean).norm() < 1e-12);
  CHECK((statistics.variance - variance).norm() < 1e-12);
  Matrix<double> out_mean, out_variance;
  row_statistics(out, out_mean, out_variance);
  CHECK(out_mean.norm() < 1e-12);
  CHECK((out_variance.array() - 1.0).abs().maxCoeff() < 1e-9);
  // gamma and beta scale and shift each row.
  Matrix<double> gamma(3, 1), beta(3, 1);
  gamma << 2, -1, 0.5;
  beta << 1, 0, -3;
  const Matrix<double> affine =
      batch_norm(Tensor<double>(s), Tensor<double>(gamma), Tensor<double>(beta), 1e-12).value();
  CHECK(((affine - ((out.array().colwise() * gamma.col(0).array()).colwise() + beta.col(0).array()).matrix())
             .norm()) < 1e-12);
}

TEST_CASE("batch_norm refuses a bad eps, an empty batch and mis-shaped gamma or beta", "[layers][batch_norm]") {
  const Tensor<double> s = Tensor<double>::ones(3, 4);
  CHECK_THAT(error_message([&] { batch_norm(s, 0.0); }), Catch::Contains("eps = 0 must be positive"));
  CHECK_THAT(error_message([&] { batch_norm(Tensor<double>::zeros(3, 0), 1e-5); }), Catch::Contains("empty"));
  CHECK_THAT(error_message([&] { batch_norm(s, Tensor<double>::ones(3, 2), Tensor<double>::ones(3, 1), 1e-5); }),
             Catch::Contains("gamma must be a (3 x 1) column"));
  CHECK_THAT(error_message([&] { batch_norm(s, Tensor<double>::ones(3, 1), Tensor<double>::ones(2, 1), 1e-5); }),
             Catch::Contains("beta must be a (3 x 1) column"));
}

TEST_CASE("batch_norm's fused backward: a reused input, gradients that accumulate, and float", "[layers][batch_norm]") {
  Generator generator(5);
  // The input also feeds a second op: the gradient reaching s is the sum of both paths.
  const GradcheckFunction reused = [](const std::vector<Tensor<double>>& x) {
    return sum(mul(batch_norm(x[0], x[1], x[2], 1e-5), square(x[0])));
  };
  const std::vector<Tensor<double>> inputs{Tensor<double>::normal(4, 5, generator),
                                           Tensor<double>::normal(4, 1, generator),
                                           Tensor<double>::normal(4, 1, generator)};
  const GradcheckResult result = gradcheck(reused, inputs);
  INFO(result.report({"s", "gamma", "beta"}));
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    CHECK(result.max_relative_error[k] < 1e-7);
    CHECK(result.max_abs_analytic[k] > 1e-3);
  }

  // Two backward passes add: the second leaves twice the first's gradient.
  const Tensor<double> s(inputs[0].value(), true), gamma(inputs[1].value(), true), beta(inputs[2].value(), true);
  const Matrix<double> weights = Tensor<double>::normal(4, 5, generator).value();
  auto loss = [&] { return sum(mul(batch_norm(s, gamma, beta, 1e-5), Tensor<double>(weights))); };
  loss().backward();
  const Matrix<double> once_s = s.grad(), once_gamma = gamma.grad(), once_beta = beta.grad();
  REQUIRE(once_s.norm() > 1e-3);
  loss().backward();
  CHECK((s.grad() - 2.0 * once_s).norm() < 1e-12);
  CHECK((gamma.grad() - 2.0 * once_gamma).norm() < 1e-12);
  CHECK((beta.grad() - 2.0 * once_beta).norm() < 1e-12);

  // Float computes the same gradients as double to float precision.
  const Tensor<float> s_float(s.value().cast<float>(), true), gamma_float(gamma.value().cast<float>(), true),
      beta_float(beta.value().cast<float>(), true);
  sum(mul(batch_norm(s_float, gamma_float, beta_float, 1e-5), Tensor<float>(weights.cast<float>()))).backward();
  CHECK((s_float.grad().cast<double>() - once_s).norm() < 1e-4 * (1 + once_s.norm()));
  CHECK((gamma_float.grad().cast<double>() - once_gamma).norm() < 1e-4 * (1 + once_gamma.norm()));
  CHECK((beta_float.grad().cast<double>() - once_beta).norm() < 1e-4 * (1 + once_beta.norm()));
}

TEST_CASE("dropout in float, with a reused input and accumulating gradients", "[layers][dropout]") {
  const Tensor<float> x = Tensor<float>::full(4, 4, 2.0f, true);
  Generator generator(6);
  const Tensor<float> y = dropout(x, 0.5, generator);
  sum(add(y, x)).backward();  // x reaches the loss directly and through the mask
  const Matrix<float> mask = y.value() / 2.0f;
  CHECK(x.grad() == (mask.array() + 1.0f).matrix());
  Generator same(6);
  sum(dropout(x, 0.5, same)).backward();
  CHECK(x.grad() == (2.0f * mask.array() + 1.0f).matrix());
}

TEST_CASE("BatchNorm, PyTorch's convention: running statistics from 0 / 1 with momentum and unbiased variance",
          "[layers][batch_norm]") {
  Generator generator(7);
  BatchNorm<double> layer(3);  // the defaults: eps 1e-5, momentum 0.1
  const Matrix<double> first = shifted_batch(3, 6, generator, 2.0, 3.0);
  const Matrix<double> second = shifted_batch(3, 6, generator, -1.0, 0.5);
  layer.forward(Tensor<double>(first));
  Matrix<double> mean1, variance1, mean2, variance2;
  row_statistics(first, mean1, variance1);
  row_statistics(second, mean2, variance2);
  const double unbias = 6.0 / 5.0;
  Matrix<double> expected_mean = 0.1 * mean1;
  Matrix<double> expected_var = (0.9 + 0.1 * unbias * variance1.array()).matrix();
  CHECK((layer.running_mean().value() - expected_mean).norm() < 1e-12);
  CHECK((layer.running_var().value() - expected_var).norm() < 1e-12);
  layer.forward(Tensor<double>(second));
  expected_mean = 0.9 * expected_mean + 0.1 * mean2;
  expected_var = 0.9 * expected_var + 0.1 * unbias * variance2;
  CHECK((layer.running_mean().value() - expected_mean).norm() < 1e-12);
  CHECK((layer.running_var().value() - expected_var).norm() < 1e-12);
  CHECK(layer.batches_tracked() == 2);

  // Evaluation uses the running statistics and changes nothing.
  layer.eval();
  const Matrix<double> x = shifted_batch(3, 4, generator, 0.0, 1.0);
  const Matrix<double> out = layer.forward(Tensor<double>(x)).value();
  const Matrix<double> expected =
      (x.colwise() - expected_mean.col(0)).array().colwise() / (expected_var.array() + 1e-5).sqrt().col(0);
  CHECK((out - expected).norm() < 1e-12);
  CHECK((layer.running_mean().value() - expected_mean).norm() < 1e-12);
  CHECK(layer.batches_tracked() == 2);
  // One example is fine in evaluation, not in training.
  CHECK(layer.forward(Tensor<double>::ones(3, 1)).cols() == 1);
  layer.train();
  CHECK_THAT(error_message([&] { layer.forward(Tensor<double>::ones(3, 1)); }),
             Catch::Contains("at least 2 examples"));
  CHECK_THAT(error_message([&] { layer.forward(Tensor<double>::ones(4, 3)); }), Catch::Contains("must have 3"));
}

TEST_CASE("BatchNorm, the course's convention: the first batch sets the averages, alpha = 0.9, biased variance",
          "[layers][batch_norm]") {
  Generator generator(8);
  const BatchNormOptions options = BatchNormOptions::course();
  CHECK(options.eps == 2.2e-16);
  CHECK(std::abs(options.momentum - 0.1) < 1e-15);
  BatchNorm<double> layer(4, options);
  const Matrix<double> first = shifted_batch(4, 5, generator, 1.0, 2.0);
  const Matrix<double> second = shifted_batch(4, 5, generator, 3.0, 0.25);
  Matrix<double> mean1, variance1, mean2, variance2;
  row_statistics(first, mean1, variance1);
  row_statistics(second, mean2, variance2);
  layer.forward(Tensor<double>(first));
  CHECK((layer.running_mean().value() - mean1).norm() < 1e-12);
  CHECK((layer.running_var().value() - variance1).norm() < 1e-12);
  layer.forward(Tensor<double>(second));
  const Matrix<double> mean_av = 0.9 * mean1 + 0.1 * mean2;
  const Matrix<double> var_av = 0.9 * variance1 + 0.1 * variance2;
  CHECK((layer.running_mean().value() - mean_av).norm() < 1e-12);
  CHECK((layer.running_var().value() - var_av).norm() < 1e-12);
  layer.eval();
  const Matrix<double> out = layer.forward(Tensor<double>(first)).value();
  const Matrix<double> expected =
      (first.colwise() - mean_av.col(0)).array().colwise() / (var_av.array() + 2.2e-16).sqrt().col(0);
  CHECK((out - expected).norm() < 1e-12);
}

TEST_CASE("BatchNorm's gradients through the module: the input's against finite differences in both modes",
          "[layers][batch_norm]") {
  for (bool affine : {true, false}) {
    INFO("affine " << affine);
    Generator generator(9);
    auto layer = std::make_shared<BatchNorm<double>>(3, BatchNormOptions{.affine = affine});
    if (affine) {
      layer->gamma().mutable_value() = Tensor<double>::normal(3, 1, generator).value();
      layer->beta().mutable_value() = Tensor<double>::normal(3, 1, generator).value();
    }
    // The input's gradient through the layer; gamma and beta by the op table (tests/test_ops_gradcheck.cpp).
    const GradcheckFunction input_only = [&](const std::vector<Tensor<double>>& x) { return layer->forward(x[0]); };
    const GradcheckResult result = gradcheck(input_only, {Tensor<double>::normal(3, 7, generator)});
    CHECK(result.max_relative_error[0] < 1e-7);
    CHECK(result.max_abs_analytic[0] > 1e-3);
    CHECK(layer->named_parameters().size() == (affine ? 2u : 0u));
    if (affine) {
      // The layer's gamma and beta get the op's gradients, which the op table checks against finite differences.
      const Tensor<double> x = Tensor<double>::normal(3, 7, generator);
      const Matrix<double> weights = Tensor<double>::normal(3, 7, generator).value();
      layer->zero_grad();
      sum(mul(layer->forward(x), Tensor<double>(weights))).backward();
      const Tensor<double> gamma(layer->gamma().value(), true), beta(layer->beta().value(), true);
      sum(mul(batch_norm(x, gamma, beta, 1e-5), Tensor<double>(weights))).backward();
      CHECK(layer->gamma().grad() == gamma.grad());
      CHECK(layer->beta().grad() == beta.grad());
      CHECK(gamma.grad().norm() > 1e-3);
    }
    // Both modes record a graph that reaches the input.
    layer->eval();
    const GradcheckResult evaluation = gradcheck(input_only, {Tensor<double>::normal(3, 2, generator)});
    CHECK(evaluation.max_relative_error[0] < 1e-7);
    CHECK(evaluation.max_abs_analytic[0] > 1e-3);
  }
}

TEST_CASE("BatchNorm's state: weight, bias and the running statistics in state_dict, loaded into a fresh layer",
          "[layers][batch_norm][state]") {
  Generator generator(10);
  Sequential<float> model;
  model.emplace_back<Linear<float>>(6, 4, LinearOptions{}, generator);
  auto norm = model.emplace_back<BatchNorm<float>>(4);
  for (int step = 0; step < 3; ++step) model.forward(Tensor<float>::normal(6, 10, generator));
  const StateDict<float> state = model.state_dict();
  CHECK(state.names() == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                                  "1.running_var", "1.num_batches_tracked"});
  CHECK(state.at("1.running_mean") == norm->running_mean().value());
  CHECK(state.at("1.num_batches_tracked")(0, 0) == 3.0f);
  CHECK(state.at("1.running_var").rows() == 4);

  Generator other(11);
  Sequential<float> fresh;
  fresh.emplace_back<Linear<float>>(6, 4, LinearOptions{}, other);
  auto fresh_norm = fresh.emplace_back<BatchNorm<float>>(4);
  fresh.load_state_dict(state);
  CHECK(fresh_norm->batches_tracked() == 3);
  model.eval();
  fresh.eval();
  const Tensor<float> x = Tensor<float>::normal(6, 5, generator);
  CHECK(fresh.forward(x).value() == model.forward(x).value());

  // Without affine there is no weight or bias.
  BatchNorm<float> plain(4, BatchNormOptions{.affine = false});
  CHECK(plain.state_dict().names() == std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
}

TEST_CASE("BatchNorm validates its options when it is built", "[layers][batch_norm]") {
  CHECK_THAT(error_message([] { BatchNorm<float>(0); }), Catch::Contains("features = 0 must be positive"));
  CHECK_THAT(error_message([] { BatchNorm<float>(3, BatchNormOptions{.eps = 0}); }),
             Catch::Contains("eps = 0 must be positive"));
  CHECK_THAT(error_message([] { BatchNorm<float>(3, BatchNormOptions{.eps = -1e-5}); }),
             Catch::Contains("must be positive"));
  CHECK_THAT(error_message([] { BatchNorm<float>(3, BatchNormOptions{.momentum = 0}); }),
             Catch::Contains("momentum = 0 must be in (0, 1]"));
  CHECK_THAT(error_message([] { BatchNorm<float>(3, BatchNormOptions{.momentum = 1.5}); }),
             Catch::Contains("momentum = 1.5 must be in (0, 1]"));
  CHECK_NOTHROW(BatchNorm<float>(3, BatchNormOptions{.momentum = 1.0}));
}

TEST_CASE("Sequential passes train() and eval() to BatchNorm and Dropout inside it", "[layers][sequential]") {
  Generator generator(12);
  Sequential<float> inner;
  auto norm = inner.emplace_back<BatchNorm<float>>(5);
  auto drop = inner.emplace_back<Dropout<float>>(0.5, generator);
  Sequential<float> outer;
  outer.push_back(std::make_shared<Sequential<float>>());
  auto nested = outer.emplace_back<Sequential<float>>();
  auto deep_norm = nested->emplace_back<BatchNorm<float>>(5);
  outer.eval();
  CHECK_FALSE(deep_norm->is_training());
  outer.train();
  CHECK(deep_norm->is_training());
  inner.eval();
  CHECK_FALSE(norm->is_training());
  CHECK_FALSE(drop->is_training());
  // Evaluation is deterministic and leaves the running statistics alone.
  const Tensor<float> x = Tensor<float>::normal(5, 6, generator);
  const Matrix<float> once = inner.forward(x).value();
  CHECK(inner.forward(x).value() == once);
  CHECK(norm->batches_tracked() == 0);
  inner.train();
  inner.forward(x);
  CHECK(norm->batches_tracked() == 1);
}
