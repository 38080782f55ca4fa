// The apps' models (apps/common/classifier.h): the tape's gradients against the reference formulas for every
// model, and training through train::Loop on either path. The loop's own behaviour (early stopping, resume,
// divergence, stop requests) is tested on a user's model in test_train_loop.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "apps/common/classifier.h"
#include "apps/common/app_error.h"
#include "apps/common/experiment.h"
#include "tests/support/test_data.h"
#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>

using namespace tapegrad;
using namespace tapegrad::apps;

namespace {

// Three classes of 2x4x4 images whose mean brightness pattern differs per class, with noise: learnable, not
// trivial.
data::ImageDataset synthetic(int n, std::uint64_t seed, int classes = 3) {
  Generator g(seed);
  data::ImageDataset set;
  set.shape = {2, 4, 4};
  set.pixels.resize(set.shape.features(), n);
  for (int c = 0; c < classes; ++c) set.class_names.push_back("class" + std::to_string(c));
  for (int j = 0; j < n; ++j) {
    const int label = static_cast<int>(g.below(static_cast<std::uint64_t>(classes)));
    set.labels.push_back(label);
    for (int i = 0; i < set.shape.features(); ++i) {
      const double base = (i % classes == label) ? 170.0 : 90.0;
      set.pixels(i, j) = static_cast<std::uint8_t>(std::clamp(base + g.normal(0, 40), 0.0, 255.0));
    }
  }
  return set;
}

struct Fixture {
  data::ImageDataset train = synthetic(300, 1);
  data::ImageDataset validation = synthetic(100, 2);
  data::Normalizer normalizer = data::Normalizer::fitted(train);
};

// The tape's gradients as the loop's default step computes them: zero, forward, the classifier's cost, backward.
template <typename T>
double tape_gradients(Classifier<T>& model, const Matrix<T>& x, std::span<const int> labels) {
  model.network->zero_grad();
  const Tensor<T> cost = model.cost(model.network->forward(Tensor<T>::from(x)), labels);
  cost.backward();
  return static_cast<double>(cost.item());
}

template <typename T>
train::Outcome run(Classifier<T>& model, Fixture& f, double eta, long steps, GradientPath path) {
  optim::SGD<T> sgd(model.network->parameters(), {.learning_rate = eta});
  data::BatchLoader<T> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(7));
  train::Loop<T> loop = make_loop(model, sgd, loader, {.total_steps = steps, .evaluate_every_steps = 15}, path);
  loop.set_evaluation_data(f.train, f.validation);
  return loop.run();
}

}  // namespace

TEST_CASE("every classifier: tape gradients == reference gradients (double)", "[apps][trainer]") {
  Fixture f;
  const Matrix<double> x = data::normalized_examples<double>(f.train, f.normalizer, 0, 25);
  const std::vector<int> labels(f.train.labels.begin(), f.train.labels.begin() + 25);
  std::vector<int> binary_labels;
  for (int l : labels) binary_labels.push_back(l == 1 ? 1 : 0);
  const Index d = f.train.shape.features();

  auto compare = [&](Classifier<double>& model, const std::vector<int>& y) {
    INFO(model.description());
    for (double lambda : {0.0, 0.3}) {
      model.lambda = lambda;
      const double tape_cost = tape_gradients(model, x, y);
      std::vector<Matrix<double>> tape_grads;
      for (const auto& p : model.network->parameters()) tape_grads.push_back(p.grad());
      const train::StepLoss ref = model.reference_gradients(x, y);
      CHECK(tape_cost == Approx(ref.cost).epsilon(1e-13));
      CHECK(tape_cost - model.penalty() == Approx(ref.loss).epsilon(1e-13));
      const auto parameters = model.network->parameters();
      REQUIRE(parameters.size() == tape_grads.size());
      for (std::size_t i = 0; i < parameters.size(); ++i) {
        CHECK(tape_grads[i].cwiseAbs().maxCoeff() > 1e-8);
        CHECK(max_relative_error(tape_grads[i], parameters[i].grad()) <= 1e-10);
      }
    }
  };
  Generator g(3);
  auto softmax = make_linear_classifier<double>(d, 3, LossKind::cross_entropy, 0.01, 0, g);
  compare(softmax, labels);
  auto bce = make_linear_classifier<double>(d, 3, LossKind::multi_binary_cross_entropy, 0.01, 0, g);
  compare(bce, labels);
  auto logistic = make_linear_classifier<double>(d, 3, LossKind::binary_cross_entropy, 0.01, 0, g);
  REQUIRE(logistic.layers[0]->out_features() == 1);
  compare(logistic, binary_labels);
  auto two_layer = make_two_layer_network<double>(d, 8, 3, 0, g);
  compare(two_layer, labels);
}

TEST_CASE("the apps' models keep the parameter names their files use", "[apps][trainer]") {
  Generator g(3);
  auto names = [](const Classifier<float>& model) {
    std::vector<std::string> out;
    for (const auto& p : model.network->named_parameters()) out.push_back(p.name);
    return out;
  };
  CHECK(names(make_linear_classifier<float>(12, 3, LossKind::cross_entropy, 0.01, 0, g)) ==
        std::vector<std::string>{"linear.weight", "linear.bias"});
  CHECK(names(make_two_layer_network<float>(12, 5, 3, 0, g)) ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  // A label outside the classes is refused by the sigmoid losses too, naming it.
  auto bce = make_linear_classifier<float>(12, 3, LossKind::multi_binary_cross_entropy, 0.01, 0, g);
  const std::vector<int> bad = {0, 3};
  CHECK_THROWS_WITH(bce.cost(Tensor<float>::from(Matrix<float>::Zero(3, 2)), bad),
                    Catch::Contains("label 3 at position 1") && Catch::Contains("outside [0, 3)"));
}

TEST_CASE("training learns, and both gradient paths give the same curves to 1e-6", "[apps][trainer]") {
  Fixture f;
  for (const bool two_layer : {true, false}) {
    INFO((two_layer ? "two-layer" : "sigmoid regression"));
    Generator g1(11), g2(11);
    const Index d = f.train.shape.features();
    auto make = [&](Generator& g) {
      return two_layer ? make_two_layer_network<double>(d, 10, 3, 0.01, g)
                       : make_linear_classifier<double>(d, 3, LossKind::multi_binary_cross_entropy, 0.01, 0.01, g);
    };
    Classifier<double> tape_model = make(g1);
    Classifier<double> ref_model = make(g2);
    const auto tape = run(tape_model, f, two_layer ? 0.05 : 0.5, 150, GradientPath::tape);
    const auto ref = run(ref_model, f, two_layer ? 0.05 : 0.5, 150, GradientPath::reference);
    REQUIRE(tape.rows.size() == ref.rows.size());
    REQUIRE(tape.rows.size() == 11);  // steps 0, 15, ..., 150
    for (std::size_t i = 0; i < tape.rows.size(); ++i) {
      CHECK(std::abs(tape.rows[i].train.cost - ref.rows[i].train.cost) < 1e-6);
      CHECK(std::abs(tape.rows[i].validation.loss - ref.rows[i].validation.loss) < 1e-6);
    }
    CHECK(tape.rows.front().validation.accuracy < 0.6);
    CHECK(tape.rows.back().validation.accuracy > 0.9);
    CHECK(tape.rows.back().train.loss < tape.rows.front().train.loss);
    CHECK(tape.rows.back().train.cost > tape.rows.back().train.loss);  // the penalty reported apart
    CHECK(tape.steps == 150);
    CHECK(tape.stopped_epoch == Approx(10.0));
  }
}

TEST_CASE("run_experiment under --resume refuses a run of other settings, by config.json or by its checkpoint",
          "[apps][trainer][resume]") {
  Fixture f;
  const data::ImageDataset test = synthetic(50, 3);
  ImageSplits splits{.train = f.train, .validation = f.validation, .test = test, .description = "synthetic"};
  const ExperimentData data = experiment_data(splits, f.normalizer);
  tapegrad::testing::TempDir directory("experiment_resume");
  const RunDirectory run(directory.path() / "run");
  ExperimentSettings s;
  s.name = "tiny";
  s.epochs = 2;
  s.batch_size = 50;
  s.plot_templates = false;
  s.show_progress = false;
  run_experiment(s, data, run);
  // As if it had been interrupted after its last checkpoint.
  tapegrad::testing::write_bytes(run.summary_path(), R"({"status": "interrupted"})");

  ExperimentSettings other = s;
  other.eta = 0.002;
  set_resume_mode(true);
  CHECK_THROWS_MATCHES(run_experiment(other, data, run), UsageError,
                       Catch::Matchers::Predicate<UsageError>([](const UsageError& e) {
                         return std::string(e.what()).find("eta 0.002 here but 0.001") != std::string::npos;
                       }));
  // Without config.json the checkpoint's own record of the settings refuses it the same way.
  std::filesystem::remove(run.config_path());
  CHECK_THROWS_MATCHES(run_experiment(other, data, run), UsageError,
                       Catch::Matchers::Predicate<UsageError>([](const UsageError& e) {
                         return std::string(e.what()).find("eta 0.002 here but 0.001") != std::string::npos;
                       }));
  const ExperimentResult resumed = run_experiment(s, data, run);
  set_resume_mode(false);
  CHECK(resumed.summary["status"] == "completed");
  CHECK(resumed.summary["resumed"] == true);
}
