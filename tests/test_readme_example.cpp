// The README's example, built and run: a two-layer model trained with SGD and the cyclic schedule. The code
// between the example markers must appear word for word in README.md, so the two cannot drift apart.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/nn.h>
#include <tapegrad/ops/ops.h>
#include <tapegrad/optim/optim.h>

namespace {

double readme_example() {
  // example:begin
  using namespace tapegrad;
  Generator generator(7);

  // 400 points in [-1, 1]^2, one per column, labelled by the quadrant rule x * y > 0: not linearly separable.
  Tensor<float> points = Tensor<float>::uniform(2, 400, generator, -1.0f, 1.0f);
  std::vector<int> labels;
  for (Index j = 0; j < points.cols(); ++j) labels.push_back(points.value()(0, j) * points.value()(1, j) > 0);

  // The model: 2 -> 32 (ReLU) -> 2 classes.
  nn::Sequential<float> model;
  model.emplace_back<nn::Linear<float>>(2, 32, nn::LinearOptions{nn::Init::he_normal(), nn::Init::zeros()}, generator);
  model.emplace_back<nn::ReLU<float>>();
  model.emplace_back<nn::Linear<float>>(32, 2, nn::LinearOptions{nn::Init::xavier_normal(), nn::Init::zeros()}, generator);

  // SGD with the triangular cyclic learning rate: 3 cycles of 2 x 300 steps between 0.01 and 0.5.
  optim::SGD<float> sgd(model.parameters(), {.learning_rate = 0.01});
  optim::CyclicLR schedule({.eta_min = 0.01, .eta_max = 0.5, .steps_per_half_cycle = 300});
  for (long step = 0; step < 1800; ++step) {
    schedule.apply(sgd, step);
    Tensor<float> cost = cross_entropy_with_logits(model(points), labels) + nn::l2_penalty(model, 1e-4f);
    sgd.zero_grad();
    cost.backward();
    sgd.step();
  }

  // Evaluation records no graph.
  NoGradGuard no_grad;
  const double accuracy = nn::accuracy(model(points), labels);
  std::printf("training accuracy %.3f\n", accuracy);
  // example:end
  return accuracy;
}

std::string between(const std::string& text, const std::string& begin, const std::string& end) {
  const auto first = text.find(begin);
  const auto last = text.find(end, first);
  if (first == std::string::npos || last == std::string::npos) return {};
  const auto start = text.find('\n', first) + 1;
  const auto stop = text.rfind('\n', last);
  return text.substr(start, stop - start);
}

std::string without_indentation(const std::string& text) {
  std::stringstream in(text), out;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(' ');
    out << (first == std::string::npos ? "" : line.substr(first)) << "\n";
  }
  return out.str();
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST_CASE("the README example trains a two-layer model with the cyclic schedule", "[readme][example]") {
  CHECK(readme_example() > 0.95);
}

TEST_CASE("the README shows the example exactly as it is tested", "[readme][example]") {
  const std::string source = read(std::string(TAPEGRAD_SOURCE_DIR) + "/tests/test_readme_example.cpp");
  const std::string readme = read(std::string(TAPEGRAD_SOURCE_DIR) + "/README.md");
  const std::string code = without_indentation(between(source, "// example:begin", "// example:end"));
  REQUIRE(code.size() > 500);
  CHECK(without_indentation(readme).find(code) != std::string::npos);
}
