// The library's training loop (nn/train) on a user's model: a small nn::Sequential on generated images.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/nn/nn.h>
#include <tapegrad/nn/train/train.h>
#include <tapegrad/ops/ops.h>
#include <tapegrad/optim/optim.h>
#include "tests/support/test_data.h"

using namespace tapegrad;
using tapegrad::testing::TempDir;
using tapegrad::testing::read_bytes;
using tapegrad::testing::write_bytes;

namespace {

// Three classes of 2x4x4 images whose mean brightness pattern differs per class, with noise: learnable, not trivial.
data::ImageDataset synthetic(int n, std::uint64_t seed) {
  constexpr int kClasses = 3;
  Generator g(seed);
  data::ImageDataset set;
  set.shape = {2, 4, 4};
  set.pixels.resize(set.shape.features(), n);
  for (int c = 0; c < kClasses; ++c) set.class_names.push_back("class" + std::to_string(c));
  for (int j = 0; j < n; ++j) {
    const int label = static_cast<int>(g.below(kClasses));
    set.labels.push_back(label);
    for (int i = 0; i < set.shape.features(); ++i) {
      const double base = (i % kClasses == label) ? 170.0 : 90.0;
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

// A third of the labels wrong: the validation loss falls while the model learns, then rises as it grows confident
// on the wrong third, so early stopping ends the run after a best evaluation past the start.
void mislabel_a_third(data::ImageDataset& set) {
  for (std::size_t j = 0; j < set.labels.size(); j += 3) set.labels[j] = (set.labels[j] + 1) % 3;
}

// A user's model: 32 -> 16 (ReLU) -> 3.
template <typename T>
std::shared_ptr<nn::Sequential<T>> make_model(std::uint64_t seed) {
  Generator generator(seed);
  auto model = std::make_shared<nn::Sequential<T>>();
  model->template emplace_back<nn::Linear<T>>(32, 16, nn::LinearOptions{nn::Init::he_normal(), nn::Init::zeros()},
                                              generator);
  model->template emplace_back<nn::ReLU<T>>();
  model->template emplace_back<nn::Linear<T>>(16, 3, nn::LinearOptions{nn::Init::xavier_normal(), nn::Init::zeros()},
                                              generator);
  return model;
}

// Cross-entropy plus the reports' L2 penalty on the weights: the cost.
template <typename T>
train::LossFunction<T> cost_function(const nn::Module<T>& model, double lambda) {
  return [&model, lambda](const Tensor<T>& outputs, std::span<const int> labels) {
    return add(cross_entropy_with_logits(outputs, labels), nn::l2_penalty(model, static_cast<T>(lambda)));
  };
}

template <typename T>
double penalty_value(const nn::Module<T>& model, double lambda) {
  NoGradGuard no_grad;
  return static_cast<double>(nn::l2_penalty(model, static_cast<T>(lambda)).item());
}

// Everything a run owns, built the same way each time from the seeds.
template <typename T>
struct Run {
  std::shared_ptr<nn::Sequential<T>> model;
  std::unique_ptr<optim::SGD<T>> sgd;
  std::unique_ptr<data::BatchLoader<T>> loader;
  std::unique_ptr<train::Loop<T>> loop;

  Run(Fixture& f, train::LoopOptions options, std::uint64_t model_seed = 5, std::uint64_t loader_seed = 7,
      double eta = 0.1, double lambda = 0.001) {
    model = make_model<T>(model_seed);
    sgd = std::make_unique<optim::SGD<T>>(model->parameters(),
                                          optim::SGDOptions{.learning_rate = eta, .momentum = 0.9});
    loader = std::make_unique<data::BatchLoader<T>>(
        f.train, f.normalizer, data::BatchLoaderOptions{.batch_size = 20, .flip_probability = 0.5},
        Generator(loader_seed));
    loop = std::make_unique<train::Loop<T>>(*model, *sgd, *loader, cost_function<T>(*model, lambda),
                                            std::move(options));
    loop->set_evaluation_data(f.train, f.validation);
    loop->set_penalty([m = model.get(), lambda] { return penalty_value<T>(*m, lambda); });
  }
};

// A user's model with Dropout, 32 -> 16 (ReLU, Dropout) -> 3, built as a user builds one: one generator of the
// user's for the initial weights and then the masks. The loop is given it when `listed`.
template <typename T>
struct DropoutRun {
  std::unique_ptr<Generator> generator = std::make_unique<Generator>(11);
  std::shared_ptr<nn::Sequential<T>> model = std::make_shared<nn::Sequential<T>>();
  std::unique_ptr<optim::SGD<T>> sgd;
  std::unique_ptr<data::BatchLoader<T>> loader;
  std::unique_ptr<train::Loop<T>> loop;

  DropoutRun(Fixture& f, train::LoopOptions options, bool listed = true) {
    const nn::LinearOptions he{nn::Init::he_normal(), nn::Init::zeros()};
    model->template emplace_back<nn::Linear<T>>(32, 16, he, *generator);
    model->template emplace_back<nn::ReLU<T>>();
    model->template emplace_back<nn::Dropout<T>>(0.3, *generator);
    model->template emplace_back<nn::Linear<T>>(16, 3, he, *generator);
    sgd = std::make_unique<optim::SGD<T>>(model->parameters(),
                                          optim::SGDOptions{.learning_rate = 0.05, .momentum = 0.9});
    loader = std::make_unique<data::BatchLoader<T>>(f.train, f.normalizer, data::BatchLoaderOptions{.batch_size = 20},
                                                    Generator(7));
    if (listed) options.generators = {{"dropout", generator.get()}};
    loop = std::make_unique<train::Loop<T>>(*model, *sgd, *loader, cost_function<T>(*model, 0.001),
                                            std::move(options));
    loop->set_evaluation_data(f.train, f.validation);
  }
};

template <typename T>
std::vector<Matrix<T>> values_of(const nn::Module<T>& model) {
  std::vector<Matrix<T>> values;
  for (const auto& p : model.parameters()) values.push_back(p.value());
  return values;
}

// A module that records the mode it ran in, to see what the loop sets around evaluations.
class ModeProbe : public nn::Module<double> {
 public:
  Tensor<double> forward(const Tensor<double>& input) override {
    (is_training() ? training_calls : evaluation_calls) += 1;
    return input;
  }
  int training_calls = 0;
  int evaluation_calls = 0;
};

}  // namespace

TEST_CASE("the loop trains a user's Sequential: the cost falls and validation accuracy rises", "[train][loop]") {
  Fixture f;
  Run<double> run(f, {.total_steps = 150, .evaluate_every_steps = 15});
  const optim::CyclicLR schedule({.eta_min = 0.01, .eta_max = 0.1, .steps_per_half_cycle = 75});
  run.loop->set_schedule(schedule);
  long steps_seen = 0;
  run.loop->callbacks().on_step = [&](const train::StepProgress& p) {
    ++steps_seen;
    CHECK(p.step == steps_seen);
    CHECK(p.total_steps == 150);
    CHECK(std::isfinite(p.cost));
    CHECK(p.cost > p.loss);  // the penalty is reported apart
    CHECK(p.learning_rate == schedule.learning_rate_at(p.step - 1));
  };
  const train::Outcome outcome = run.loop->run();
  CHECK(steps_seen == 150);
  CHECK(outcome.steps == 150);
  CHECK_FALSE(outcome.diverged);
  CHECK_FALSE(outcome.early_stopped);
  REQUIRE(outcome.rows.size() == 11);  // steps 0, 15, ..., 150
  const train::MetricsRow& first = outcome.rows.front();
  const train::MetricsRow& last = outcome.rows.back();
  CHECK(first.validation.accuracy < 0.6);
  CHECK(last.validation.accuracy > 0.9);
  CHECK(last.train.cost < 0.5 * first.train.cost);
  CHECK(last.train.cost > last.train.loss);
  CHECK(last.epoch == Approx(10.0));  // 15 batches of 20 per epoch
  CHECK(outcome.stopped_epoch == Approx(10.0));
  // The default evaluator measures what the model does: the last row is the model as it is now.
  const train::Evaluation now = train::evaluate_module<double>(*run.model, f.validation, f.normalizer,
                                                               cost_function<double>(*run.model, 0.001));
  CHECK(now.cost == Approx(last.validation.cost).epsilon(1e-12));
  CHECK(now.accuracy == last.validation.accuracy);
  // The loop's own evaluate() measures any set as its rows do, loss and cost apart.
  CHECK(run.loop->evaluate(f.validation) == last.validation);
  run.model->eval();
  CHECK(run.loop->evaluate(f.validation) == last.validation);
  CHECK_FALSE(run.model->is_training());  // its mode is put back
}

TEST_CASE("evaluations come at the steps asked for, with the step's learning rate", "[train][loop]") {
  Fixture f;
  SECTION("every k steps, the first before any update and the last at the end") {
    Run<double> run(f, {.total_steps = 30, .evaluate_every_steps = 7});
    const optim::StepDecayLR schedule({.initial_learning_rate = 0.1, .divide_by = 2, .every_steps = 10});
    run.loop->set_schedule(schedule);
    std::vector<long> seen;
    run.loop->callbacks().on_evaluation = [&](const train::MetricsRow& row) {
      seen.push_back(row.step);
      // The rate in place at an evaluation is the one of the next update (or of the last, at the end).
      CHECK(row.learning_rate == schedule.learning_rate_at(std::min(row.step, 29L)));
    };
    const train::Outcome outcome = run.loop->run();
    CHECK(seen == std::vector<long>{0, 7, 14, 21, 28, 30});
    REQUIRE(outcome.rows.size() == 6);
    CHECK(outcome.rows[2].step == 14);
    CHECK(run.loop->planned_evaluations() == seen);
  }
  SECTION("by default once per epoch, none at the start when asked so") {
    Run<double> run(f, {.total_steps = 40, .evaluate_at_start = false});
    CHECK(run.loop->steps_per_epoch() == 15);
    CHECK(run.loop->run().rows.size() == 3);  // 15, 30, 40
    CHECK(run.loop->planned_evaluations() == std::vector<long>{15, 30, 40});
  }
  SECTION("evaluation_steps: every `every` steps and the last, with 0 first when asked; 0 means at the end only") {
    CHECK(train::evaluation_steps(100, 25, true) == std::vector<long>{0, 25, 50, 75, 100});
    CHECK(train::evaluation_steps(90, 25, false) == std::vector<long>{25, 50, 75, 90});
    CHECK(train::evaluation_steps(10, 0, false) == std::vector<long>{10});
  }
  SECTION("the plan is computed step by step, never listed: the same steps, and a huge plan costs nothing") {
    for (long total : {0L, 1L, 7L, 30L, 31L}) {
      for (long every : {1L, 4L, 7L, 30L, 100L}) {
        for (bool at_start : {false, true}) {
          INFO("total " << total << ", every " << every << ", at start " << at_start);
          Run<double> run(f, {.total_steps = total, .evaluate_every_steps = every, .evaluate_at_start = at_start});
          std::vector<long> walked;
          for (long s = run.loop->next_evaluation_after(-1); s >= 0; s = run.loop->next_evaluation_after(s)) {
            walked.push_back(s);
          }
          CHECK(walked == train::evaluation_steps(total, every, at_start));
        }
      }
    }
    const long huge = 2'000'000'000'000'000'000L;
    Run<double> run(f, {.total_steps = huge, .evaluate_every_steps = huge / 10 + 1});
    CHECK(run.loop->next_evaluation_after(-1) == 0);
    CHECK(run.loop->next_evaluation_after(0) == huge / 10 + 1);
    CHECK(run.loop->next_evaluation_after(huge - 2) == huge);
    CHECK(run.loop->next_evaluation_after(huge) == -1);
  }
  SECTION("an explicit list") {
    Run<double> run(f, {.total_steps = 12, .evaluation_steps = {3, 4, 12}});
    CHECK(run.loop->next_evaluation_after(3) == 4);
    CHECK(run.loop->next_evaluation_after(12) == -1);
    const train::Outcome outcome = run.loop->run();
    REQUIRE(outcome.rows.size() == 3);
    CHECK(outcome.rows[1].step == 4);
  }
  SECTION("without evaluation data there are no evaluations") {
    auto model = make_model<double>(1);
    optim::SGD<double> sgd(model->parameters(), {.learning_rate = 0.1});
    data::BatchLoader<double> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(1));
    train::Loop<double> loop(*model, sgd, loader, cost_function<double>(*model, 0), {.total_steps = 5});
    const train::Outcome outcome = loop.run();
    CHECK(outcome.steps == 5);
    CHECK(outcome.rows.empty());
  }
}

TEST_CASE("evaluations run in eval() mode and training in the module's own mode", "[train][loop]") {
  Fixture f;
  ModeProbe probe;
  // The probe has no parameters: a linear map is trained beside it through a custom step.
  auto head = make_model<double>(3);
  optim::SGD<double> sgd(head->parameters(), {.learning_rate = 0.05});
  data::BatchLoader<double> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(3));
  auto loss = [&](const Tensor<double>& outputs, std::span<const int> labels) {
    return cross_entropy_with_logits(head->forward(outputs), labels);
  };
  train::Loop<double> loop(probe, sgd, loader, loss, {.total_steps = 10, .evaluate_every_steps = 5});
  loop.set_evaluation_data(f.train, f.validation);
  loop.set_gradient_step([&](data::Batch<double>& batch) {
    head->zero_grad();
    const Tensor<double> cost = loss(probe.forward(Tensor<double>::from(batch.X)), batch.labels);
    cost.backward();
    return train::StepLoss{.loss = cost.item(), .cost = cost.item()};
  });
  const train::Outcome outcome = loop.run();
  CHECK(outcome.rows.size() == 3);
  CHECK(probe.training_calls == 10);
  // 3 evaluations x (300 training + 100 validation examples in one chunk each).
  CHECK(probe.evaluation_calls == 6);
  CHECK(probe.is_training());

  SECTION("a custom evaluator runs in eval() mode too, and the mode comes back after") {
    int evaluator_calls = 0;
    loop.set_evaluator([&](const data::ImageDataset&) {
      ++evaluator_calls;
      CHECK_FALSE(probe.is_training());
      return train::Evaluation{};
    });
    probe.eval();
    loop.run();
    CHECK(evaluator_calls == 6);
    CHECK_FALSE(probe.is_training());  // it was in eval() mode before, and is again
  }
}

TEST_CASE("early stopping ends the run and puts back the best evaluation's weights", "[train][loop]") {
  Fixture f;
  // Validation labels that disagree with the training classes: its loss rises once the model learns.
  for (auto& label : f.validation.labels) label = (label + 1) % 3;
  Run<double> run(f, {.total_steps = 3000, .evaluate_every_steps = 15, .patience = 3});
  std::vector<long> new_bests;
  std::vector<Matrix<double>> weights_at_best;
  run.loop->callbacks().on_new_best = [&](long step) {
    new_bests.push_back(step);
    weights_at_best = values_of(*run.model);
  };
  const train::Outcome outcome = run.loop->run();
  REQUIRE(outcome.early_stopped);
  CHECK(outcome.steps < 3000);
  REQUIRE(outcome.best_step >= 0);
  REQUIRE_FALSE(new_bests.empty());
  CHECK(new_bests.back() == outcome.best_step);
  // Patience 3: the run ends three evaluations after its best.
  CHECK(outcome.rows.back().step == outcome.best_step + 3 * 15);
  double best = std::numeric_limits<double>::infinity();
  for (const auto& row : outcome.rows) best = std::min(best, row.validation.loss);
  CHECK(outcome.rows.back().validation.loss > best);
  // The model holds the weights of the best evaluation again, not those of the last step.
  CHECK(values_of(*run.model) == weights_at_best);
  const train::Evaluation restored = train::evaluate_module<double>(
      *run.model, f.validation, f.normalizer, cost_function<double>(*run.model, 0.001), 2000,
      [&] { return penalty_value<double>(*run.model, 0.001); });
  CHECK(restored.loss == Approx(best).epsilon(1e-12));
}

TEST_CASE("a cost that turns NaN or Inf stops training with a message naming the step", "[train][loop]") {
  Fixture f;
  SECTION("a NaN cost at a known step") {
    auto model = make_model<float>(2);
    optim::SGD<float> sgd(model->parameters(), {.learning_rate = 0.01});
    data::BatchLoader<float> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(2));
    int calls = 0;
    auto loss = [&](const Tensor<float>& outputs, std::span<const int> labels) {
      const Tensor<float> cost = cross_entropy_with_logits(outputs, labels);
      // The 5th step's cost is NaN (0 * Inf is NaN), as from a diverging model.
      return ++calls == 5 ? mul(cost, Tensor<float>::scalar(std::numeric_limits<float>::infinity())) * 0.0f : cost;
    };
    train::Loop<float> loop(*model, sgd, loader, loss, {.total_steps = 100});
    const train::Outcome outcome = loop.run();
    REQUIRE(outcome.diverged);
    CHECK(outcome.steps == 4);
    CHECK_THAT(outcome.divergence, Catch::Contains("training diverged at step 5 (epoch 0.33)") &&
                                       Catch::Contains("the cost became nan with") &&
                                       Catch::Contains("try a smaller learning rate"));
    CHECK_THAT(outcome.divergence, !Catch::Contains("-nan"));  // the sign of a NaN says nothing: not printed
  }
  SECTION("a learning rate so large that the update makes the weights Inf") {
    Run<float> run(f, {.total_steps = 500, .divergence_advice = "try a smaller learning rate (--eta)"}, 5, 7, 1e39);
    const train::Outcome outcome = run.loop->run();
    REQUIRE(outcome.diverged);
    CHECK(outcome.steps == 0);  // the last good state is the one before the update
    CHECK_THAT(outcome.divergence, Catch::Contains("at step 1 ") && Catch::Contains("made parameter '") &&
                                       Catch::Contains("NaN or Inf") && Catch::Contains("(--eta)"));
  }
}

TEST_CASE("a stop request ends training after the step under way", "[train][loop]") {
  Fixture f;
  Run<double> run(f, {.total_steps = 100});
  long done = 0;
  run.loop->callbacks().on_step = [&](const train::StepProgress& p) { done = p.step; };
  run.loop->callbacks().stop_requested = [&] { return done >= 7; };
  const train::Outcome outcome = run.loop->run();
  CHECK(outcome.interrupted);
  CHECK(outcome.steps == 7);
}

TEST_CASE("interrupted, then resumed from its checkpoint, a run ends bit for bit as the uninterrupted one",
          "[train][loop][resume]") {
  Fixture f;
  mislabel_a_third(f.validation);
  TempDir directory("train_loop");
  const optim::CyclicLR schedule({.eta_min = 0.01, .eta_max = 0.1, .steps_per_half_cycle = 40});
  auto options_with = [&](const std::filesystem::path& checkpoint) {
    return train::LoopOptions{
        .total_steps = 3000, .evaluate_every_steps = 10, .patience = 3, .checkpoint_path = checkpoint};
  };

  Run<float> whole(f, options_with(directory / "whole.ckpt"));
  whole.loop->set_schedule(schedule);
  const train::Outcome expected = whole.loop->run();
  REQUIRE(expected.early_stopped);
  REQUIRE(expected.best_step >= 10);  // so that both stop points below lie inside the run

  // Killed after the run checkpoint of a new best evaluation but before its best-state file was written: the
  // checkpoint holds the best state itself, and the resumed run writes the file again.
  const auto at_best = directory / "at_best.ckpt";
  {
    Run<float> first(f, options_with(at_best));
    first.loop->set_schedule(schedule);
    long done = 0;
    first.loop->callbacks().on_step = [&](const train::StepProgress& p) { done = p.step; };
    first.loop->callbacks().stop_requested = [&] { return done >= expected.best_step; };
    REQUIRE(first.loop->run().steps == expected.best_step);
  }
  std::filesystem::remove(train::default_best_state_path(at_best));
  Run<float> after_kill(f, options_with(at_best), 99, 98);
  after_kill.loop->set_schedule(schedule);
  const train::Outcome rest = after_kill.loop->run(after_kill.loop->resume_from(at_best));
  CHECK(rest.rows == expected.rows);
  CHECK(values_of(*after_kill.model) == values_of(*whole.model));
  CHECK(std::filesystem::exists(train::default_best_state_path(at_best)));

  // Stopped mid-epoch, two steps after the best evaluation: the resumed run must restore the best weights itself.
  const long stop_at = GENERATE_COPY(expected.best_step + 2, expected.best_step - 3);
  INFO("stopped at step " << stop_at);
  REQUIRE(stop_at % 15 != 0);
  const auto path = directory / "run.ckpt";
  {
    Run<float> first(f, options_with(path));
    first.loop->set_schedule(schedule);
    long done = 0;
    first.loop->callbacks().on_step = [&](const train::StepProgress& p) { done = p.step; };
    first.loop->callbacks().stop_requested = [&] { return done >= stop_at; };
    const train::Outcome part = first.loop->run();
    REQUIRE(part.interrupted);
    REQUIRE(part.steps == stop_at);
  }

  // Everything built afresh from other seeds: only the checkpoint carries the run.
  Run<float> resumed(f, options_with(path), 99, 98);
  resumed.loop->set_schedule(schedule);
  REQUIRE(values_of(*resumed.model) != values_of(*whole.model));
  const train::Start<float> start = resumed.loop->resume_from(path);
  CHECK(start.step == stop_at);
  const train::Outcome second = resumed.loop->run(start);
  CHECK(second.early_stopped);
  CHECK(second.steps == expected.steps);
  CHECK(second.best_step == expected.best_step);
  CHECK(second.rows == expected.rows);  // every number of every evaluation, bit for bit
  CHECK(values_of(*resumed.model) == values_of(*whole.model));
  CHECK(resumed.sgd->step_count() == whole.sgd->step_count());
  const auto want = whole.sgd->state();
  const auto got = resumed.sgd->state();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i].value == want[i].value);
  CHECK(resumed.loader->state() == whole.loader->state());

  // The run checkpoint names what it holds; a damaged one fails with the file named.
  const auto loaded = train::load_checkpoint<float>(path);
  CHECK(loaded.metadata.contains("train.rows"));
  CHECK(std::filesystem::exists(train::default_best_state_path(path)));
  std::filesystem::remove(train::default_best_state_path(path));
  Run<float> without_best(f, options_with(path));
  CHECK_THROWS_WITH(without_best.loop->resume_from(path), Catch::Contains("run.ckpt.best"));
}

TEST_CASE("a run with Dropout, stopped and resumed, ends bit for bit as the uninterrupted one: the checkpoint "
          "carries the masks' generator",
          "[train][loop][resume][dropout]") {
  Fixture f;
  TempDir directory("train_loop_dropout");
  auto options_with = [&](const std::filesystem::path& checkpoint) {
    return train::LoopOptions{.total_steps = 60, .evaluate_every_steps = 10, .checkpoint_path = checkpoint};
  };
  DropoutRun<double> whole(f, options_with(directory / "whole.ckpt"));
  const Generator::State after_initialisation = whole.generator->state();
  const train::Outcome expected = whole.loop->run();
  REQUIRE(expected.steps == 60);
  REQUIRE(whole.generator->state() != after_initialisation);  // training drew masks from it
  // Evaluations (eval() mode) draw nothing, so a checkpoint saved after one holds the state of its step.
  const Generator::State after_training = whole.generator->state();
  whole.loop->evaluate(f.validation);
  CHECK(whole.generator->state() == after_training);

  // Stopped at an evaluation step, and mid-epoch (15 steps per epoch) between evaluations.
  const long stop_at = GENERATE(20L, 27L);
  INFO("stopped at step " << stop_at);
  const auto path = directory / "run.ckpt";
  {
    DropoutRun<double> first(f, options_with(path));
    long done = 0;
    first.loop->callbacks().on_step = [&](const train::StepProgress& p) { done = p.step; };
    first.loop->callbacks().stop_requested = [&] { return done >= stop_at; };
    REQUIRE(first.loop->run().steps == stop_at);
  }
  // A fresh model, loader, loop and generator, built as the first ones were: only the checkpoint carries the run.
  DropoutRun<double> resumed(f, options_with(path));
  const train::Outcome rest = resumed.loop->run(resumed.loop->resume_from(path));
  CHECK(rest.steps == expected.steps);
  CHECK(rest.rows == expected.rows);
  CHECK(values_of(*resumed.model) == values_of(*whole.model));  // every weight, bit for bit
  CHECK(resumed.generator->state() == whole.generator->state());
  CHECK(resumed.loader->state() == whole.loader->state());
  CHECK(train::load_checkpoint<double>(path).generator("dropout") == whole.generator->state());
}

TEST_CASE("a loop saving run checkpoints must be given the generators its layers draw from, and refuses a "
          "checkpoint of other generators",
          "[train][loop][resume][dropout][errors]") {
  Fixture f;
  TempDir directory("train_loop_generators");
  const auto path = directory / "run.ckpt";
  auto error_of = [](const std::function<void()>& action) {
    try {
      action();
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };

  // A Dropout layer whose generator the loop was not given: refused at once, naming the layer and the option.
  CHECK_THAT(error_of([&] { DropoutRun<double>(f, {.total_steps = 10, .checkpoint_path = path}, false); }),
             Catch::Contains("module '2' (Dropout(p=0.3))") && Catch::Contains("LoopOptions::generators") &&
                 Catch::Contains("&generator"));
  Generator other(3);
  CHECK_THAT(error_of([&] {
               DropoutRun<double>(f, {.total_steps = 10, .checkpoint_path = path, .generators = {{"other", &other}}},
                                  false);
             }),
             Catch::Contains("module '2'"));
  CHECK(error_of([&] { DropoutRun<double>(f, {.total_steps = 10}, false); }) == "no error");  // nothing to resume
  CHECK(error_of([&] { DropoutRun<double>(f, {.total_steps = 10, .checkpoint_path = path}); }) == "no error");
  // Names the checkpoint cannot hold, and a null generator.
  CHECK_THAT(error_of([&] { Run<double>(f, {.total_steps = 10, .generators = {{"loader", &other}}}); }),
             Catch::Contains("'loader'") && Catch::Contains("another name"));
  CHECK_THAT(error_of([&] { Run<double>(f, {.total_steps = 10, .generators = {{"", &other}}}); }),
             Catch::Contains("empty name"));
  CHECK_THAT(error_of([&] { Run<double>(f, {.total_steps = 10, .generators = {{"noise", nullptr}}}); }),
             Catch::Contains("'noise' is a null pointer"));

  // DirectoryRun::loop_options passes the generators through.
  const train::DirectoryRun directory_run(train::RunDirectory(directory / "directory"), "{}");
  CHECK(directory_run.loop_options({.generators = {{"noise", &other}}}).generators ==
        train::RunGenerators{{"noise", &other}});

  // A checkpoint saved with a generator, resumed by a loop without it; one saved without, by a loop with one.
  Generator noise(4);
  const auto with_noise = directory / "with_noise.ckpt";
  const auto without = directory / "without.ckpt";
  Run<double>(f, {.total_steps = 15, .checkpoint_path = with_noise, .generators = {{"noise", &noise}}}).loop->run();
  Run<double>(f, {.total_steps = 15, .checkpoint_path = without}).loop->run();
  CHECK(train::load_checkpoint<double>(with_noise).generator("noise") == noise.state());

  Run<double> lacking(f, {.total_steps = 15, .checkpoint_path = with_noise}, 99, 98);
  const auto before = values_of(*lacking.model);
  CHECK_THAT(error_of([&] { lacking.loop->resume_from(with_noise); }),
             Catch::Contains("with_noise.ckpt") && Catch::Contains("holds the state of generator 'noise'") &&
                 Catch::Contains("not given") && Catch::Contains("LoopOptions::generators"));
  CHECK(values_of(*lacking.model) == before);  // refused before anything was restored

  Generator fresh(5);
  Run<double> extra(f, {.total_steps = 15, .checkpoint_path = without, .generators = {{"noise", &fresh}}}, 99, 98);
  const auto extra_before = values_of(*extra.model);
  CHECK_THAT(error_of([&] { extra.loop->resume_from(without); }),
             Catch::Contains("without.ckpt") && Catch::Contains("holds no state of generator 'noise'") &&
                 Catch::Contains("it holds none") && Catch::Contains("start the run again"));
  CHECK(values_of(*extra.model) == extra_before);
  CHECK(fresh.state() == Generator(5).state());
}

TEST_CASE("a run's checkpoints carry its metadata and a chosen best-state file, and another run's are refused",
          "[train][loop][resume]") {
  Fixture f;
  mislabel_a_third(f.validation);
  TempDir directory("train_loop_metadata");
  const auto path = directory / "checkpoint.bin";
  const auto best = directory / "best.bin";
  auto options_with = [&](const std::string& config) {
    return train::LoopOptions{.total_steps = 45,
                              .evaluate_every_steps = 15,
                              .patience = 5,
                              .checkpoint_path = path,
                              .best_state_path = best,
                              .checkpoint_metadata = {{"config", config}}};
  };
  Run<float> first(f, options_with("{\"eta\": 0.1}"));
  const train::Outcome outcome = first.loop->run();
  REQUIRE(outcome.best_step >= 0);
  CHECK(std::filesystem::exists(best));
  CHECK_FALSE(std::filesystem::exists(train::default_best_state_path(path)));
  CHECK(train::load_checkpoint<float>(path).metadata_value("config") == "{\"eta\": 0.1}");
  CHECK(train::load_checkpoint<float>(best).metadata_value("config") == "{\"eta\": 0.1}");

  Run<float> same(f, options_with("{\"eta\": 0.1}"), 99, 98);
  const train::Start<float> start = same.loop->resume_from(path);
  CHECK(start.step == 45);
  CHECK(start.best_step == outcome.best_step);
  CHECK(start.rows == outcome.rows);
  CHECK(values_of(*same.model) == values_of(*first.model));

  Run<float> other(f, options_with("{\"eta\": 0.2}"), 99, 98);
  const auto before = values_of(*other.model);
  CHECK_THROWS_AS(other.loop->resume_from(path), train::ForeignCheckpoint);
  CHECK_THROWS_WITH(
      other.loop->resume_from(path),
      Catch::Contains("checkpoint.bin") && Catch::Contains("'config'") && Catch::Contains("another run") &&
          Catch::Contains("is {\"eta\": 0.1} there but {\"eta\": 0.2} here") && Catch::Contains("start afresh"));
  try {
    other.loop->resume_from(path);
  } catch (const train::ForeignCheckpoint& foreign) {
    CHECK(foreign.key == "config");
    CHECK(foreign.saved == std::optional<std::string>("{\"eta\": 0.1}"));
    CHECK(foreign.expected == "{\"eta\": 0.2}");
  }
  CHECK(values_of(*other.model) == before);  // refused before anything was restored

  // The checkpoint is at step 45: a loop of fewer steps cannot go on from it, and says what to give.
  train::LoopOptions shorter = options_with("{\"eta\": 0.1}");
  shorter.total_steps = 30;
  Run<float> short_run(f, shorter, 99, 98);
  CHECK_THROWS_WITH(short_run.loop->run(short_run.loop->resume_from(path)),
                    Catch::Contains("at step 45, past total_steps 30") && Catch::Contains("at least 45"));
}

TEST_CASE("a resumed run refuses best weights that are missing or of another step", "[train][loop][resume]") {
  Fixture f;
  mislabel_a_third(f.validation);
  TempDir directory("train_loop_best_state");
  const auto path = directory / "run.ckpt";
  auto options_with = [&](int patience) {
    return train::LoopOptions{
        .total_steps = 45, .evaluate_every_steps = 15, .patience = patience, .checkpoint_path = path};
  };

  SECTION("missing: the checkpoint was saved by a run without early stopping") {
    Run<float> first(f, options_with(0));
    first.loop->run();
    REQUIRE_FALSE(std::filesystem::exists(train::default_best_state_path(path)));
    Run<float> resumed(f, options_with(5), 99, 98);
    const train::Start<float> start = resumed.loop->resume_from(path);
    REQUIRE_FALSE(start.rows.empty());
    CHECK_THROWS_WITH(resumed.loop->run(start), Catch::Contains("resuming at step 45") &&
                                                    Catch::Contains("the weights of the best evaluation") &&
                                                    Catch::Contains("are missing"));
  }
  SECTION("of another step: the best-state file was replaced by one of a later step") {
    Run<float> first(f, options_with(5));
    const train::Outcome outcome = first.loop->run();
    REQUIRE(outcome.best_step >= 0);
    const auto best_path = train::default_best_state_path(path);
    auto best = train::load_checkpoint<float>(best_path);
    best.step = outcome.best_step + 1;
    train::save_checkpoint(best_path, best);
    Run<float> resumed(f, options_with(5), 99, 98);
    const train::Start<float> start = resumed.loop->resume_from(path);
    CHECK_THROWS_WITH(
        resumed.loop->run(start),
        Catch::Contains("the saved best weights are those of step " + std::to_string(outcome.best_step + 1)) &&
            Catch::Contains("the best evaluation before that step is step " + std::to_string(outcome.best_step)) &&
            Catch::Contains("start the run again"));
  }
}

TEST_CASE("the default step lends the batch to the model and gives it back unchanged", "[train][loop]") {
  Fixture f;
  auto model = make_model<double>(4);
  optim::SGD<double> sgd(model->parameters(), {.learning_rate = 0.1});
  data::BatchLoader<double> loader(f.train, f.normalizer, {.batch_size = 20, .shuffle = false}, Generator(4));
  Index rows_during_step = -1;
  auto loss = [&](const Tensor<double>& outputs, std::span<const int> labels) {
    rows_during_step = loader.batch().X.rows();  // lent: the loader's own matrix is empty during the step
    return cross_entropy_with_logits(outputs, labels);
  };
  train::Loop<double> loop(*model, sgd, loader, loss, {.total_steps = 1});
  // The gradient the copied batch gives, for comparison.
  data::BatchLoader<double> copy_loader(f.train, f.normalizer, {.batch_size = 20, .shuffle = false}, Generator(4));
  copy_loader.next();
  const Matrix<double> batch = copy_loader.batch().X;
  auto copy_model = make_model<double>(4);
  cross_entropy_with_logits(copy_model->forward(Tensor<double>::from(batch)), copy_loader.batch().labels).backward();
  loop.run();
  CHECK(rows_during_step == 0);
  CHECK(loader.batch().X == batch);  // the batch came back intact
  const auto lent = model->parameters();
  const auto copied = copy_model->parameters();
  for (std::size_t i = 0; i < lent.size(); ++i) CHECK((lent[i].grad() - copied[i].grad()).norm() == 0.0);
}

TEST_CASE("a caller's gradient step replaces the default one", "[train][loop]") {
  Fixture f;
  auto model = make_model<double>(4);
  optim::SGD<double> sgd(model->parameters(), {.learning_rate = 0.5});
  data::BatchLoader<double> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(4));
  int loss_calls = 0;
  auto loss = [&](const Tensor<double>& outputs, std::span<const int> labels) {
    ++loss_calls;
    return cross_entropy_with_logits(outputs, labels);
  };
  train::Loop<double> loop(*model, sgd, loader, loss, {.total_steps = 4});
  int step_calls = 0;
  loop.set_gradient_step([&](data::Batch<double>& batch) {
    ++step_calls;
    CHECK(batch.size() == 20);
    // A gradient of exactly 1 everywhere: each update moves every entry by -learning rate.
    for (const auto& p : model->parameters()) p.mutable_grad() = Matrix<double>::Ones(p.rows(), p.cols());
    return train::StepLoss{.loss = 1.0, .cost = 2.0};
  });
  double reported_cost = 0;
  loop.callbacks().on_step = [&](const train::StepProgress& p) { reported_cost = p.cost; };
  const auto before = values_of(*model);
  const train::Outcome outcome = loop.run();
  CHECK(outcome.steps == 4);
  CHECK(step_calls == 4);
  CHECK(loss_calls == 0);  // the default step (and its loss function) never ran
  CHECK(reported_cost == 2.0);
  const auto after = values_of(*model);
  for (std::size_t i = 0; i < after.size(); ++i) {
    // Four updates of -0.5 each (rounded in four steps, hence the tolerance).
    CHECK((after[i].array() - (before[i].array() - 4 * 0.5)).abs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("bad loop options fail at construction, naming the option", "[train][loop][errors]") {
  Fixture f;
  auto model = make_model<double>(1);
  optim::SGD<double> sgd(model->parameters(), {.learning_rate = 0.1});
  data::BatchLoader<double> loader(f.train, f.normalizer, {.batch_size = 20}, Generator(1));
  const auto loss = cost_function<double>(*model, 0);
  auto error_of = [&](train::LoopOptions options) {
    try {
      train::Loop<double> loop(*model, sgd, loader, loss, std::move(options));
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of({.total_steps = -1}), Catch::Contains("total_steps is -1"));
  CHECK_THAT(error_of({.total_steps = 10, .evaluate_every_steps = -2}), Catch::Contains("evaluate_every_steps"));
  CHECK_THAT(error_of({.total_steps = 10, .patience = -1}), Catch::Contains("patience is -1"));
  CHECK_THAT(error_of({.total_steps = 10, .evaluation_chunk = 0}), Catch::Contains("evaluation_chunk is 0"));
  CHECK_THAT(error_of({.total_steps = 10, .evaluation_steps = {0, 11}}),
             Catch::Contains("evaluation_steps[1] is 11") && Catch::Contains("[0, 10]"));
  CHECK_THAT(error_of({.total_steps = 10, .evaluation_steps = {5, 5}}), Catch::Contains("ascending"));
  CHECK(error_of({.total_steps = 10}) == "no error");
  // The loop's and the loader's own metadata keys are not the caller's to set.
  for (const std::string key : {"train.rows", "loader.position", "train.anything"}) {
    CHECK_THAT(error_of({.total_steps = 10, .checkpoint_metadata = {{key, "1"}}}),
               Catch::Contains("checkpoint_metadata key '" + key + "'"));
  }
  CHECK(error_of({.total_steps = 10, .checkpoint_metadata = {{"trainer.config", "1"}}}) == "no error");
  CHECK_THROWS_WITH(train::Loop<double>(*model, sgd, loader, nullptr, {.total_steps = 1}),
                    Catch::Contains("loss function is empty"));

  // Early stopping without a validation set has nothing to watch.
  train::Loop<double> loop(*model, sgd, loader, loss, {.total_steps = 10, .patience = 2});
  CHECK_THROWS_WITH(loop.run(), Catch::Contains("set_evaluation_data"));
  // A loss that is not 1 x 1.
  train::Loop<double> wide(*model, sgd, loader, [](const Tensor<double>& outputs, std::span<const int>) {
    return outputs;
  }, {.total_steps = 1});
  CHECK_THROWS_WITH(wide.run(), Catch::Contains("(3 x 20)") && Catch::Contains("1 x 1"));
  // The batch lent to the input leaf came back despite the throw: the loader holds its first batch.
  data::BatchLoader<double> copy_loader(f.train, f.normalizer, {.batch_size = 20}, Generator(1));
  copy_loader.next();
  CHECK(loader.batch().X.cols() == 20);
  CHECK(loader.batch().X == copy_loader.batch().X);
}

TEST_CASE("metrics rows read back from their text exactly", "[train][metrics]") {
  std::vector<train::MetricsRow> rows(3);
  rows[0] = {.step = 0, .epoch = 0, .learning_rate = 1e-5, .train = {2.3025850929940455, 2.31, 0.1},
             .validation = {1.0 / 3.0, 0.1 + 0.2, 0.25}};
  rows[1] = {.step = 12345, .epoch = 12345.0 / 7.0, .learning_rate = 0.1,
             .train = {std::numeric_limits<double>::denorm_min(), 1e300, 1.0},
             .validation = {std::numeric_limits<double>::max(), -0.0, 0.5}};
  rows[2].step = 7;
  CHECK(train::decode_metrics_rows(train::encode_metrics_rows(rows)) == rows);
  CHECK(train::decode_metrics_rows("").empty());
  CHECK_THROWS_WITH(train::decode_metrics_rows("1 2 3\n"), Catch::Contains("line 1") && Catch::Contains("field 4"));
  CHECK_THROWS_WITH(train::decode_metrics_rows(train::encode_metrics_rows(rows) + "1 2 3 4 5 6 7 8 9 10\n"),
                    Catch::Contains("line 4") && Catch::Contains("more than 9 fields"));
  // metrics.csv's cells: one per column, each number reading back exactly, in metrics_row_from_fields' order.
  REQUIRE(train::metrics_columns().size() == 9);
  CHECK(train::metrics_columns().front() == "step");
  for (const train::MetricsRow& row : rows) {
    const std::vector<train::CsvCell> cells = train::metrics_cells(row);
    REQUIRE(cells.size() == train::metrics_columns().size());
    std::vector<double> fields;
    for (const auto& cell : cells) fields.push_back(std::strtod(cell.text().c_str(), nullptr));
    CHECK(train::metrics_row_from_fields(fields) == row);
  }
}

TEST_CASE("read_metrics_csv reads metrics.csv back exactly, without a cut-off last line", "[train][metrics]") {
  TempDir directory("metrics_csv");
  const std::filesystem::path path = directory / "metrics.csv";
  std::vector<train::MetricsRow> rows(2);
  rows[0] = {.step = 0, .epoch = 0, .learning_rate = 0.1, .train = {2.302585092994046, 2.4, 0.1},
             .validation = {1.0 / 3.0, 0.1 + 0.2, 0.25}};
  rows[1] = {.step = 100, .epoch = 1, .learning_rate = 1e-5, .train = {1e-300, 1e300, 1}, .validation = {}};
  {
    train::CsvAppender writer = train::CsvAppender::create(path, train::metrics_columns());
    for (const auto& row : rows) writer.append_row(train::metrics_cells(row));
  }
  CHECK(train::read_metrics_csv(path) == rows);
  const std::string text = read_bytes(path);
  write_bytes(path, text + "200,2,0.1,1,2");  // a row cut off by a crash
  CHECK(train::read_metrics_csv(path) == rows);
  write_bytes(path, text + "200,2,0.1,1,2\n");
  CHECK_THROWS_WITH(train::read_metrics_csv(path), Catch::Contains("line 4") && Catch::Contains("5 fields"));
  write_bytes(path, text + "200,2,0.1,1,2,3,4,5,six\n");
  CHECK_THROWS_WITH(train::read_metrics_csv(path), Catch::Contains("line 4") && Catch::Contains("'six'"));
  CHECK_THROWS_WITH(train::read_metrics_csv(directory / "none.csv"), Catch::Contains("none.csv"));
}

TEST_CASE("the loop writes metrics.csv: one row per evaluation, rewritten from a resumed run's checkpoint",
          "[train][loop][metrics]") {
  Fixture f;
  TempDir directory("loop_metrics");
  auto options_with = [&](const std::string& name) {
    return train::LoopOptions{.total_steps = 60,
                              .evaluate_every_steps = 10,
                              .checkpoint_path = directory / (name + ".ckpt"),
                              .metrics_path = directory / (name + ".csv")};
  };
  Run<float> whole(f, options_with("whole"));
  const train::Outcome expected = whole.loop->run();
  REQUIRE(expected.rows.size() == 7);
  CHECK(train::read_metrics_csv(directory / "whole.csv") == expected.rows);
  const std::string whole_text = read_bytes(directory / "whole.csv");
  CHECK(whole_text.rfind("step,epoch,learning_rate,train_loss", 0) == 0);

  // Stopped at step 25; the file then gains a row the checkpoint does not know (as a kill between a row and its
  // checkpoint leaves it) and a damaged line: the resumed run writes the file afresh from the checkpoint's rows.
  {
    Run<float> first(f, options_with("part"));
    long done = 0;
    first.loop->callbacks().on_step = [&](const train::StepProgress& p) { done = p.step; };
    first.loop->callbacks().stop_requested = [&] { return done >= 25; };
    REQUIRE(first.loop->run().steps == 25);
  }
  CHECK(train::read_metrics_csv(directory / "part.csv").size() == 3);
  write_bytes(directory / "part.csv", read_bytes(directory / "part.csv") + "30,x\n1,2");
  Run<float> resumed(f, options_with("part"), 99, 98);
  resumed.loop->run(resumed.loop->resume_from(directory / "part.ckpt"));
  CHECK(read_bytes(directory / "part.csv") == whole_text);
}

TEST_CASE("a metrics row is written before its checkpoint, so it is kept when the checkpoint cannot be written",
          "[train][loop][metrics]") {
  Fixture f;
  TempDir directory("loop_metrics_failed_checkpoint");
  write_bytes(directory / "not_a_directory", "x");
  Run<float> run(f, {.total_steps = 20,
                     .evaluate_every_steps = 10,
                     .checkpoint_path = directory / "not_a_directory" / "checkpoint.bin",
                     .metrics_path = directory / "metrics.csv"});
  CHECK_THROWS(run.loop->run());
  const std::vector<train::MetricsRow> rows = train::read_metrics_csv(directory / "metrics.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].step == 0);
}

TEST_CASE("the loop reports its progress through the caller's log", "[train][loop][progress]") {
  Fixture f;
  std::vector<std::string> lines;
  Run<float> run(f, {.total_steps = 30,
                     .evaluate_every_steps = 15,
                     .progress = train::ProgressOptions{
                         .label = "mlp",
                         .log = [&](const std::string& line) { lines.push_back(line); },
                         .interactive = false}});
  run.loop->run();
  REQUIRE(lines.size() >= 2);
  CHECK_THAT(lines.front(), Catch::Contains("mlp") && Catch::Contains("cost "));
  CHECK_THAT(lines.back(), Catch::Contains("mlp: 30 steps in"));
}

TEST_CASE("differing_entries lists the entries two JSON objects do not share, and describes them",
          "[train][directory_run]") {
  const auto differences = train::differing_entries(R"({"eta": 0.2, "name": "a", "seed": 1})", R"({"eta": 0.1,
      "name": "a", "extra": true})");
  REQUIRE(differences.size() == 2);
  CHECK(differences[0] == train::EntryDifference{"eta", "0.2", "0.1"});
  CHECK(differences[1] == train::EntryDifference{"seed", "1", std::nullopt});
  CHECK(train::describe_differences(differences) ==
        "eta 0.2 here but 0.1 in the directory; seed 1 here but nothing in the directory");
  const auto both = train::differing_entries(R"({"--seed": "2"})", R"({"--seed": "1", "--n": "3"})", true);
  REQUIRE(both.size() == 2);
  CHECK(both[1] == train::EntryDifference{"--n", std::nullopt, "\"3\""});
  CHECK(train::describe_differences(both, {.there = "there", .absent = "(not given)", .quote_text = false}) ==
        "--seed 2 here but 1 there; --n (not given) here but 3 there");
  CHECK(train::differing_entries(R"({"a": [1, 2]})", R"({"a": [1, 2]})").empty());
  CHECK(train::differing_entries(R"({"a": 1})", "[1]").size() == 1);  // not an object: no entries
  CHECK_THROWS_WITH(train::differing_entries("{", "{}"), Catch::Contains("not JSON"));
  CHECK_THROWS_WITH(train::differing_entries("[]", "{}"), Catch::Contains("not a JSON object"));
  // A run's settings are named as DirectoryRun's, and must be an object.
  TempDir directory("directory_run_settings");
  const train::RunDirectory run(directory / "run");
  CHECK_THROWS_WITH(train::DirectoryRun(run, "{"), Catch::StartsWith("DirectoryRun: the run's settings is not JSON"));
  CHECK_THROWS_WITH(train::DirectoryRun(run, "[1]"),
                    Catch::StartsWith("DirectoryRun: the run's settings must be a JSON object"));
}

namespace {

// A loop of the run in `directory` (stopped after `stop_at` steps when >= 0), trained by `run`.
struct DirectoryTraining {
  DirectoryTraining(Fixture& f, const train::DirectoryRun& run, long stop_at = -1, double eta = 0.1)
      : loop(f, run.loop_options({.total_steps = 60, .evaluate_every_steps = 10}), 5, 7, eta) {
    loop.loop->callbacks().on_step = [this](const train::StepProgress& p) { done = p.step; };
    loop.loop->callbacks().stop_requested = [this, stop_at] { return stop_at >= 0 && done >= stop_at; };
  }
  Run<float> loop;
  long done = 0;
};

}  // namespace

TEST_CASE("a run in a directory resumes to the uninterrupted run's files, and a finished one is read back",
          "[train][directory_run]") {
  Fixture f;
  TempDir directory("directory_run");
  const std::string settings = R"({"eta": 0.1, "model": "mlp"})";
  const train::RunDirectory whole_directory(directory / "whole");
  const train::DirectoryRun whole(whole_directory, settings);
  CHECK_FALSE(whole.finished());
  CHECK_FALSE(whole.resumes());
  DirectoryTraining whole_training(f, whole);
  const train::Outcome expected = whole.train(*whole_training.loop.loop);
  CHECK(train::status_of(expected) == std::string("completed"));
  CHECK(train::load_checkpoint<float>(whole_directory.checkpoint_path()).metadata_value("config") == settings);

  // finish() records the outcome in summary.json beside the caller's entries; --resume reads it back.
  const std::string written = whole.finish(expected, R"({"mine": 2})");
  CHECK(read_bytes(whole_directory.summary_path()) == written);
  CHECK_THAT(written, Catch::Contains("\"status\": \"completed\"") && Catch::Contains("\"mine\": 2") &&
                          Catch::Contains("\"epochs\"") && !Catch::Contains("best_step"));
  const train::DirectoryRun read_back(whole_directory, settings, {.resume = true});
  REQUIRE(read_back.finished());
  const train::Outcome& kept = read_back.finished()->outcome;
  CHECK(kept.rows == expected.rows);
  CHECK(kept.steps == expected.steps);
  CHECK(kept.stopped_epoch == expected.stopped_epoch);
  CHECK(kept.train_seconds == expected.train_seconds);
  CHECK(kept.evaluation_seconds == expected.evaluation_seconds);
  CHECK_FALSE(kept.early_stopped);
  CHECK(kept.best_step == -1);
  train::Outcome stopped_early = expected;  // with early stopping, its entries too
  stopped_early.early_stopped = true;
  stopped_early.best_step = 30;
  stopped_early.stopped_epoch = 4.5;
  CHECK_THAT(whole.finish(stopped_early),
             Catch::Contains("\"status\": \"early_stopped\"") && Catch::Contains("\"best_step\": 30"));
  const train::DirectoryRun early(whole_directory, settings, {.resume = true});
  REQUIRE(early.finished());
  CHECK(early.finished()->outcome.early_stopped);
  CHECK(early.finished()->outcome.best_step == 30);
  CHECK(early.finished()->outcome.stopped_epoch == 4.5);

  const train::RunDirectory run_directory(directory / "run");
  {
    const train::DirectoryRun first(run_directory, settings, {.name = "mlp", .resume = true});
    DirectoryTraining stopped(f, first, 25);
    try {
      first.train(*stopped.loop.loop, [](const train::Outcome&) { return std::string(R"({"mine": 1})"); });
      FAIL("a stopped run throws");
    } catch (const train::RunInterrupted& interrupted) {
      CHECK(interrupted.step == 25);
      CHECK(interrupted.total_steps == 60);
      CHECK_THAT(interrupted.what(), Catch::StartsWith("mlp: interrupted at step 25 of 60"));
    }
  }
  const std::string summary = read_bytes(run_directory.summary_path());
  CHECK_THAT(summary, Catch::Contains("\"status\": \"interrupted\"") && Catch::Contains("\"mine\": 1") &&
                          Catch::Contains("\"steps\": 25") && Catch::Contains("\"train_seconds\""));

  std::vector<std::string> log;
  const train::DirectoryRun resumed(run_directory, settings,
                                    {.name = "mlp", .resume = true, .log = [&](const std::string& line) {
                                       log.push_back(line);
                                     }});
  CHECK(resumed.resumes());
  DirectoryTraining rest(f, resumed);
  const train::Outcome outcome = resumed.train(*rest.loop.loop);
  CHECK(outcome.rows == expected.rows);
  CHECK(read_bytes(run_directory.metrics_path()) == read_bytes(whole_directory.metrics_path()));
  CHECK(read_bytes(run_directory.checkpoint_path()) == read_bytes(whole_directory.checkpoint_path()));
  REQUIRE(log.size() == 1);
  CHECK_THAT(log[0], Catch::StartsWith("mlp: resuming at step 25 from"));

  // Finished: read back from summary.json and metrics.csv, without the checkpoint.
  write_bytes(run_directory.summary_path(), R"({"status": "completed", "steps": 60})");
  std::filesystem::remove(run_directory.checkpoint_path());
  const train::DirectoryRun finished(run_directory, settings, {.resume = true});
  REQUIRE(finished.finished());
  CHECK(finished.finished()->rows == expected.rows);
  CHECK_THAT(finished.finished()->summary, Catch::Contains("\"steps\":60"));
  // Without resume the same directory starts afresh.
  CHECK_FALSE(train::DirectoryRun(run_directory, settings).finished());
}

TEST_CASE("a run in a directory refuses other settings, a diverged run and files it cannot use",
          "[train][directory_run][errors]") {
  Fixture f;
  TempDir directory("directory_run_refusals");
  const train::RunDirectory run_directory(directory / "run");
  const std::string settings = R"({"eta": 0.1})";
  const auto refusal = [&](const std::string& other) -> std::optional<train::RunSettingsDiffer> {
    try {
      const train::DirectoryRun run(run_directory, other, {.resume = true});
      DirectoryTraining training(f, run);
      run.train(*training.loop.loop);
    } catch (const train::RunSettingsDiffer& differ) {
      return differ;
    }
    return std::nullopt;
  };
  {
    const train::DirectoryRun first(run_directory, settings);
    DirectoryTraining stopped(f, first, 15);
    CHECK_THROWS_AS(first.train(*stopped.loop.loop), train::RunInterrupted);
  }
  // By config.json, before anything is built.
  write_bytes(run_directory.config_path(), R"({"eta": 0.1, "threads": 4})");
  const auto by_config = refusal(R"({"eta": 0.2})");
  REQUIRE(by_config);
  CHECK(by_config->directory == run_directory.root());
  CHECK(by_config->differences == std::vector<train::EntryDifference>{{"eta", "0.2", "0.1"}});
  CHECK_THAT(by_config->what(), Catch::Contains("other settings (eta 0.2 here but 0.1 in the directory)"));
  // Without config.json, by the checkpoint's record of the settings.
  std::filesystem::remove(run_directory.config_path());
  const auto by_checkpoint = refusal(R"({"eta": 0.2})");
  REQUIRE(by_checkpoint);
  CHECK(by_checkpoint->differences == std::vector<train::EntryDifference>{{"eta", "0.2", "0.1"}});

  const auto unusable = [&](std::function<void()> attempt) -> std::optional<train::RunFileUnusable> {
    try {
      attempt();
    } catch (const train::RunFileUnusable& error) {
      return error;
    }
    return std::nullopt;
  };
  const auto resume = [&] {
    const train::DirectoryRun run(run_directory, settings, {.resume = true});
    DirectoryTraining training(f, run);
    run.train(*training.loop.loop);
  };
  write_bytes(run_directory.config_path(), "{\"eta\": ");
  const auto config = unusable(resume);
  REQUIRE(config);
  CHECK(config->kind == train::RunFile::config);
  CHECK_THAT(config->what(), Catch::Contains("config.json") && Catch::Contains("not valid JSON"));
  std::filesystem::remove(run_directory.config_path());
  const std::string checkpoint = read_bytes(run_directory.checkpoint_path());
  write_bytes(run_directory.checkpoint_path(), checkpoint.substr(0, checkpoint.size() / 2));
  const auto damaged = unusable(resume);
  REQUIRE(damaged);
  CHECK(damaged->kind == train::RunFile::checkpoint);
  write_bytes(run_directory.summary_path(), R"({"status": "completed"})");
  write_bytes(run_directory.metrics_path(), "step\n1,x\n");
  const auto metrics = unusable(resume);
  REQUIRE(metrics);
  CHECK(metrics->kind == train::RunFile::metrics);
  CHECK_THAT(metrics->reason, Catch::Contains("line 2"));

  // Diverging now: summary.json says so, and then so does the refusal to resume it.
  const train::RunDirectory diverging_directory(directory / "diverging");
  const train::DirectoryRun diverging(diverging_directory, settings, {.name = "big"});
  DirectoryTraining big_steps(f, diverging, -1, 1e39);
  try {
    diverging.train(*big_steps.loop.loop);
    FAIL("a diverging run throws");
  } catch (const train::RunDiverged& diverged) {
    CHECK_FALSE(diverged.before);
    CHECK_THAT(diverged.divergence, Catch::Contains("training diverged at step 1"));
    CHECK_THAT(diverged.what(), Catch::StartsWith("big: training diverged") && Catch::Contains("metrics so far"));
  }
  CHECK_THAT(read_bytes(diverging_directory.summary_path()), Catch::Contains("\"status\": \"diverged\""));
  try {
    const train::DirectoryRun again(diverging_directory, settings, {.name = "big", .resume = true});
    FAIL("a diverged run is refused");
  } catch (const train::RunDiverged& diverged) {
    CHECK(diverged.before);
    CHECK_THAT(diverged.what(), Catch::Contains("diverged before; resuming would repeat it"));
  }
}
