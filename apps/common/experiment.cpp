#include "apps/common/experiment.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "apps/common/app_error.h"
#include "apps/common/experiment_report.h"
#include <tapegrad/nn/train/progress.h>
#include "apps/common/resume_state.h"
#include "apps/common/run_info.h"
#include "apps/common/threads.h"
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/train/run_checkpoint.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>
#include <tapegrad/nn/train/curves.h>
#include <tapegrad/nn/train/stop_signal.h>
#include <tapegrad/nn/train/csv.h>

// run_experiment in its steps: plan (the model, optimizer, schedule and loader the settings ask for), resume
// (resume_state.cpp), train, evaluate, report (experiment_report.cpp).
namespace tapegrad::apps {

using train::CsvAppender;
using train::CsvCell;
namespace {

using Clock = std::chrono::steady_clock;

std::vector<CsvCell> metrics_cells(const MetricsRow& row) {
  return {CsvCell(static_cast<long long>(row.step)), CsvCell(row.epoch),         CsvCell(row.learning_rate),
          CsvCell(row.train.loss),                   CsvCell(row.train.cost),    CsvCell(row.train.accuracy),
          CsvCell(row.validation.loss),              CsvCell(row.validation.cost), CsvCell(row.validation.accuracy)};
}

std::unique_ptr<optim::LearningRateSchedule> make_schedule(const ExperimentSettings& s, long steps_per_epoch) {
  switch (s.schedule) {
    case ScheduleKind::constant:
      return std::make_unique<optim::ConstantLR>(s.eta);
    case ScheduleKind::step_decay:
      return std::make_unique<optim::StepDecayLR>(
          optim::StepDecayLR::from_epochs(s.eta, s.decay_factor, s.decay_every_epochs, steps_per_epoch));
    case ScheduleKind::cyclic:
      return std::make_unique<optim::CyclicLR>(optim::CyclicLROptions{s.eta_min, s.eta_max, s.n_s});
  }
  return nullptr;
}

template <typename T>
train::Checkpoint<T> capture(const Classifier<T>& model, const optim::Optimizer<T>& optimizer,
                             const data::BatchLoader<T>& loader, long step, double epoch, const nlohmann::json& key) {
  train::Checkpoint<T> checkpoint = train::capture_run(model.module(), optimizer, loader, step, epoch);
  checkpoint.metadata["config"] = key.dump();
  return checkpoint;
}

// Plan: what one run trains, built from its settings.
template <typename T>
struct PlannedRun {
  std::unique_ptr<Classifier<T>> model;
  std::unique_ptr<optim::SGD<T>> optimizer;
  std::unique_ptr<optim::LearningRateSchedule> schedule;
  std::unique_ptr<data::BatchLoader<T>> loader;
  TrainingPlan plan;
};

template <typename T>
std::unique_ptr<Classifier<T>> make_model(const ExperimentSettings& s, const data::ImageDataset& train_set,
                                          Generator& generator) {
  const Index features = train_set.shape.features();
  const Index classes = train_set.num_classes();
  if (s.model == ModelKind::two_layer) return make_two_layer_network<T>(features, s.hidden, classes, generator);
  return make_linear_classifier<T>(features, classes, s.loss, s.init_std, generator);
}

template <typename T>
PlannedRun<T> plan_run(const ExperimentSettings& s, const ExperimentData& d) {
  const data::ImageDataset& train_set = *d.train;
  const long steps_per_epoch = s.steps_per_epoch(train_set.size());
  // The product thread count is process-wide: trials of a sweep (all single-threaded) leave it alone.
  if (product_thread_count() != s.threads) set_thread_count(s.threads);
  Generator generator(s.seed);
  PlannedRun<T> run;
  run.model = make_model<T>(s, train_set, generator);
  std::vector<Tensor<T>> trained_parameters;
  for (const auto& p : run.model->module().named_parameters()) {
    if (s.use_bias || nn::is_weight_name(p.name)) {
      trained_parameters.push_back(p.tensor);
    } else {
      p.tensor.mutable_value().setZero();
    }
  }
  run.optimizer = std::make_unique<optim::SGD<T>>(
      trained_parameters, optim::SGDOptions{.learning_rate = s.schedule == ScheduleKind::cyclic ? s.eta_min : s.eta});
  run.schedule = make_schedule(s, steps_per_epoch);
  run.loader = std::make_unique<data::BatchLoader<T>>(
      train_set, d.normalizer,
      data::BatchLoaderOptions{.batch_size = s.batch_size, .shuffle = s.shuffle, .flip_probability = s.flip_probability},
      generator.split(1));
  run.plan.loop.total_steps = s.planned_steps(train_set.size());
  run.plan.loop.evaluate_every_steps = s.evaluate_every_steps > 0 ? s.evaluate_every_steps : steps_per_epoch;
  run.plan.loop.evaluate_at_start = s.evaluate_at_start;
  run.plan.lambda = s.lambda;
  run.plan.path = s.path;
  run.plan.loop.patience = s.patience;
  return run;
}

// A fresh run records its settings first (a resumed one keeps the config.json it has).
void write_config(const ExperimentSettings& s, const ExperimentData& d, const nlohmann::json& key,
                  const RunDirectory& directory) {
  nlohmann::json config = key;
  config["threads"] = s.threads;
  config["steps_per_epoch"] = s.steps_per_epoch(d.train->size());
  config["planned_steps"] = s.planned_steps(d.train->size());  // "total_steps" is the setting (0: from the epochs)
  config["build"] = build_info_json();
  config["written_at"] = utc_timestamp();
  write_run_config(directory, config);
}

// Train: from the start or the checkpoint, a metrics.csv row and a checkpoint at every evaluation.
template <typename T>
TrainingOutcome train_run(PlannedRun<T>& run, const ExperimentSettings& s, const ExperimentData& d,
                          const nlohmann::json& key, const ResumePoint<T>& resume, const RunDirectory& directory) {
  Classifier<T>& model = *run.model;
  train::Start<T> start;
  if (resume.checkpoint) start = restore_run(*resume.checkpoint, s, directory, model, *run.optimizer, *run.loader);
  // A resumed run keeps the rows up to its checkpoint and drops any written after it.
  CsvAppender metrics = resume.checkpoint
                            ? CsvAppender::resume(directory.metrics_path(), kMetricsColumns, start.rows.size())
                            : CsvAppender::create(directory.metrics_path(), kMetricsColumns);
  std::unique_ptr<train::ProgressReporter> progress;
  if (s.show_progress) {
    const auto steps_left = static_cast<std::size_t>(run.plan.loop.total_steps - start.step);
    const auto log = [](const std::string& line) { spdlog::info(line); };
    progress = std::make_unique<train::ProgressReporter>(
        steps_left, train::ProgressOptions{.label = s.name, .unit = "steps", .log = log});
  }
  train::Callbacks callbacks;
  callbacks.on_step = [&](const train::StepProgress& step) {
    if (progress) {
      progress->set_status(fmt::format("cost {:.4f}", step.cost));
      progress->advance();
    }
  };
  callbacks.on_new_best = [&](long step) {
    // Early stopping puts these weights back at the end, so a resumed run needs them too.
    if (s.save_checkpoint) {
      train::Checkpoint<T> best;
      best.module_state = train::capture_module_state(model.module());
      best.step = step;
      best.metadata["config"] = key.dump();
      train::save_checkpoint(directory.root() / "best.bin", best);
    }
  };
  callbacks.on_evaluation = [&](const MetricsRow& row) {
    metrics.append_row(metrics_cells(row));
    // The last good state: a later divergence leaves this checkpoint in place.
    if (s.save_checkpoint) {
      train::save_checkpoint(directory.checkpoint_path(), capture(model, *run.optimizer, *run.loader, row.step, row.epoch, key));
    }
  };
  callbacks.stop_requested = train::stop_requested;
  TrainingOutcome outcome =
      train(model, *run.optimizer, *run.schedule, *run.loader, *d.train, *d.validation, d.normalizer, run.plan, callbacks,
            start);
  outcome.train_seconds += resume.earlier_train_seconds;
  if (progress) progress->finish();
  metrics.close();
  return outcome;
}

// A run that diverged or was interrupted keeps what it wrote, says so in summary.json, and ends with the error.
template <typename T>
[[noreturn]] void end_unfinished(const PlannedRun<T>& run, const ExperimentSettings& s, const TrainingOutcome& outcome,
                                 nlohmann::json summary, const nlohmann::json& key, const RunDirectory& directory) {
  summary["status"] = outcome.diverged ? "diverged" : "interrupted";
  summary["message"] = outcome.diverged ? outcome.divergence : "stopped by a signal";
  if (outcome.interrupted && s.save_checkpoint) {
    train::save_checkpoint(directory.checkpoint_path(),
                           capture(*run.model, *run.optimizer, *run.loader, outcome.steps, outcome.stopped_epoch, key));
  }
  directory.write_summary(summary);
  if (outcome.diverged) {
    throw Diverged(fmt::format("{}: {}; metrics so far are in {} and the last good checkpoint in {}", s.name,
                               outcome.divergence, directory.metrics_path().string(),
                               directory.checkpoint_path().string()));
  }
  throw Interrupted(fmt::format("{}: interrupted at step {} of {}; checkpoint saved in {}", s.name, outcome.steps,
                                run.plan.loop.total_steps, directory.checkpoint_path().string()));
}

// Evaluate: the three splits, and each weight matrix's L2 norm.
template <typename T>
DetailedEvaluation evaluate_run(const Classifier<T>& model, const ExperimentSettings& s, const ExperimentData& d,
                                ExperimentResult& result) {
  DetailedEvaluation test = evaluate_detailed(model, *d.test, d.normalizer, s.lambda);
  result.train = evaluate(model, *d.train, d.normalizer, s.lambda);
  result.validation = evaluate(model, *d.validation, d.normalizer, s.lambda);
  result.test = test.summary;
  for (const auto& p : model.module().named_parameters()) {
    if (nn::is_weight_name(p.name)) result.weight_norms.push_back(double(p.tensor.value().template cast<double>().norm()));
  }
  return test;
}

template <typename T>
ExperimentResult run_typed(const ExperimentSettings& s, const ExperimentData& d, const RunDirectory& directory) {
  const auto wall_start = Clock::now();
  const auto wall_seconds = [&] { return std::chrono::duration<double>(Clock::now() - wall_start).count(); };
  const nlohmann::json key = resume_key(s, d);
  const ResumePoint<T> resume = resume_mode() ? find_resume_point<T>(s, key, directory) : ResumePoint<T>{};
  if (resume.finished) return *resume.finished;
  if (!resume.checkpoint) write_config(s, d, key, directory);

  PlannedRun<T> run = plan_run<T>(s, d);
  const TrainingOutcome outcome = train_run(run, s, d, key, resume, directory);
  ExperimentResult result;
  result.settings = s;
  result.outcome = outcome;
  result.directory = directory.root();
  if (!outcome.rows.empty()) {
    train::save_training_curves(outcome.rows, directory.root(),
                                {.title = s.name,
                                 .against_steps = s.evaluate_every_steps > 0,
                                 .always_plot_rate = s.schedule != ScheduleKind::constant});
  }
  nlohmann::json summary = run_summary(s, d, outcome, resume.checkpoint.has_value());
  if (outcome.diverged || outcome.interrupted) {
    summary["wall_seconds"] = wall_seconds();
    end_unfinished(run, s, outcome, summary, key, directory);
  }

  const DetailedEvaluation test = evaluate_run(*run.model, s, d, result);
  plot_run(s, *run.model, *d.train, *d.test, test, directory);
  if (s.save_checkpoint) {
    train::save_checkpoint(directory.checkpoint_path(),
                           capture(*run.model, *run.optimizer, *run.loader, outcome.steps, outcome.stopped_epoch, key));
  }
  save_model_file(*run.model, d.normalizer, *d.train, s, directory);
  add_results(summary, result);
  summary["wall_seconds"] = wall_seconds();
  directory.write_summary(summary);
  result.summary = summary;
  spdlog::info("{}: train {:.2f}%  validation {:.2f}%  test {:.2f}%  ({} steps, {:.1f} s training)", s.name,
               100 * result.train.accuracy, 100 * result.validation.accuracy, 100 * result.test.accuracy,
               outcome.steps, outcome.train_seconds);
  return result;
}

}  // namespace

ExperimentData experiment_data(const ImageSplits& splits, data::Normalizer normalizer) {
  return {.train = &splits.train,
          .validation = &splits.validation,
          .test = &splits.test,
          .normalizer = std::move(normalizer),
          .description = splits.description};
}

const char* to_string(ModelKind kind) { return kind == ModelKind::linear ? "linear" : "two_layer"; }

const char* to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant:
      return "constant";
    case ScheduleKind::step_decay:
      return "step_decay";
    case ScheduleKind::cyclic:
      return "cyclic";
  }
  return "?";
}

long ExperimentSettings::steps_per_epoch(long training_examples) const {
  return std::max<long>(1, (training_examples + batch_size - 1) / batch_size);
}

long ExperimentSettings::planned_steps(long training_examples) const {
  if (schedule == ScheduleKind::cyclic && total_steps == 0) return 2 * n_s * cycles;
  if (total_steps > 0) return total_steps;
  return static_cast<long>(epochs) * steps_per_epoch(training_examples);
}

void ExperimentSettings::validate() const {
  auto fail = [&](const std::string& what) { throw UsageError(fmt::format("{}: {}", name, what)); };
  if (!(std::isfinite(eta) && eta > 0)) fail(fmt::format("--eta must be > 0, got {}", eta));
  if (!(std::isfinite(lambda) && lambda >= 0)) fail(fmt::format("--lambda must be >= 0, got {}", lambda));
  if (batch_size < 1) fail(fmt::format("--batch-size must be >= 1, got {}", batch_size));
  if (epochs < 1 && total_steps <= 0 && schedule != ScheduleKind::cyclic)
    fail(fmt::format("--epochs must be >= 1, got {}", epochs));
  if (hidden < 1) fail(fmt::format("--hidden must be >= 1, got {}", hidden));
  if (schedule == ScheduleKind::cyclic) {
    if (!(eta_min >= 0 && eta_max >= eta_min)) fail(fmt::format("need 0 <= eta_min <= eta_max, got {} and {}", eta_min, eta_max));
    if (n_s < 1) fail(fmt::format("--n-s must be >= 1, got {}", n_s));
    if (cycles < 1) fail(fmt::format("--cycles must be >= 1, got {}", cycles));
  }
  if (!(flip_probability >= 0 && flip_probability <= 1))
    fail(fmt::format("the flip probability must be in [0, 1], got {}", flip_probability));
  if (threads < 1) fail(fmt::format("--threads must be >= 1, got {}", threads));
}

nlohmann::json ExperimentSettings::to_json() const {
  return {{"name", name},
          {"model", to_string(model)},
          {"loss", to_string(loss)},
          {"hidden", hidden},
          {"init_std", init_std},
          {"eta", eta},
          {"lambda", lambda},
          {"batch_size", batch_size},
          {"epochs", epochs},
          {"total_steps", total_steps},
          {"grad", to_string(path)},
          {"schedule", to_string(schedule)},
          {"decay_factor", decay_factor},
          {"decay_every_epochs", decay_every_epochs},
          {"eta_min", eta_min},
          {"eta_max", eta_max},
          {"n_s", n_s},
          {"cycles", cycles},
          {"flip_probability", flip_probability},
          {"shuffle", shuffle},
          {"bias", use_bias},
          {"evaluate_every_steps", evaluate_every_steps},
          {"patience", patience},
          {"dtype", use_double ? "double" : "float"},
          {"seed", seed},
          {"threads", threads}};
}

void check_bounds(const ExperimentSettings& s, long max_training_examples, long features, long classes,
                  const ExperimentFlags& flags, long runs_at_once) {
  const Amount examples(std::max(1L, max_training_examples));
  const Amount steps_per_epoch = std::max(Amount(1), divide_rounding_up(examples, Amount(s.batch_size)));
  Amount steps;
  if (s.schedule == ScheduleKind::cyclic && s.total_steps == 0) {
    steps = Amount(2) * Amount(s.n_s) * Amount(s.cycles);
  } else if (s.total_steps > 0) {
    steps = Amount(s.total_steps);
  } else {
    steps = Amount(s.epochs) * steps_per_epoch;
  }
  const ResourceEstimate limits;
  limits.require_steps(steps, flags.steps);
  const Amount every = s.evaluate_every_steps > 0 ? Amount(s.evaluate_every_steps) : steps_per_epoch;
  const Amount points = divide_rounding_up(steps, every) + Amount(1);
  limits.require_evaluation_points(points, flags.evaluations);

  const Amount scalar(s.use_double ? 8 : 4);
  const Amount at_once(std::max(1L, runs_at_once));
  const Amount hidden(s.model == ModelKind::two_layer ? s.hidden : 0);
  const Amount inputs(features);
  const Amount outputs(classes);
  const Amount parameters = s.model == ModelKind::two_layer
                                ? hidden * inputs + hidden + outputs * hidden + outputs
                                : outputs * inputs + outputs;
  // Values, gradients, the checkpoint's copy and its serialised bytes, the best weights: about six copies.
  const Amount model_bytes = parameters * scalar * Amount(6) * at_once;
  // A batch is never larger than the training set; per example the input (and its normalised copy), the hidden
  // activations with their gradients and mask, the scores and their gradients.
  const Amount batch = std::min(Amount(s.batch_size), examples);
  const Amount per_example = Amount(2) * inputs + Amount(4) * hidden + Amount(4) * outputs;
  const Amount batch_bytes = batch * per_example * scalar * at_once;
  FlagValues batch_flags = flags.batch;
  if (s.model == ModelKind::two_layer) batch_flags.insert(batch_flags.end(), flags.model.begin(), flags.model.end());

  ResourceEstimate memory;
  memory.add_memory(model_bytes, "the model's weights, gradients and saved copies", flags.model);
  memory.add_memory(batch_bytes, "a batch and what the model computes on it", batch_flags);
  memory.add_memory(points * Amount(kBytesPerEvaluationPoint) * at_once, "the evaluation points kept",
                    flags.evaluations);
  memory.check_memory();

  // On disk: checkpoint.bin (the weights and the evaluation rows) twice during its replacement, and best.bin.
  const Amount weights = parameters * scalar;
  const Amount checkpoint = weights + points * Amount(kBytesPerEvaluationPoint);
  FlagValues disk_flags = flags.model;
  disk_flags.insert(disk_flags.end(), flags.evaluations.begin(), flags.evaluations.end());
  note_checkpoint_bytes((Amount(2) * checkpoint + weights) * at_once, std::move(disk_flags));
}

ExperimentResult run_experiment(const ExperimentSettings& settings, const ExperimentData& data,
                                const RunDirectory& directory) {
  settings.validate();
  if (data.train == nullptr || data.validation == nullptr || data.test == nullptr || data.train->size() == 0) {
    throw DataError(fmt::format("{}: no training data", settings.name));
  }
  return settings.use_double ? run_typed<double>(settings, data, directory)
                             : run_typed<float>(settings, data, directory);
}

}  // namespace tapegrad::apps
