// nn: the module registry and its names, Linear, the activations, Sequential, initialisation, losses, the L2
// penalty and evaluation.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/nn.h>
#include <tapegrad/ops/ops.h>

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

std::vector<std::string> names_of(const std::vector<NamedParameter<double>>& named) {
  std::vector<std::string> names;
  for (const auto& parameter : named) names.push_back(parameter.name);
  return names;
}

// A hand-written module with named layers, the way an app writes its network.
template <typename T>
class TwoLayerNet : public Module<T> {
 public:
  TwoLayerNet(Index input, Index hidden, Index classes, Generator& generator) {
    fc1 = this->register_module(
        "fc1",
        std::make_shared<Linear<T>>(input, hidden, LinearOptions{.weight = Init::lecun_normal()}, generator));
    fc2 = this->register_module(
        "fc2",
        std::make_shared<Linear<T>>(hidden, classes, LinearOptions{.weight = Init::lecun_normal()}, generator));
  }
  Tensor<T> forward(const Tensor<T>& input) override { return fc2->forward(relu(fc1->forward(input))); }

  std::shared_ptr<Linear<T>> fc1;
  std::shared_ptr<Linear<T>> fc2;
};

// A module with a parameter of its own registered before and after a submodule.
class Mixed : public Module<double> {
 public:
  explicit Mixed(Generator& generator) {
    register_parameter("scale", Tensor<double>::ones(2, 1));
    register_module("inner", std::make_shared<Linear<double>>(3, 2, LinearOptions{}, generator));
    register_parameter("shift", Tensor<double>::zeros(2, 1));
  }
  Tensor<double> forward(const Tensor<double>& input) override { return input; }
};

struct Statistics {
  double mean = 0;
  double stddev = 0;
  double min = 0;
  double max = 0;
};

Statistics statistics_of(const Matrix<double>& values) {
  Statistics out;
  const double n = static_cast<double>(values.size());
  out.mean = values.sum() / n;
  out.stddev = std::sqrt((values.array() - out.mean).square().sum() / (n - 1));
  out.min = values.minCoeff();
  out.max = values.maxCoeff();
  return out;
}

Matrix<double> sampled(const Init& init, Index rows, Index cols, std::uint64_t seed) {
  Generator generator(seed);
  Tensor<double> tensor = Tensor<double>::zeros(rows, cols);
  init.apply(tensor, generator);
  return tensor.value();
}

// The fourth-order central difference of loss() with respect to every entry of `parameter`, perturbing the
// module's own parameter in place: the module is what is checked, not a copy of its formula.
Matrix<double> numerical_gradient(const Tensor<double>& parameter, const std::function<double()>& loss,
                                  double step = 1e-4) {
  NoGradGuard no_grad;
  Matrix<double>& value = parameter.mutable_value();
  Matrix<double> gradient(value.rows(), value.cols());
  for (Index i = 0; i < value.size(); ++i) {
    const double original = value.data()[i];
    auto at = [&](double offset) {
      value.data()[i] = original + offset;
      return loss();
    };
    gradient.data()[i] = (-at(2 * step) + 8 * at(step) - 8 * at(-step) + at(-2 * step)) / (12 * step);
    value.data()[i] = original;
  }
  return gradient;
}

std::vector<int> random_labels(Index count, int classes, Generator& generator) {
  std::vector<int> labels(static_cast<std::size_t>(count));
  for (auto& label : labels) label = static_cast<int>(generator.below(static_cast<std::uint64_t>(classes)));
  return labels;
}

}  // namespace

TEST_CASE("named_parameters of nested modules: dotted names in registration order", "[nn][module]") {
  Generator generator(1);
  auto inner = std::make_shared<Sequential<double>>();
  inner->emplace_back<Linear<double>>(4, 2, LinearOptions{}, generator);
  inner->emplace_back<Sigmoid<double>>();
  auto first = std::make_shared<Linear<double>>(3, 4, LinearOptions{}, generator);
  Sequential<double> net{first, std::make_shared<ReLU<double>>(), inner};

  const auto named = net.named_parameters();
  CHECK(names_of(named) == std::vector<std::string>{"0.weight", "0.bias", "2.0.weight", "2.0.bias"});
  // The names lead to the very tensors the layers compute with, not to copies.
  REQUIRE(named.size() == 4);
  CHECK(named[0].tensor.same_as(first->weight()));
  CHECK(named[1].tensor.same_as(first->bias()));
  CHECK(named[2].tensor.same_as(std::static_pointer_cast<Linear<double>>(inner->at(0))->weight()));
  CHECK(net.parameter("2.0.bias").same_as(named[3].tensor));
  CHECK(net.parameters().size() == 4);
  for (const auto& parameter : named) CHECK(parameter.tensor.requires_grad());

  // Own parameters first, then submodules, each in registration order; the same order on every call.
  Mixed mixed(generator);
  CHECK(names_of(mixed.named_parameters()) ==
        std::vector<std::string>{"scale", "shift", "inner.weight", "inner.bias"});
  CHECK(names_of(mixed.named_parameters()) == names_of(mixed.named_parameters()));

  TwoLayerNet<double> two_layer(5, 3, 2, generator);
  CHECK(names_of(two_layer.named_parameters()) ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK_THROWS_WITH(two_layer.parameter("fc3.weight"),
                    Catch::Contains("fc3.weight") && Catch::Contains("fc1.bias"));
}

TEST_CASE("registering an empty, duplicate, dotted or cyclic name is an Error", "[nn][module]") {
  Generator generator(2);
  Sequential<double> net;
  net.emplace_back<ReLU<double>>();
  CHECK_THROWS_AS(net.register_parameter("", Tensor<double>::zeros(1, 1)), Error);
  CHECK_THROWS_WITH(net.register_parameter("0", Tensor<double>::zeros(1, 1)), Catch::Contains("'0'"));
  CHECK_THROWS_WITH(net.register_parameter("a.b", Tensor<double>::zeros(1, 1)), Catch::Contains("'.'"));
  net.register_parameter("extra", Tensor<double>::zeros(1, 1));
  CHECK_THROWS_WITH(net.register_parameter("extra", Tensor<double>::zeros(1, 1)),
                    Catch::Contains("already taken"));
  CHECK_THROWS_AS(net.register_module("extra", std::make_shared<ReLU<double>>()), Error);
  CHECK_THROWS_AS(net.register_module("", std::make_shared<ReLU<double>>()), Error);
  CHECK_THROWS_AS(net.register_module("none", std::shared_ptr<ReLU<double>>()), Error);

  // A recorded result cannot be a parameter.
  Tensor<double> leaf = Tensor<double>::ones(2, 2, true);
  CHECK_THROWS_WITH(net.register_parameter("product", leaf * leaf), Catch::Contains("leaf"));

  auto outer = std::make_shared<Sequential<double>>();
  auto middle = outer->push_back(std::make_shared<Sequential<double>>());
  CHECK_THROWS_WITH(middle->register_module("loop", outer), Catch::Contains("cycle"));
  CHECK_THROWS_WITH(outer->register_module("self", outer), Catch::Contains("cycle"));
  CHECK(outer->size() == 1);
  CHECK_THROWS_AS(outer->at(1), Error);
}

TEST_CASE("Linear forward is W X + b, recorded as one fused node", "[nn][linear]") {
  Generator generator(3);
  Linear<double> layer(5, 4, {.weight = Init::normal(0.5), .bias = Init::normal(0.5)}, generator);
  CHECK(layer.weight().rows() == 4);
  CHECK(layer.weight().cols() == 5);
  CHECK(layer.bias().rows() == 4);
  CHECK(layer.bias().cols() == 1);
  CHECK(layer.in_features() == 5);
  CHECK(layer.out_features() == 4);
  // The bias is drawn too, so the check below covers its column being added.
  CHECK(layer.bias().value().cwiseAbs().maxCoeff() > 0);

  const Tensor<double> input = Tensor<double>::normal(5, 7, generator);
  const Tensor<double> output = layer(input);
  Matrix<double> expected = layer.weight().value() * input.value();
  for (Index j = 0; j < expected.cols(); ++j) expected.col(j) += layer.bias().value().col(0);
  REQUIRE(output.rows() == 4);
  REQUIRE(output.cols() == 7);
  CHECK((output.value() - expected).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(std::string(output.op_name()) == "linear");

  CHECK_THROWS_WITH(layer(Tensor<double>::zeros(6, 2)),
                    Catch::Contains("Linear(5 -> 4)") && Catch::Contains("(6 x 2)"));
  CHECK_THROWS_AS(Linear<double>(0, 3, {}, generator), Error);
  CHECK_THROWS_WITH(Linear<double>(3, 3, {.bias = Init::he_normal()}, generator), Catch::Contains("bias"));

  // The same seed gives the same layer; float layers draw the same numbers rounded.
  Generator again(3);
  Linear<double> twin(5, 4, {.weight = Init::normal(0.5), .bias = Init::normal(0.5)}, again);
  CHECK(twin.weight().value() == layer.weight().value());
  CHECK(twin.bias().value() == layer.bias().value());
  Generator as_float(3);
  Linear<float> single(5, 4, {.weight = Init::normal(0.5), .bias = Init::normal(0.5)}, as_float);
  CHECK(single.weight().value() == layer.weight().value().cast<float>());
}

TEST_CASE("activation modules and Sequential compute what the ops compute", "[nn][sequential]") {
  Generator generator(4);
  const Tensor<double> input = Tensor<double>::normal(3, 6, generator);
  CHECK(ReLU<double>()(input).value() == relu(input).value());
  CHECK(Sigmoid<double>()(input).value() == sigmoid(input).value());
  CHECK(Tanh<double>()(input).value() == tapegrad::tanh(input).value());
  CHECK(ReLU<double>()(input).value().minCoeff() == 0.0);
  CHECK(LeakyReLU<double>()(input).value() == leaky_relu(input).value());
  CHECK(LeakyReLU<double>(0.2)(input).value() == leaky_relu(input, 0.2).value());
  CHECK(LeakyReLU<double>(0.2)(input).value() != LeakyReLU<double>()(input).value());
  CHECK(LeakyReLU<float>(0.2).type_name() == "LeakyReLU(0.2)");
  CHECK_THROWS_WITH(LeakyReLU<float>(std::nan("")), Catch::Contains("LeakyReLU: the slope must be finite"));

  Sequential<double> net;
  auto first = net.emplace_back<Linear<double>>(3, 5, LinearOptions{.bias = Init::normal(1.0)}, generator);
  net.emplace_back<Tanh<double>>();
  auto second = net.emplace_back<Linear<double>>(5, 2, LinearOptions{}, generator);
  const Matrix<double> expected = second->forward(tapegrad::tanh(first->forward(input))).value();
  CHECK(net(input).value() == expected);
  CHECK(net.size() == 3);
  CHECK(net.at(1).get() != nullptr);

  Sequential<double> empty;
  CHECK(empty(input).value() == input.value());
}

TEST_CASE("Sequential's layers may have names of their own, which their parameters carry", "[nn][sequential]") {
  Generator generator(6);
  const Tensor<double> input = Tensor<double>::normal(3, 4, generator);
  Sequential<double> net;
  auto fc1 = net.push_back("fc1", std::make_shared<Linear<double>>(3, 5, LinearOptions{}, generator));
  net.push_back("relu", std::make_shared<ReLU<double>>());
  auto fc2 = net.push_back("fc2", std::make_shared<Linear<double>>(5, 2, LinearOptions{}, generator));
  net.emplace_back<Tanh<double>>();  // an unnamed layer keeps its index as its name
  std::vector<std::string> names;
  for (const auto& p : net.named_parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(net.children().back().name == "3");
  CHECK(net(input).value() == tapegrad::tanh(fc2->forward(relu(fc1->forward(input)))).value());
  CHECK_THROWS_WITH(net.push_back("fc1", std::make_shared<ReLU<double>>()), Catch::Contains("fc1"));
}

TEST_CASE("tape gradients of every parameter of a small net match finite differences", "[nn][gradient]") {
  Generator generator(5);
  const Index features = 6;
  const Index batch = 9;
  const int classes = 4;
  TwoLayerNet<double> net(features, 5, classes, generator);
  // Non-zero biases, so that the bias gradients carry information.
  init_normal(net.fc1->bias(), generator, 0.3);
  init_normal(net.fc2->bias(), generator, 0.3);
  const Tensor<double> input = Tensor<double>::normal(features, batch, generator);
  const std::vector<int> labels = random_labels(batch, classes, generator);
  const CrossEntropyLoss<double> loss;
  const double lambda = 0.05;
  auto cost = [&]() { return add(loss(net(input), labels), l2_penalty(net, lambda)); };

  net.zero_grad();
  cost().backward();
  const auto parameters = net.named_parameters();
  REQUIRE(parameters.size() == 4);
  for (const auto& parameter : parameters) {
    INFO(parameter.name);
    const Matrix<double> analytic = parameter.tensor.grad();
    const Matrix<double> numerical = numerical_gradient(parameter.tensor, [&] { return cost().item(); });
    CHECK(analytic.cwiseAbs().maxCoeff() > 1e-3);
    CHECK(max_relative_error(analytic, numerical) <= 1e-6);
  }

  // gradcheck over the same layers' values: the module's graph is the fused ops' graph, node for node.
  std::vector<Tensor<double>> values;
  for (const auto& parameter : parameters) values.push_back(parameter.tensor.detach());
  const auto result = gradcheck(
      [&](const std::vector<Tensor<double>>& p) {
        const Tensor<double> hidden = relu(linear(p[0], input, p[1]));
        const Tensor<double> penalty = mul_scalar(add(sum_of_squares(p[0]), sum_of_squares(p[2])), lambda);
        return add(cross_entropy_with_logits(linear(p[2], hidden, p[3]), std::span<const int>(labels)), penalty);
      },
      values);
  INFO(result.report(names_of(parameters)));
  CHECK(result.worst() <= 1e-6);
  for (std::size_t i = 0; i < parameters.size(); ++i) CHECK(result.max_abs_analytic[i] > 1e-3);
}

TEST_CASE("a sigmoid network with the multiple binary cross-entropy loss has correct gradients",
          "[nn][gradient]") {
  Generator generator(6);
  Sequential<double> net;
  net.emplace_back<Linear<double>>(4, 3, LinearOptions{.weight = Init::xavier_normal(), .bias = Init::normal(0.2)},
                                   generator);
  net.emplace_back<Sigmoid<double>>();
  net.emplace_back<Linear<double>>(3, 3, LinearOptions{.weight = Init::he_uniform(), .bias = Init::uniform(-1, 1)},
                                   generator);
  const Tensor<double> input = Tensor<double>::normal(4, 5, generator);
  Tensor<double> targets = Tensor<double>::zeros(3, 5);
  for (Index j = 0; j < 5; ++j) targets.mutable_value()(static_cast<Index>(generator.below(3)), j) = 1.0;
  const MultiBinaryCrossEntropyLoss<double> loss;
  auto cost = [&]() { return loss(net(input), targets); };

  cost().backward();
  for (const auto& parameter : net.named_parameters()) {
    INFO(parameter.name);
    const Matrix<double> numerical = numerical_gradient(parameter.tensor, [&] { return cost().item(); });
    CHECK(parameter.tensor.grad().cwiseAbs().maxCoeff() > 1e-4);
    CHECK(max_relative_error(parameter.tensor.grad(), numerical) <= 1e-6);
  }
}

TEST_CASE("two backward passes add their gradients, and zero_grad clears them", "[nn][gradient]") {
  Generator generator(7);
  TwoLayerNet<float> net(4, 6, 3, generator);
  const Tensor<float> input = Tensor<float>::normal(4, 8, generator);
  const std::vector<int> labels = random_labels(8, 3, generator);
  const CrossEntropyLoss<float> loss;

  loss(net(input), labels).backward();
  std::vector<Matrix<float>> once;
  for (const auto& parameter : net.parameters()) once.push_back(parameter.grad());
  loss(net(input), labels).backward();
  const auto parameters = net.parameters();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    CHECK(once[i].cwiseAbs().maxCoeff() > 0);
    CHECK(parameters[i].grad() == (once[i] + once[i]).eval());
  }

  net.zero_grad();
  for (const auto& parameter : net.parameters()) CHECK(parameter.grad().cwiseAbs().maxCoeff() == 0);
  // After zero_grad, one pass gives the single-pass gradient again.
  loss(net(input), labels).backward();
  for (std::size_t i = 0; i < parameters.size(); ++i) CHECK(parameters[i].grad() == once[i]);
}

TEST_CASE("zero_grad then backward overwrites the kept storage: the single-pass gradient, no zero pass",
          "[nn][gradient]") {
  Generator generator(8);
  TwoLayerNet<double> net(4, 6, 3, generator);
  const Tensor<double> input = Tensor<double>::normal(4, 8, generator);
  const std::vector<int> labels = random_labels(8, 3, generator);
  const CrossEntropyLoss<double> loss;
  const auto parameters = net.parameters();

  loss(net(input), labels).backward();
  std::vector<Matrix<double>> once;
  std::vector<const double*> storage;
  for (const auto& parameter : parameters) {
    once.push_back(parameter.grad());
    storage.push_back(parameter.grad().data());
  }
  for (int round = 0; round < 2; ++round) {
    loss(net(input), labels).backward();  // now 2 x once in every gradient: stale values for the next pass
    net.zero_grad();                      // nothing read in between: the backward writes over the stale values
    Tensor<double> cost = loss(net(input), labels);
    if (round == 1) cost = cost + sum_of_squares(parameters[0]) * 0.5;  // a second consumer of W1 (L2 term)
    cost.backward();
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      INFO("round " << round << " parameter " << i);
      Matrix<double> expected = once[i];
      if (round == 1 && i == 0) expected += parameters[0].value();  // d(0.5 ||W1||^2) = W1
      CHECK((parameters[i].grad() - expected).cwiseAbs().maxCoeff() <= 1e-14);
      CHECK(parameters[i].grad().data() == storage[i]);
    }
  }
  // A gradient read after zero_grad is zeros; a leaf that gets no gradient in the next pass stays zero.
  net.zero_grad();
  for (const auto& parameter : parameters) CHECK(parameter.grad().cwiseAbs().maxCoeff() == 0);
  Tensor<double> leaf = Tensor<double>::full(2, 2, 1.0, true);
  sum(leaf).backward();
  sum(leaf).backward();
  leaf.zero_grad();
  sum(select_columns(leaf, std::vector<int>{1})).backward();  // a rule that adds into part of the gradient
  CHECK(leaf.grad() == (Matrix<double>(2, 2) << 0, 1, 0, 1).finished());
}

TEST_CASE("initialisers: statistics of the draws and the Xavier, He and LeCun formulas", "[nn][init]") {
  const Index rows = 200;
  const Index cols = 300;
  const double n = static_cast<double>(rows * cols);

  SECTION("normal with a given std, as the reports' N(0, 0.01^2)") {
    const Statistics s = statistics_of(sampled(Init::normal(0.01), rows, cols, 11));
    CHECK(std::abs(s.mean) < 4 * 0.01 / std::sqrt(n));
    CHECK(s.stddev == Approx(0.01).epsilon(0.015));
    const Statistics shifted = statistics_of(sampled(Init::normal(2.0, 5.0), rows, cols, 12));
    CHECK(shifted.mean == Approx(5.0).margin(4 * 2.0 / std::sqrt(n)));
    CHECK(shifted.stddev == Approx(2.0).epsilon(0.015));
  }
  SECTION("the fan-scaled schemes use fan_in = cols and fan_out = rows") {
    CHECK(xavier_normal_std(cols, rows) == Approx(std::sqrt(2.0 / (cols + rows))));
    CHECK(xavier_normal_std(cols, rows, 3.0) == Approx(3.0 * std::sqrt(2.0 / (cols + rows))));
    CHECK(xavier_uniform_bound(cols, rows) == Approx(std::sqrt(6.0 / (cols + rows))));
    CHECK(he_normal_std(cols) == Approx(std::sqrt(2.0 / cols)));
    CHECK(he_uniform_bound(cols) == Approx(std::sqrt(6.0 / cols)));
    CHECK(lecun_normal_std(cols) == Approx(1.0 / std::sqrt(static_cast<double>(cols))));
    CHECK_THROWS_AS(he_normal_std(0), Error);

    const Statistics xavier = statistics_of(sampled(Init::xavier_normal(), rows, cols, 13));
    CHECK(std::abs(xavier.mean) < 4 * xavier_normal_std(cols, rows) / std::sqrt(n));
    CHECK(xavier.stddev == Approx(xavier_normal_std(cols, rows)).epsilon(0.015));
    const Statistics he = statistics_of(sampled(Init::he_normal(), rows, cols, 14));
    CHECK(he.stddev == Approx(he_normal_std(cols)).epsilon(0.015));
    const Statistics lecun = statistics_of(sampled(Init::lecun_normal(), rows, cols, 15));
    CHECK(lecun.stddev == Approx(lecun_normal_std(cols)).epsilon(0.015));
    // A transposed shape swaps the fans: He changes, Xavier (symmetric in the fans) does not.
    CHECK(statistics_of(sampled(Init::he_normal(), cols, rows, 16)).stddev ==
          Approx(he_normal_std(rows)).epsilon(0.015));
  }
  SECTION("uniform schemes stay inside their bounds with the matching variance") {
    const double bound = xavier_uniform_bound(cols, rows);
    const Statistics xavier = statistics_of(sampled(Init::xavier_uniform(), rows, cols, 17));
    CHECK(xavier.min >= -bound);
    CHECK(xavier.max <= bound);
    CHECK(xavier.max > 0.99 * bound);
    CHECK(xavier.stddev == Approx(bound / std::sqrt(3.0)).epsilon(0.015));
    const Statistics he = statistics_of(sampled(Init::he_uniform(), rows, cols, 18));
    CHECK(he.stddev == Approx(he_uniform_bound(cols) / std::sqrt(3.0)).epsilon(0.015));
    const Statistics plain = statistics_of(sampled(Init::uniform(-1.0, 3.0), rows, cols, 19));
    CHECK(plain.min >= -1.0);
    CHECK(plain.max < 3.0);
    CHECK(plain.mean == Approx(1.0).margin(0.02));
  }
  SECTION("zeros and constants; bad arguments fail when the scheme is made") {
    CHECK(sampled(Init::zeros(), 3, 4, 20).cwiseAbs().maxCoeff() == 0.0);
    CHECK((sampled(Init::constant(0.25), 3, 4, 21).array() == 0.25).all());
    CHECK_THROWS_AS(Init::normal(-0.01), Error);
    CHECK_THROWS_AS(Init::normal(std::nan("")), Error);
    CHECK_THROWS_AS(Init::uniform(1.0, -1.0), Error);
    CHECK_THROWS_AS(Init::xavier_normal(0.0), Error);
  }
  SECTION("the same seed gives the same draws, another seed others") {
    CHECK(sampled(Init::he_normal(), 20, 30, 22) == sampled(Init::he_normal(), 20, 30, 22));
    CHECK(sampled(Init::he_normal(), 20, 30, 22) != sampled(Init::he_normal(), 20, 30, 23));
  }
  SECTION("the reports' layers: softmax regression and the two-layer network") {
    Generator generator(24);
    Linear<double> softmax_layer(cols, rows, {.weight = Init::normal(0.01), .bias = Init::normal(0.01)},
                                 generator);
    CHECK(statistics_of(softmax_layer.weight().value()).stddev == Approx(0.01).epsilon(0.015));
    Linear<double> hidden(cols, rows, {.weight = Init::lecun_normal()}, generator);
    CHECK(statistics_of(hidden.weight().value()).stddev == Approx(1.0 / std::sqrt(double(cols))).epsilon(0.015));
    CHECK(hidden.bias().value().cwiseAbs().maxCoeff() == 0.0);
  }
}

TEST_CASE("train() and eval() reach every descendant", "[nn][module]") {
  Generator generator(30);
  auto inner = std::make_shared<Sequential<double>>();
  auto leaf = inner->emplace_back<ReLU<double>>();
  Sequential<double> net;
  auto layer = net.emplace_back<Linear<double>>(2, 2, LinearOptions{}, generator);
  net.push_back(inner);
  CHECK(net.is_training());
  CHECK(leaf->is_training());

  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(layer->is_training());
  CHECK_FALSE(inner->is_training());
  CHECK_FALSE(leaf->is_training());

  inner->train();  // a subtree only
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(layer->is_training());
  CHECK(inner->is_training());
  CHECK(leaf->is_training());

  net.train();
  CHECK(layer->is_training());
  net.train(false);
  CHECK_FALSE(leaf->is_training());
}

TEST_CASE("l2_penalty is lambda times the squared weights, without the biases", "[nn][loss]") {
  Generator generator(40);
  TwoLayerNet<double> net(5, 4, 3, generator);
  init_normal(net.fc1->bias(), generator, 1.0);
  init_normal(net.fc2->bias(), generator, 1.0);
  const double lambda = 0.3;
  const Matrix<double>& w1 = net.fc1->weight().value();
  const Matrix<double>& w2 = net.fc2->weight().value();
  const double weights_only = lambda * (w1.array().square().sum() + w2.array().square().sum());
  const double biases =
      lambda * (net.fc1->bias().value().array().square().sum() + net.fc2->bias().value().array().square().sum());
  REQUIRE(biases > 0);

  const Tensor<double> penalty = l2_penalty(net, lambda);
  CHECK(penalty.item() == Approx(weights_only).epsilon(1e-14));
  CHECK(l2_penalty(net, lambda, PenaltySelection::all).item() == Approx(weights_only + biases).epsilon(1e-14));
  CHECK(l2_penalty(net.named_parameters(), lambda).item() == Approx(weights_only).epsilon(1e-14));
  CHECK(l2_penalty(std::vector<Tensor<double>>{net.fc1->weight()}, lambda).item() ==
        Approx(lambda * w1.array().square().sum()).epsilon(1e-14));

  // d/dW lambda ||W||^2 = 2 lambda W, and nothing reaches the biases.
  penalty.backward();
  CHECK((net.fc1->weight().grad() - 2 * lambda * w1).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((net.fc2->weight().grad() - 2 * lambda * w2).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(net.fc1->bias().grad().cwiseAbs().maxCoeff() == 0.0);
  CHECK(net.fc2->bias().grad().cwiseAbs().maxCoeff() == 0.0);

  CHECK(l2_penalty(net, 0.0).item() == 0.0);
  CHECK_THROWS_AS(l2_penalty(net, -1.0), Error);
  CHECK_THROWS_AS(l2_penalty(net, std::nan("")), Error);

  CHECK(is_weight_name("weight"));
  CHECK(is_weight_name("fc1.weight"));
  CHECK(is_weight_name("0.weight"));
  CHECK_FALSE(is_weight_name("fc1.bias"));
  CHECK_FALSE(is_weight_name("myweight"));
  CHECK_FALSE(is_weight_name("fc1.weights"));
  CHECK_FALSE(is_weight_name(".weight"));
}

TEST_CASE("loss modules give the fused ops' values", "[nn][loss]") {
  Generator generator(50);
  const Tensor<double> scores = Tensor<double>::normal(4, 6, generator, 0.0, 3.0);
  const std::vector<int> labels = random_labels(6, 4, generator);
  Tensor<double> one_hot = Tensor<double>::zeros(4, 6);
  for (Index j = 0; j < 6; ++j) one_hot.mutable_value()(labels[static_cast<std::size_t>(j)], j) = 1.0;

  // Direct from the definition: mean of log-sum-exp minus the label's score.
  double expected = 0;
  for (Index j = 0; j < 6; ++j) {
    expected += std::log(scores.value().col(j).array().exp().sum()) - scores.value()(labels[std::size_t(j)], j);
  }
  expected /= 6;
  const CrossEntropyLoss<double> cross_entropy;
  CHECK(cross_entropy(scores, labels).item() == Approx(expected).epsilon(1e-12));
  CHECK(cross_entropy(scores, one_hot).item() == Approx(expected).epsilon(1e-12));

  double binary = 0;
  for (Index j = 0; j < 6; ++j) {
    for (Index k = 0; k < 4; ++k) {
      const double p = 1.0 / (1.0 + std::exp(-scores.value()(k, j)));
      const double y = one_hot.value()(k, j);
      binary -= (1 - y) * std::log(1 - p) + y * std::log(p);
    }
  }
  binary /= 4.0 * 6.0;
  CHECK(MultiBinaryCrossEntropyLoss<double>()(scores, one_hot).item() == Approx(binary).epsilon(1e-12));
  // From the labels: their one-hot targets, and for a single row the 0/1 labels themselves.
  CHECK(MultiBinaryCrossEntropyLoss<double>()(scores, labels).item() == binary);
  const Tensor<double> row = Tensor<double>::from(scores.value().topRows(1));
  const std::vector<int> zero_one = {1, 0, 0, 1, 1, 0};
  Matrix<double> as_row(1, 6);
  for (Index j = 0; j < 6; ++j) as_row(0, j) = zero_one[std::size_t(j)];
  CHECK(MultiBinaryCrossEntropyLoss<double>()(row, zero_one).item() ==
        MultiBinaryCrossEntropyLoss<double>()(row, Tensor<double>::from(as_row)).item());
  const std::vector<int> two = {1, 0, 2, 1, 1, 0};
  CHECK_THROWS_WITH(MultiBinaryCrossEntropyLoss<double>()(row, two), Catch::Contains("label 2 at position 2"));
}

TEST_CASE("predict takes the argmax of each column and accuracy counts the matches", "[nn][evaluation]") {
  Generator generator(60);
  Matrix<double> scores = Tensor<double>::uniform(5, 40, generator, -1.0, 1.0).value();
  // Plant the winner of each column at a known row.
  std::vector<int> planted(40);
  for (Index j = 0; j < 40; ++j) {
    planted[std::size_t(j)] = static_cast<int>(generator.below(5));
    scores(planted[std::size_t(j)], j) = 2.0 + static_cast<double>(j);
  }
  CHECK(predict(scores) == planted);
  CHECK(predict(Tensor<double>(scores)) == planted);
  CHECK(predict<float>(scores.cast<float>()) == planted);

  std::vector<int> labels = planted;
  CHECK(accuracy(scores, labels) == 1.0);
  int changed = 0;
  for (std::size_t i = 0; i < labels.size(); i += 3, ++changed) labels[i] = (labels[i] + 1) % 5;
  CHECK(accuracy(scores, labels) == Approx(1.0 - changed / 40.0));
  CHECK(accuracy(Tensor<double>(scores), labels) == Approx(1.0 - changed / 40.0));

  // Ties go to the first row.
  Matrix<double> tied = Matrix<double>::Zero(3, 2);
  tied(1, 0) = 1.0;
  tied(2, 0) = 1.0;
  CHECK(predict(tied) == std::vector<int>{1, 0});

  CHECK_THROWS_AS(accuracy(scores, std::vector<int>(39, 0)), Error);
  labels[0] = 5;
  CHECK_THROWS_WITH(accuracy(scores, labels), Catch::Contains("label 5"));
  CHECK_THROWS_AS(accuracy(Matrix<double>(5, 0), std::vector<int>{}), Error);
}

TEST_CASE("l2_penalty of a module leaves BatchNorm's gamma (its 'weight') out, as the reports do", "[nn][loss]") {
  Generator generator(41);
  Sequential<double> net;
  auto linear = net.emplace_back<Linear<double>>(4, 3, LinearOptions{Init::he_normal(), Init::zeros()}, generator);
  auto norm = net.emplace_back<BatchNorm<double>>(3);
  norm->gamma().mutable_value() = Matrix<double>::Constant(3, 1, 2.0);  // a gamma that would count if selected
  const double lambda = 0.5;
  const double w = lambda * linear->weight().value().array().square().sum();
  CHECK(l2_penalty(net, lambda).item() == Approx(w).epsilon(1e-14));
  // By name alone (a list of named parameters), gamma is "1.weight" and counts: the module form is the one to use.
  CHECK(l2_penalty(net.named_parameters(), lambda).item() == Approx(w + lambda * 12.0).epsilon(1e-14));
  CHECK(l2_penalty(net, lambda, PenaltySelection::all).item() ==
        Approx(w + lambda * (12.0 + norm->beta().value().squaredNorm() + linear->bias().value().squaredNorm()))
            .epsilon(1e-14));
}
