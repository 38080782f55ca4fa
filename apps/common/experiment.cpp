#include "apps/common/experiment.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "apps/common/app_error.h"
#include "apps/common/experiment_report.h"
#include "apps/common/hints.h"
#include "apps/common/run_info.h"
#include "apps/common/shard.h"
#include "apps/common/threads.h"
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/train/csv.h>
#include <tapegrad/nn/train/curves.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/stop_signal.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>

// run_experiment: the model, optimizer, schedule and loader the settings ask for, trained by the library's loop
// (which saves checkpoint.bin, best.bin and resumes from them), then the report (experiment_report.cpp).
namespace tapegrad::apps {
namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> resume_flag{false};

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

// What a run directory must match to be resumed or reused: the settings that decide the numbers (not the thread
// count, not where the output goes) and the data they were computed on.
nlohmann::json resume_key(const ExperimentSettings& s, const ExperimentData& d) {
  nlohmann::json key = s.to_json();
  key.erase("threads");
  key["data"] = d.description;
  key["train_examples"] = d.train->size();
  key["validation_examples"] = d.validation->size();
  key["test_examples"] = d.test->size();
  return key;
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

// What one run trains, built from its settings, and the loop that trains it.
template <typename T>
struct PlannedRun {
  Classifier<T> model;
  std::unique_ptr<optim::SGD<T>> optimizer;
  std::unique_ptr<optim::LearningRateSchedule> schedule;
  std::unique_ptr<data::BatchLoader<T>> loader;
  std::unique_ptr<train::Loop<T>> loop;
};

template <typename T>
void plan_run(PlannedRun<T>& run, const ExperimentSettings& s, const ExperimentData& d, const nlohmann::json& key,
              const RunDirectory& directory) {
  const data::ImageDataset& train_set = *d.train;
  const long steps_per_epoch = s.steps_per_epoch(train_set.size());
  // The product thread count is process-wide: trials of a sweep (all single-threaded) leave it alone.
  if (product_thread_count() != s.threads) set_thread_count(s.threads);
  Generator generator(s.seed);
  const Index features = train_set.shape.features();
  run.model = s.model == ModelKind::two_layer
                  ? make_two_layer_network<T>(features, s.hidden, train_set.num_classes(), s.lambda, generator)
                  : make_linear_classifier<T>(features, train_set.num_classes(), s.loss, s.init_std, s.lambda,
                                              generator);
  std::vector<Tensor<T>> trained_parameters;
  for (const auto& p : run.model.network->named_parameters()) {
    if (s.use_bias || nn::is_weight_name(p.name)) trained_parameters.push_back(p.tensor);
    else p.tensor.mutable_value().setZero();
  }
  run.optimizer = std::make_unique<optim::SGD<T>>(
      trained_parameters, optim::SGDOptions{.learning_rate = s.schedule == ScheduleKind::cyclic ? s.eta_min : s.eta});
  run.schedule = make_schedule(s, steps_per_epoch);
  run.loader = std::make_unique<data::BatchLoader<T>>(
      train_set, d.normalizer,
      data::BatchLoaderOptions{.batch_size = s.batch_size, .shuffle = s.shuffle, .flip_probability = s.flip_probability},
      generator.split(1));
  train::LoopOptions options{.total_steps = s.planned_steps(train_set.size()),
                             .evaluate_every_steps = s.evaluate_every_steps > 0 ? s.evaluate_every_steps : steps_per_epoch,
                             .evaluate_at_start = s.evaluate_at_start,
                             .patience = s.patience};
  if (s.save_checkpoint) {
    options.checkpoint_path = directory.checkpoint_path();
    options.best_state_path = directory.root() / "best.bin";
    options.checkpoint_metadata["config"] = key.dump();
  }
  run.loop = std::make_unique<train::Loop<T>>(make_loop(run.model, *run.optimizer, *run.loader, options, s.path));
  run.loop->set_schedule(*run.schedule).set_evaluation_data(train_set, *d.validation);
}

// Where the run starts: its checkpoint's state (a damaged or foreign checkpoint is a Failure with the hint that
// says how to go on), or the beginning.
template <typename T>
train::Start<T> resume_point(train::Loop<T>& loop, const RunDirectory& directory, bool from_checkpoint) {
  if (!from_checkpoint) return {};
  try {
    train::Start<T> start = loop.resume_from(directory.checkpoint_path());
    start.restart_advice = "start the run again without --resume";
    return start;
  } catch (const AppError&) {
    throw;
  } catch (const Error& error) {
    throw Failure(error.what(), hints::damaged_checkpoint);
  }
}

// Train: metrics.csv holds the rows so far (a resumed run's rewritten from its checkpoint, so that rows written
// after it, or a damaged file, are replaced) and gets a row at every evaluation.
template <typename T>
TrainingOutcome train_run(PlannedRun<T>& run, const ExperimentSettings& s, const train::Start<T>& start,
                          const RunDirectory& directory) {
  train::CsvAppender metrics = train::CsvAppender::create(directory.metrics_path(), train::metrics_columns());
  for (const MetricsRow& row : start.rows) metrics.append_row(train::metrics_cells(row));
  std::unique_ptr<train::ProgressReporter> progress;
  if (s.show_progress) {
    const auto steps_left = static_cast<std::size_t>(run.loop->options().total_steps - start.step);
    const auto log = [](const std::string& line) { spdlog::info(line); };
    progress = std::make_unique<train::ProgressReporter>(
        steps_left, train::ProgressOptions{.label = s.name, .unit = "steps", .log = log});
  }
  train::Callbacks& callbacks = run.loop->callbacks();
  callbacks.on_step = [&](const train::StepProgress& step) {
    if (!progress) return;
    progress->set_status(fmt::format("cost {:.4f}", step.cost));
    progress->advance();
  };
  callbacks.on_evaluation = [&](const MetricsRow& row) { metrics.append_row(train::metrics_cells(row)); };
  callbacks.stop_requested = train::stop_requested;
  const TrainingOutcome outcome = run.loop->run(start);
  if (progress) progress->finish();
  metrics.close();
  return outcome;
}

// A run that diverged or was interrupted keeps what it wrote (the loop kept the last good checkpoint, or saved
// the interrupted state), says so in summary.json, and ends with the error.
[[noreturn]] void end_unfinished(const ExperimentSettings& s, const TrainingOutcome& outcome, long total_steps,
                                 nlohmann::json summary, const RunDirectory& directory) {
  summary["status"] = outcome.diverged ? "diverged" : "interrupted";
  summary["message"] = outcome.diverged ? outcome.divergence : "stopped by a signal";
  directory.write_summary(summary);
  if (outcome.diverged) {
    throw Diverged(fmt::format("{}: {}; metrics so far are in {} and the last good checkpoint in {}", s.name,
                               outcome.divergence, directory.metrics_path().string(),
                               directory.checkpoint_path().string()));
  }
  throw Interrupted(fmt::format("{}: interrupted at step {} of {}; checkpoint saved in {}", s.name, outcome.steps,
                                total_steps, directory.checkpoint_path().string()));
}

// Evaluate: the three splits, and each weight matrix's L2 norm.
template <typename T>
void evaluate_run(Classifier<T>& model, const ExperimentData& d, ExperimentResult& result) {
  const auto cost = [&model](const Tensor<T>& scores, std::span<const int> labels) {
    return model.cost(scores, labels);
  };
  const auto penalty = [&model] { return model.penalty(); };
  result.train = train::evaluate_module<T>(*model.network, *d.train, d.normalizer, cost, 2000, penalty);
  result.validation = train::evaluate_module<T>(*model.network, *d.validation, d.normalizer, cost, 2000, penalty);
  result.test = train::evaluate_module<T>(*model.network, *d.test, d.normalizer, cost, 2000, penalty);
  for (const auto& layer : model.layers) {
    result.weight_norms.push_back(layer->weight().value().template cast<double>().norm());
  }
}

template <typename T>
ExperimentResult run_typed(const ExperimentSettings& s, const ExperimentData& d, const RunDirectory& directory) {
  const auto wall_start = Clock::now();
  const auto wall_seconds = [&] { return std::chrono::duration<double>(Clock::now() - wall_start).count(); };
  const nlohmann::json key = resume_key(s, d);
  std::optional<nlohmann::json> previous;
  bool from_checkpoint = false;
  if (resume_mode()) {
    check_same_run(key, directory);
    previous = previous_summary(s, directory);
    std::error_code error;
    from_checkpoint = s.save_checkpoint && std::filesystem::is_regular_file(directory.checkpoint_path(), error);
  }
  if (!from_checkpoint && !(previous && finished(*previous))) write_config(s, d, key, directory);

  PlannedRun<T> run;
  plan_run(run, s, d, key, directory);
  const train::Start<T> start = resume_point(*run.loop, directory, from_checkpoint);
  if (previous && finished(*previous)) return finished_run(s, directory, *previous, start.rows);
  if (from_checkpoint) spdlog::info("{}: resuming at step {} from {}", s.name, start.step, directory.checkpoint_path().string());
  TrainingOutcome outcome = train_run(run, s, start, directory);
  if (previous) outcome.train_seconds += previous->value("train_seconds", 0.0);
  if (!outcome.rows.empty()) {
    train::save_training_curves(outcome.rows, directory.root(),
                                {.title = s.name,
                                 .against_steps = s.evaluate_every_steps > 0,
                                 .always_plot_rate = s.schedule != ScheduleKind::constant});
  }
  nlohmann::json summary = run_summary(s, d, outcome, from_checkpoint);
  if (outcome.diverged || outcome.interrupted) {
    summary["wall_seconds"] = wall_seconds();
    end_unfinished(s, outcome, run.loop->options().total_steps, summary, directory);
  }

  ExperimentResult result;
  result.settings = s;
  result.outcome = outcome;
  result.directory = directory.root();
  evaluate_run(run.model, d, result);
  plot_run(s, run.model, d, directory);
  save_model_file(run.model, d, s, directory);
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

void set_resume_mode(bool on) { resume_flag.store(on); }

// A shard continues what its trials left in --out, like a resume: a shard started again (a requeued array task)
// keeps its finished trials, continues the interrupted ones and refuses a trial directory of other settings.
bool resume_mode() { return resume_flag.load() || active_shard().has_value(); }

ExperimentData experiment_data(const ImageSplits& splits, data::Normalizer normalizer) {
  return {.train = &splits.train,
          .validation = &splits.validation,
          .test = &splits.test,
          .normalizer = std::move(normalizer),
          .description = splits.description};
}

const char* to_string(ModelKind kind) { return kind == ModelKind::linear ? "linear" : "two_layer"; }

const char* to_string(ScheduleKind kind) {
  constexpr const char* names[] = {"constant", "step_decay", "cyclic"};
  return names[static_cast<int>(kind)];
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
