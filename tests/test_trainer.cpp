// The apps' shared training layer: both gradient paths of every model, and the training loop's behaviour.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include "apps/common/classifier.h"
#include "apps/common/trainer.h"
#include <tapegrad/core/gradcheck.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>

using namespace tapegrad;
using namespace tapegrad::apps;

namespace {

// Three classes of 2x4x4 images whose mean brightness pattern differs per class, with noise: learnable, not trivial.
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

template <typename T>
TrainingOutcome run(Classifier<T>& model, Fixture& f, double eta, long steps, GradientPath path, int patience = 0,
                    train::Callbacks callbacks = {}, double lambda = 0.01) {
  optim::SGD<T> sgd(model.module().parameters(), {.learning_rate = eta});
  data::BatchLoader<T> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(7));
  TrainingPlan plan;
  plan.loop.total_steps = steps;
  plan.loop.evaluation_steps = train::evaluation_steps(steps, 15, true);
  plan.lambda = lambda;
  plan.path = path;
  plan.loop.patience = patience;
  return apps::train(model, sgd, optim::ConstantLR(eta), loader, f.train, f.validation, f.normalizer, plan, callbacks);
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
      const auto tape = model.compute_gradients(x, y, lambda, GradientPath::tape);
      std::vector<Matrix<double>> tape_grads;
      for (const auto& p : model.module().parameters()) tape_grads.push_back(p.grad());
      const auto ref = model.compute_gradients(x, y, lambda, GradientPath::reference);
      CHECK(tape.cost == Approx(ref.cost).epsilon(1e-13));
      CHECK(tape.loss == Approx(ref.loss).epsilon(1e-13));
      const auto parameters = model.module().parameters();
      for (std::size_t i = 0; i < parameters.size(); ++i) {
        CHECK(tape_grads[i].cwiseAbs().maxCoeff() > 1e-8);
        CHECK(max_relative_error(tape_grads[i], parameters[i].grad()) <= 1e-10);
      }
      // The loss from scores agrees with the training loss.
      Matrix<double> s;
      model.scores(x, s);
      CHECK(model.loss_from_scores(s, y) == Approx(tape.loss).epsilon(1e-12));
      CHECK(model.loss_from_scores(s, y) + model.penalty(lambda) == Approx(tape.cost).epsilon(1e-12));
    }
  };
  Generator g(3);
  auto softmax = make_linear_classifier<double>(d, 3, LossKind::cross_entropy, 0.01, g);
  compare(*softmax, labels);
  auto bce = make_linear_classifier<double>(d, 3, LossKind::multi_binary_cross_entropy, 0.01, g);
  compare(*bce, labels);
  auto logistic = make_logistic_regression<double>(d, 0.01, g);
  compare(*logistic, binary_labels);
  auto two_layer = make_two_layer_network<double>(d, 8, 3, g);
  compare(*two_layer, labels);
}

TEST_CASE("a lent batch gives the copied batch's gradients and comes back intact", "[apps][trainer]") {
  Fixture f;
  const Matrix<double> x = data::normalized_examples<double>(f.train, f.normalizer, 0, 25);
  const std::vector<int> labels(f.train.labels.begin(), f.train.labels.begin() + 25);
  const Index d = f.train.shape.features();
  Generator g(5);
  auto softmax = make_linear_classifier<double>(d, 3, LossKind::cross_entropy, 0.01, g);
  auto bce = make_linear_classifier<double>(d, 3, LossKind::multi_binary_cross_entropy, 0.01, g);
  auto two_layer = make_two_layer_network<double>(d, 8, 3, g);
  for (Classifier<double>* model : {softmax.get(), bce.get(), two_layer.get()}) {
    INFO(model->description());
    const auto copied = model->compute_gradients(x, labels, 0.3, GradientPath::tape);
    std::vector<Matrix<double>> copied_grads;
    for (const auto& p : model->module().parameters()) copied_grads.push_back(p.grad());

    Matrix<double> lent = x;
    const double* storage = lent.data();
    for (int round = 0; round < 2; ++round) {  // the second round swaps with the leaf's storage of the first
      const auto swapped = model->compute_gradients(lent, labels, 0.3, GradientPath::tape);
      CHECK(swapped.loss == copied.loss);
      CHECK(swapped.cost == copied.cost);
      const auto parameters = model->module().parameters();
      for (std::size_t i = 0; i < parameters.size(); ++i) {
        CHECK(copied_grads[i].cwiseAbs().maxCoeff() > 1e-8);
        CHECK(parameters[i].grad() == copied_grads[i]);  // bit for bit: the same computation on the same values
      }
      CHECK(lent.data() == storage);  // the very same storage, restored
      CHECK(lent == x);
    }

    // A step that throws after the swap still gives the batch back.
    std::vector<int> bad = labels;
    bad[3] = 7;  // beyond the 3 classes: the loss throws inside the tape step
    CHECK_THROWS_AS(model->compute_gradients(lent, bad, 0.3, GradientPath::tape), Error);
    CHECK(lent.data() == storage);
    CHECK(lent == x);
  }
}

TEST_CASE("training learns, and both gradient paths give the same curves to 1e-6", "[apps][trainer]") {
  Fixture f;
  Generator g1(11), g2(11);
  auto tape_model = make_two_layer_network<double>(f.train.shape.features(), 10, 3, g1);
  auto ref_model = make_two_layer_network<double>(f.train.shape.features(), 10, 3, g2);
  const auto tape = run(*tape_model, f, 0.05, 150, GradientPath::tape);
  const auto ref = run(*ref_model, f, 0.05, 150, GradientPath::reference);
  REQUIRE(tape.rows.size() == ref.rows.size());
  REQUIRE(tape.rows.size() == 11);  // steps 0, 15, ..., 150
  for (std::size_t i = 0; i < tape.rows.size(); ++i) {
    CHECK(std::abs(tape.rows[i].train.cost - ref.rows[i].train.cost) < 1e-6);
    CHECK(std::abs(tape.rows[i].validation.loss - ref.rows[i].validation.loss) < 1e-6);
  }
  CHECK(tape.rows.front().validation.accuracy < 0.6);
  CHECK(tape.rows.back().validation.accuracy > 0.9);
  CHECK(tape.rows.back().train.loss < tape.rows.front().train.loss);
  CHECK(tape.steps == 150);
  CHECK(tape.stopped_epoch == Approx(10.0));
}

TEST_CASE("early stopping keeps the weights of the best validation loss", "[apps][trainer]") {
  Fixture f;
  // Validation labels that disagree with the training classes: its loss rises once the model learns.
  for (auto& label : f.validation.labels) label = (label + 1) % 3;
  Generator g(5);
  auto model = make_linear_classifier<double>(f.train.shape.features(), 3, LossKind::cross_entropy, 0.01, g);
  const auto outcome = run(*model, f, 0.1, 3000, GradientPath::tape, 3);
  CHECK(outcome.early_stopped);
  CHECK(outcome.steps < 3000);
  REQUIRE(outcome.best_step >= 0);
  double best = 1e9;
  for (const auto& row : outcome.rows) best = std::min(best, row.validation.loss);
  const auto restored = evaluate(*model, f.validation, f.normalizer, 0.01);
  CHECK(restored.loss == Approx(best).epsilon(1e-12));
  CHECK(outcome.rows.back().validation.loss > best);
}

TEST_CASE("training stopped after its best evaluation and resumed ends exactly as the uninterrupted run",
          "[apps][trainer][resume]") {
  Fixture f;
  for (auto& label : f.validation.labels) label = (label + 1) % 3;  // early stopping will end the run
  TrainingPlan plan;
  plan.loop.total_steps = 3000;
  plan.loop.evaluation_steps = train::evaluation_steps(plan.loop.total_steps, 15, true);
  plan.lambda = 0.01;
  plan.loop.patience = 3;
  struct Run {
    std::unique_ptr<Classifier<double>> model;
    std::unique_ptr<optim::SGD<double>> sgd;
    std::unique_ptr<data::BatchLoader<double>> loader;
  };
  auto make_run = [&] {
    Generator g(5);
    Run r;
    r.model = make_linear_classifier<double>(f.train.shape.features(), 3, LossKind::cross_entropy, 0.01, g);
    r.sgd = std::make_unique<optim::SGD<double>>(r.model->module().parameters(), optim::SGDOptions{.learning_rate = 0.1});
    r.loader = std::make_unique<data::BatchLoader<double>>(f.train, f.normalizer, data::BatchLoaderOptions{.batch_size = 20},
                                                           Generator(7));
    return r;
  };
  const optim::ConstantLR rate(0.1);

  Run whole = make_run();
  const auto expected = apps::train(*whole.model, *whole.sgd, rate, *whole.loader, f.train, f.validation, f.normalizer, plan);
  REQUIRE(expected.early_stopped);
  // Stop two steps after the best evaluation: the resumed run must bring the best weights back at the end itself.
  const long stop_at = expected.best_step + 2;
  REQUIRE(stop_at < expected.steps);

  Run resumed = make_run();
  std::vector<Matrix<double>> best;
  train::Callbacks hooks;
  long done = 0;
  hooks.on_step = [&](const train::StepProgress& p) { done = p.step; };
  hooks.stop_requested = [&] { return done >= stop_at; };
  hooks.on_new_best = [&](long) {
    best.clear();
    for (const auto& p : resumed.model->module().parameters()) best.push_back(p.value());
  };
  const auto first = apps::train(*resumed.model, *resumed.sgd, rate, *resumed.loader, f.train, f.validation, f.normalizer,
                           plan, hooks);
  REQUIRE(first.interrupted);
  REQUIRE(first.steps == stop_at);
  CHECK(first.best_step == expected.best_step);

  train::Start<double> start{
      .step = first.steps, .rows = first.rows, .best_state = best, .best_step = first.best_step};
  const auto second = apps::train(*resumed.model, *resumed.sgd, rate, *resumed.loader, f.train, f.validation,
                            f.normalizer, plan, {}, start);
  CHECK(second.early_stopped);
  CHECK(second.steps == expected.steps);
  CHECK(second.best_step == expected.best_step);
  REQUIRE(second.rows.size() == expected.rows.size());
  for (std::size_t i = 0; i < expected.rows.size(); ++i) {
    INFO("evaluation " << i);
    CHECK(second.rows[i].step == expected.rows[i].step);
    CHECK(second.rows[i].validation.loss == expected.rows[i].validation.loss);
    CHECK(second.rows[i].train.accuracy == expected.rows[i].train.accuracy);
  }
  const auto want = whole.model->module().parameters();
  const auto got = resumed.model->module().parameters();
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i].value() == want[i].value());  // bit for bit

  // Without the best weights a resumed run cannot keep its promise, and says so.
  Run bare = make_run();
  train::Start<double> missing{.step = first.steps, .rows = first.rows, .best_state = {}};
  CHECK_THROWS_WITH(apps::train(*bare.model, *bare.sgd, rate, *bare.loader, f.train, f.validation, f.normalizer, plan, {},
                          missing),
                    Catch::Contains("weights of the best evaluation"));
  // Nor with the weights of another evaluation than the best (a run stopped while saving them).
  Run stale = make_run();
  train::Start<double> other{
      .step = first.steps, .rows = first.rows, .best_state = best, .best_step = first.best_step - 15};
  CHECK_THROWS_WITH(apps::train(*stale.model, *stale.sgd, rate, *stale.loader, f.train, f.validation, f.normalizer, plan,
                          {}, other),
                    Catch::Contains("the saved best weights are those of step"));
}

TEST_CASE("a diverging run stops at once with a message naming the step", "[apps][trainer]") {
  Fixture f;
  Generator g(5);
  auto model = make_linear_classifier<float>(f.train.shape.features(), 3, LossKind::cross_entropy, 0.01, g);
  const auto outcome = run(*model, f, 1e37, 500, GradientPath::tape);
  CHECK(outcome.diverged);
  CHECK(outcome.steps < 500);
  CHECK_THAT(outcome.divergence, Catch::Contains("step") && Catch::Contains("smaller learning rate"));
}

TEST_CASE("an update that makes a weight Inf stops training at that step, before the cost shows it",
          "[apps][trainer]") {
  Fixture f;
  Generator g(5);
  auto model = make_linear_classifier<float>(f.train.shape.features(), 3, LossKind::cross_entropy, 0.01, g);
  // The first cost is finite (the initial weights), but a learning rate of 1e39 is Inf in float, so the first
  // update sends the weights to Inf (or NaN where the gradient is 0); without the check after each update, only
  // the next step's cost would show it.
  const auto outcome = run(*model, f, 1e39, 500, GradientPath::tape);
  REQUIRE(outcome.diverged);
  CHECK(outcome.steps == 0);  // the last good state is the one before the update
  CHECK_THAT(outcome.divergence, Catch::Contains("at step 1 ") && Catch::Contains("made parameter '") &&
                                     Catch::Contains("NaN or Inf") && Catch::Contains("smaller learning rate"));
}

TEST_CASE("a stop request ends training cleanly after the step under way", "[apps][trainer]") {
  Fixture f;
  Generator g(5);
  auto model = make_linear_classifier<double>(f.train.shape.features(), 3, LossKind::cross_entropy, 0.01, g);
  long seen = 0;
  train::Callbacks hooks;
  hooks.on_step = [&](const train::StepProgress& p) { seen = p.step; };
  hooks.stop_requested = [&] { return seen >= 7; };
  const auto outcome = run(*model, f, 0.1, 100, GradientPath::tape, 0, hooks);
  CHECK(outcome.interrupted);
  CHECK(outcome.steps == 7);
}
