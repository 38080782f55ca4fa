// Module state: buffers, named_modules, apply, state_dict / load_state_dict and summary.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/nn/nn.h>
#include <tapegrad/ops/ops.h>

#include "tests/support/test_data.h"

using namespace tapegrad;
using namespace tapegrad::nn;
using tapegrad::testing::error_message;

namespace {

// A layer with a parameter and a buffer of its own, inside a block, inside a model: three levels of names.
class Scaled : public Module<double> {
 public:
  Scaled() {
    scale = register_parameter("scale", Tensor<double>::full(2, 1, 3.0));
    count = register_buffer("count", Tensor<double>::zeros(1, 1));
  }
  Tensor<double> forward(const Tensor<double>& input) override {
    count.mutable_value()(0, 0) += 1;
    return mul(input, scale);
  }
  Tensor<double> scale;
  Tensor<double> count;
};

class Block : public Module<double> {
 public:
  explicit Block(Generator& generator) {
    fc = register_module("fc", std::make_shared<Linear<double>>(3, 2, LinearOptions{}, generator));
    scaled = register_module("scaled", std::make_shared<Scaled>());
  }
  // Calls its layers through operator(), as a container should, so that summary() sees their outputs.
  Tensor<double> forward(const Tensor<double>& input) override { return (*scaled)((*fc)(input)); }
  std::shared_ptr<Linear<double>> fc;
  std::shared_ptr<Scaled> scaled;
};

class Model : public Module<double> {
 public:
  explicit Model(Generator& generator) {
    register_buffer("step", Tensor<double>::zeros(1, 1));
    block = register_module("block", std::make_shared<Block>(generator));
    head = register_module("head", std::make_shared<Linear<double>>(2, 4, LinearOptions{}, generator));
  }
  Tensor<double> forward(const Tensor<double>& input) override { return (*head)((*block)(input)); }
  std::shared_ptr<Block> block;
  std::shared_ptr<Linear<double>> head;
};

std::vector<std::string> names_of(const std::vector<NamedParameter<double>>& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.name);
  return names;
}

}  // namespace

TEST_CASE("named_buffers and named_modules give recursive dotted names in registration order", "[nn][state]") {
  Generator generator(1);
  Model model(generator);
  CHECK(names_of(model.named_buffers()) == std::vector<std::string>{"step", "block.scaled.count"});
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"block.fc.weight", "block.fc.bias", "block.scaled.scale", "head.weight", "head.bias"});
  std::vector<std::string> modules;
  for (const auto& named : model.named_modules()) modules.push_back(named.name);
  CHECK(modules == std::vector<std::string>{"block", "block.fc", "block.scaled", "head"});
  CHECK(model.named_modules()[2].module.get() == model.block->scaled.get());
  CHECK(model.buffers().size() == 2);
  // Buffers are not trained.
  for (const auto& buffer : model.buffers()) CHECK_FALSE(buffer.requires_grad());
}

TEST_CASE("register_buffer refuses taken names, results of ops and tensors that require a gradient", "[nn][state]") {
  Scaled layer;
  CHECK_THAT(error_message([&] { layer.register_buffer("scale", Tensor<double>::zeros(1, 1)); }),
             Catch::Contains("already taken by a parameter"));
  CHECK_THAT(error_message([&] { layer.register_parameter("count", Tensor<double>::zeros(1, 1)); }),
             Catch::Contains("already taken by a buffer"));
  CHECK_THAT(error_message([&] { layer.register_buffer("trained", Tensor<double>::zeros(1, 1, true)); }),
             Catch::Contains("requires a gradient"));
  const Tensor<double> leaf = Tensor<double>::ones(2, 2, true);
  CHECK_THAT(error_message([&] { layer.register_buffer("made", leaf + leaf); }),
             Catch::Contains("result of an op"));
  CHECK_THAT(error_message([&] { layer.register_buffer("a.b", Tensor<double>::zeros(1, 1)); }),
             Catch::Contains("contains '.'"));
}

TEST_CASE("apply visits every module, children before their parents, the root last", "[nn][state]") {
  Generator generator(2);
  Model model(generator);
  std::vector<std::string> visited;
  model.apply([&](Module<double>& module) { visited.push_back(module.type_name()); });
  CHECK(visited == std::vector<std::string>{"Linear", "Scaled", "Block", "Linear", "Model"});
  // apply can change state: zero every parameter.
  model.apply([](Module<double>& module) {
    for (const auto& parameter : module.own_parameters()) parameter.tensor.mutable_value().setZero();
  });
  for (const auto& parameter : model.parameters()) CHECK(parameter.value().isZero());
}

TEST_CASE("state_dict holds parameters then buffers per module, by dotted name, as a copy", "[nn][state]") {
  Generator generator(3);
  Model model(generator);
  const StateDict<double> state = model.state_dict();
  CHECK(state.names() == std::vector<std::string>{"step", "block.fc.weight", "block.fc.bias", "block.scaled.scale",
                                                  "block.scaled.count", "head.weight", "head.bias"});
  CHECK(state.at("head.weight") == model.head->weight().value());
  CHECK(state.at("block.scaled.scale") == Matrix<double>::Constant(2, 1, 3.0));
  // A snapshot: changing the model afterwards leaves it alone.
  model.head->weight().mutable_value().setConstant(7);
  CHECK(state.at("head.weight") != model.head->weight().value());
  CHECK_THAT(error_message([&] { state.at("nope"); }), Catch::Contains("block.fc.weight"));
}

TEST_CASE("load_state_dict copies every value into a fresh model, which then computes the same", "[nn][state]") {
  Generator first(4);
  Generator second(5);
  Model trained(first);
  Model fresh(second);
  trained.forward(Tensor<double>::ones(3, 2));  // the buffer count becomes 1
  const Tensor<double> input = Tensor<double>::normal(3, 5, first);
  REQUIRE(fresh.forward(input).value() != trained.forward(input).value());
  const LoadStateResult result = fresh.load_state_dict(trained.state_dict());
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  CHECK(fresh.state_dict() == trained.state_dict());
  CHECK(fresh.forward(input).value() == trained.forward(input).value());
  // The handles are kept: the layers' tensors are the same objects, with the new values.
  CHECK(fresh.head->weight().same_as(fresh.parameter("head.weight")));
}

TEST_CASE("load_state_dict names every missing, unexpected and mis-shaped key at once, and changes nothing",
          "[nn][state]") {
  Generator generator(6);
  Model model(generator);
  const StateDict<double> before = model.state_dict();
  StateDict<double> dict;
  for (const auto& entry : before) {
    if (entry.name == "block.fc.bias" || entry.name == "step") continue;  // missing
    if (entry.name == "head.weight") {
      dict.insert(entry.name, Matrix<double>::Zero(4, 3));  // mis-shaped: the model's is 4 x 2
      continue;
    }
    dict.insert(entry.name, entry.value * 2.0);
  }
  dict.insert("head.extra", Matrix<double>::Zero(1, 1));  // unexpected
  dict.insert("tail.weight", Matrix<double>::Zero(1, 1));  // unexpected

  const std::string message = error_message([&] { model.load_state_dict(dict); });
  CHECK_THAT(message, Catch::Contains("'head.weight' is (4 x 3) in the dict but (4 x 2) in the module"));
  CHECK_THAT(message, Catch::Contains("missing (in the module, not in the dict): 'step', 'block.fc.bias'"));
  CHECK_THAT(message, Catch::Contains("unexpected (in the dict, not in the module): 'head.extra', 'tail.weight'"));
  CHECK(model.state_dict() == before);

  // Not strict: a wrong shape is still an Error ...
  CHECK_THAT(error_message([&] { model.load_state_dict(dict, false); }), Catch::Contains("'head.weight' is (4 x 3)"));
  CHECK(model.state_dict() == before);
  // ... but without it the keys on both sides load and the others are reported.
  StateDict<double> partial;
  partial.insert("head.bias", Matrix<double>::Constant(4, 1, 9.0));
  partial.insert("other", Matrix<double>::Zero(2, 2));
  const LoadStateResult result = model.load_state_dict(partial, false);
  CHECK(model.head->bias().value() == Matrix<double>::Constant(4, 1, 9.0));
  CHECK(result.unexpected_keys == std::vector<std::string>{"other"});
  CHECK(result.missing_keys.size() == before.size() - 1);
  CHECK(model.head->weight().value() == before.at("head.weight"));
}

TEST_CASE("StateDict refuses a duplicate name and compares bit for bit", "[nn][state]") {
  StateDict<float> a;
  a.insert("x", Matrix<float>::Zero(2, 1));
  CHECK_THAT(error_message([&] { a.insert("x", Matrix<float>::Zero(1, 1)); }), Catch::Contains("already present"));
  StateDict<float> b;
  b.insert("x", Matrix<float>::Zero(2, 1));
  CHECK(a == b);
  b = StateDict<float>{};
  b.insert("x", Matrix<float>::Constant(2, 1, -0.0f));  // equal as numbers, not as bits
  CHECK_FALSE(a == b);
  StateDict<float> c;
  c.insert("y", Matrix<float>::Zero(1, 1));
  a.merge(c);
  CHECK(a.names() == std::vector<std::string>{"x", "y"});
  CHECK_THROWS_AS(a.merge(c), Error);
  CHECK(a.size() == 2);
}

TEST_CASE("summary lists every module with its output shape and parameter count, and a total", "[nn][state]") {
  Generator generator(7);
  Sequential<float> model;
  model.emplace_back<Linear<float>>(3072, 50, LinearOptions{}, generator);
  model.emplace_back<BatchNorm<float>>(50);
  model.emplace_back<ReLU<float>>();
  model.emplace_back<Dropout<float>>(0.25, generator);
  model.emplace_back<Linear<float>>(50, 10, LinearOptions{}, generator);
  const std::string without_input = model.summary();
  INFO(without_input);
  CHECK_THAT(without_input, Catch::Contains("Linear"));
  CHECK_THAT(without_input, Catch::Contains("153,650"));  // 3072 * 50 + 50
  CHECK_THAT(without_input, Catch::Contains("Dropout(p=0.25)"));
  CHECK_THAT(without_input, Catch::Contains("BatchNorm(50)"));
  // 153,650 + 100 (gamma, beta) + 510; buffers 50 + 50 + 1.
  CHECK_THAT(without_input, Catch::Contains("total: 154,260 parameters in 6 tensors; 101 buffer values in 3 buffers"));

  const StateDict<float> before = model.state_dict();
  const std::string with_input = model.summary(3072, 8);
  INFO(with_input);
  CHECK_THAT(with_input, Catch::Contains("(50 x 8)"));
  CHECK_THAT(with_input, Catch::Contains("(10 x 8)"));
  // The pass ran in evaluation mode: the running statistics are as they were, and the mode is restored.
  CHECK(model.state_dict() == before);
  CHECK(model.is_training());
  CHECK(model.at(1)->is_training());
  model.eval();
  model.summary(3072, 2);
  CHECK_FALSE(model.at(3)->is_training());

  // A wrong example shape is the layer's Error, and the modes are restored after it too.
  model.train();
  CHECK_THAT(error_message([&] { model.summary(10, 2); }), Catch::Contains("Linear(3072 -> 50)"));
  CHECK(model.at(1)->is_training());
  CHECK_THROWS_AS(model.summary(0, 2), Error);
}

TEST_CASE("summary of a hand-written module shows the layers it calls through operator()", "[nn][state]") {
  Generator generator(8);
  Model model(generator);
  const std::string table = model.summary(3, 5);
  INFO(table);
  CHECK_THAT(table, Catch::Contains("block.scaled"));
  CHECK_THAT(table, Catch::Contains("(4 x 5)"));
  CHECK_THAT(table, Catch::Contains("(2 x 5)"));
  CHECK_THAT(table, Catch::Contains("total: 22 parameters in 5 tensors; 2 buffer values in 2 buffers"));
}
