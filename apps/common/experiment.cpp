#include "apps/common/experiment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "apps/common/app_error.h"
#include "apps/common/hints.h"
#include "apps/common/atomic_file.h"
#include "apps/common/plot.h"
#include "apps/common/progress.h"
#include "apps/common/run_info.h"
#include "apps/common/threads.h"
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/safetensors.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/train/run_checkpoint.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>

namespace tapegrad::apps {
namespace {

std::atomic<bool> stop_flag{false};
std::atomic<bool> resume_flag{false};

// The first SIGINT or SIGTERM asks training to stop after the step under way (it then saves a checkpoint); a
// second one ends the process at once, the way it would have ended without a handler. Only async-signal-safe
// calls here.
extern "C" void on_stop_signal(int signal_number) {
  if (stop_flag.exchange(true)) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  static constexpr char kMessage[] =
      "\nstopping after the current step and saving a checkpoint (press Ctrl-C again to quit at once)\n";
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
}

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kMetricsColumns = {"step",       "epoch",          "learning_rate",
                                                  "train_loss", "train_cost",     "train_accuracy",
                                                  "val_loss",   "val_cost",       "val_accuracy"};

std::vector<CsvCell> metrics_cells(const MetricsRow& row) {
  return {CsvCell(static_cast<long long>(row.step)), CsvCell(row.epoch),         CsvCell(row.learning_rate),
          CsvCell(row.train.loss),                   CsvCell(row.train.cost),    CsvCell(row.train.accuracy),
          CsvCell(row.validation.loss),              CsvCell(row.validation.cost), CsvCell(row.validation.accuracy)};
}

nlohmann::json evaluation_json(const Evaluation& e) {
  return {{"loss", e.loss}, {"cost", e.cost}, {"accuracy", e.accuracy}};
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

// The learnt weights of a linear model as images of the data's own size, one per class, each scaled to its own
// range by the plot.
template <typename T>
void plot_templates(const Classifier<T>& model, const data::ImageDataset& train, const RunDirectory& directory,
                    const std::string& title) {
  const auto parameters = model.module().named_parameters();
  const Matrix<T>* weights = nullptr;
  for (const auto& p : parameters)
    if (nn::is_weight_name(p.name)) weights = &p.tensor.value();
  if (weights == nullptr || weights->cols() != train.shape.features()) return;
  plot::ImageGrid grid;
  grid.title = title;
  grid.columns = weights->rows() > 10 ? 10 : 0;
  for (Index k = 0; k < weights->rows(); ++k) {
    plot::GridImage image;
    image.channels = train.shape.channels;
    image.height = train.shape.height;
    image.width = train.shape.width;
    image.planes.resize(static_cast<std::size_t>(weights->cols()));
    for (Index i = 0; i < weights->cols(); ++i) image.planes[static_cast<std::size_t>(i)] = float((*weights)(k, i));
    if (weights->rows() == 1) {
      image.caption = "w";
    } else {
      image.caption = static_cast<std::size_t>(k) < train.class_names.size() ? train.class_names[static_cast<std::size_t>(k)]
                                                                             : std::to_string(k);
    }
    grid.images.push_back(std::move(image));
  }
  plot::save(grid, directory.plot_path("templates"));
}

template <typename T>
train::Checkpoint<T> capture(const Classifier<T>& model, const optim::Optimizer<T>& optimizer,
                             const data::BatchLoader<T>& loader, long step, double epoch, const nlohmann::json& key) {
  train::Checkpoint<T> checkpoint = train::capture_run(model.module(), optimizer, loader, step, epoch);
  checkpoint.metadata["config"] = key.dump();
  return checkpoint;
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

std::optional<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path);
  nlohmann::json value = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw UsageError(fmt::format("cannot resume from '{}': the file is not valid JSON (it may have been edited); "
                                 "start the run again without --resume",
                                 path.string()));
  }
  return value;
}

// The settings recorded in the directory (config.json) must be those of this run: reusing or continuing another
// run's results would silently mix two experiments.
void check_same_run(const nlohmann::json& key, const RunDirectory& directory) {
  const auto recorded = read_json_file(directory.config_path());
  if (!recorded) return;  // nothing recorded: the checkpoint's own key is checked instead
  std::vector<std::string> differences;
  for (const auto& [name, value] : key.items()) {
    if (!recorded->contains(name) || (*recorded)[name] != value) {
      differences.push_back(fmt::format("{} {} here but {} in the directory", name, value.dump(),
                                        recorded->contains(name) ? (*recorded)[name].dump() : "nothing"));
    }
  }
  if (!differences.empty()) {
    throw UsageError(fmt::format("cannot resume the run in '{}': it was made with other settings ({})",
                                 directory.root().string(), fmt::join(differences, "; ")),
                     "resume with the flags of the original run, or give a new --out directory");
  }
}

// Runs `load`, which reads a run's checkpoint: a library error (a damaged or foreign file) becomes a Failure with
// the hint that says how to go on; the apps' own errors (a damaged metrics.csv) pass as they are.
template <class Load>
decltype(auto) as_damaged_checkpoint(Load&& load) {
  try {
    return std::forward<Load>(load)();
  } catch (const AppError&) {
    throw;
  } catch (const Error& error) {
    throw Failure(error.what(), hints::damaged_checkpoint);
  }
}

// metrics.csv read back: the rows of the evaluations a run made, exactly as written (CsvCell writes every number
// in a form that reads back to the same double).
std::vector<MetricsRow> read_metrics(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Failure(fmt::format("cannot resume: '{}' is missing or unreadable", path.string()), hints::damaged_metrics);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<MetricsRow> rows;
  std::size_t begin = text.find('\n');
  if (begin == std::string::npos) return rows;
  ++begin;
  long line_number = 1;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) break;  // a row cut off by a crash: not part of the run
    ++line_number;
    std::vector<double> values;
    std::size_t field = begin;
    while (field <= end) {
      const std::size_t comma = std::min(text.find(',', field), end);
      const std::string cell = text.substr(field, comma - field);
      char* parsed_end = nullptr;
      values.push_back(std::strtod(cell.c_str(), &parsed_end));
      if (cell.empty() || parsed_end != cell.c_str() + cell.size()) {
        throw Failure(fmt::format("cannot resume: '{}' line {} holds '{}' where a number belongs", path.string(),
                                  line_number, cell),
                      hints::damaged_metrics);
      }
      field = comma + 1;
    }
    if (values.size() != kMetricsColumns.size()) {
      throw Failure(fmt::format("cannot resume: '{}' line {} has {} fields instead of {}", path.string(),
                                line_number, values.size(), kMetricsColumns.size()),
                    hints::damaged_metrics);
    }
    rows.push_back(train::metrics_row_from_fields(values));
    begin = end + 1;
  }
  return rows;
}

Evaluation evaluation_from_json(const nlohmann::json& e) {
  return {e.at("loss").get<double>(), e.at("cost").get<double>(), e.at("accuracy").get<double>()};
}

// A run that already finished in this directory, read back instead of trained again.
std::optional<ExperimentResult> finished_run(const ExperimentSettings& s, const RunDirectory& directory,
                                            const nlohmann::json& summary) {
  const std::string status = summary.value("status", "");
  if (status == "diverged") {
    throw Diverged(fmt::format("{}: {} (the run in {} diverged before; resuming would repeat it)", s.name,
                               summary.value("message", "training diverged"), directory.root().string()));
  }
  if (status != "completed" && status != "early_stopped") return std::nullopt;
  try {
    ExperimentResult result;
    result.settings = s;
    result.directory = directory.root();
    result.summary = summary;
    result.train = evaluation_from_json(summary.at("train"));
    result.validation = evaluation_from_json(summary.at("validation"));
    result.test = evaluation_from_json(summary.at("test"));
    result.weight_norms = summary.at("weight_norms").get<std::vector<double>>();
    TrainingOutcome& outcome = result.outcome;
    outcome.rows = read_metrics(directory.metrics_path());
    outcome.steps = summary.at("steps").get<long>();
    outcome.stopped_epoch = summary.at("epochs").get<double>();
    outcome.train_seconds = summary.at("train_seconds").get<double>();
    outcome.evaluation_seconds = summary.at("evaluation_seconds").get<double>();
    outcome.early_stopped = status == "early_stopped";
    outcome.best_step = summary.value("best_step", -1L);
    spdlog::info("{}: already finished in {} (test {:.2f}%); kept", s.name, directory.root().string(),
                 100 * result.test.accuracy);
    return result;
  } catch (const nlohmann::json::exception& error) {
    throw UsageError(fmt::format("cannot resume from '{}': it lacks a field a finished run writes ({})",
                                 directory.summary_path().string(), error.what()),
                     "start the run again without --resume");
  }
}

// The state a resumed run continues from: the checkpoint's weights, optimizer and loader, the evaluations it
// made, and with early stopping the best weights so far (best.bin).
template <typename T>
TrainingStart<T> restore_run(const train::Checkpoint<T>& checkpoint, const ExperimentSettings& s,
                             const RunDirectory& directory, Classifier<T>& model, optim::Optimizer<T>& optimizer,
                             data::BatchLoader<T>& loader) {
  train::restore_run(checkpoint, model.module(), optimizer, loader);

  TrainingStart<T> start;
  start.step = static_cast<long>(checkpoint.step);
  for (const MetricsRow& row : read_metrics(directory.metrics_path())) {
    if (row.step <= start.step) start.rows.push_back(row);
  }

  // Every evaluation made a best first (a NaN would have stopped training), so one was saved in best.bin; train()
  // checks that it is the best of these rows.
  if (s.patience > 0 && !start.rows.empty()) {
    const auto best = train::load_checkpoint<T>(directory.root() / "best.bin");
    for (const auto& entry : best.module_state) start.best_parameters.push_back(entry.value);
    start.best_step = static_cast<long>(best.step);
  }
  spdlog::info("{}: resuming at step {} from {}", s.name, start.step, checkpoint.source.string());
  return start;
}

// model.safetensors: the trained weights (with early stopping, the kept best ones) and the normaliser as d x 1
// columns on the pixel / 255 scale, so that the file alone gives the run's predictions:
// x = (pixel / 255 - normalizer.mean) / normalizer.std, then the model. A standardised feature whose training
// std was 0 is divided by 1 by the normaliser, so 1 is stored there.
template <typename T>
void save_model_file(const Classifier<T>& model, const data::Normalizer& normalizer, const data::ImageDataset& train_set,
                     const ExperimentSettings& s, const RunDirectory& directory) {
  const Index features = train_set.shape.features();
  Matrix<T> mean = Matrix<T>::Zero(features, 1);
  Matrix<T> deviation = Matrix<T>::Ones(features, 1);
  if (normalizer.scaling() == data::Scaling::standardize) {
    mean = normalizer.mean().template cast<T>();
    const auto divisor = [](double v) { return v == 0 ? 1.0 : v; };
    deviation = normalizer.standard_deviation().unaryExpr(divisor).template cast<T>();
  } else if (normalizer.scaling() == data::Scaling::symmetric_unit_interval) {
    mean.setConstant(T(0.5));
    deviation.setConstant(T(0.5));
  }
  nn::StateDict<T> extra;
  extra.insert("normalizer.mean", std::move(mean));
  extra.insert("normalizer.std", std::move(deviation));
  std::error_code error;  // the app is the running program; outside Linux the metadata says so
  const auto program = std::filesystem::read_symlink("/proc/self/exe", error);
  const bool binary = model.loss_kind() == LossKind::binary_cross_entropy;
  nn::SafetensorsMetadata metadata{
      {"app", error ? std::string("unknown") : program.filename().string()},
      {"preset", s.name},
      {"model", model.description()},
      {"classes", nlohmann::json(train_set.class_names).dump()},
      {"input", fmt::format("{} features: the image's {} x {} x {} (channels x height x width) bytes in the data "
                            "set's order, as a column; a batch is d x n, one image per column",
                            features, train_set.shape.channels, train_set.shape.height, train_set.shape.width)},
      {"normalizer", "x = (pixel / 255 - normalizer.mean) / normalizer.std, per feature (both d x 1)"},
      {"prediction", binary ? "class 1 when the score (weight x + bias) is >= 0, else class 0"
                            : "the class (row) with the largest score; scores = weight x + bias per linear layer, "
                              "ReLU between layers"}};
  nn::save_module_safetensors(directory.root() / "model.safetensors", model.module(), extra, metadata);
}

template <typename T>
ExperimentResult run_typed(const ExperimentSettings& s, const ExperimentData& d, const RunDirectory& directory) {
  const auto wall_start = Clock::now();
  const data::ImageDataset& train_set = *d.train;
  const long steps_per_epoch = s.steps_per_epoch(train_set.size());
  const long total_steps = s.planned_steps(train_set.size());
  const nlohmann::json key = resume_key(s, d);

  // Resuming: a finished run is kept as it is; a run with a checkpoint continues from it.
  std::optional<train::Checkpoint<T>> resume_from;
  double earlier_train_seconds = 0;
  if (resume_mode()) {
    check_same_run(key, directory);
    const auto summary = read_json_file(directory.summary_path());
    if (summary) {
      if (auto finished = finished_run(s, directory, *summary)) return *finished;
      earlier_train_seconds = summary->value("train_seconds", 0.0);
    }
    std::error_code error;
    if (std::filesystem::is_regular_file(directory.checkpoint_path(), error)) {
      resume_from = as_damaged_checkpoint([&] { return train::load_checkpoint<T>(directory.checkpoint_path()); });
      if (nlohmann::json::parse(resume_from->metadata_value("config"), nullptr, false) != key) {
        throw UsageError(fmt::format("cannot resume from '{}': its run had other settings than this one",
                                     directory.checkpoint_path().string()),
                         "resume with the flags of the original run, or give a new --out directory");
      }
    }
  }

  if (!resume_from) {
    nlohmann::json config = key;
    config["threads"] = s.threads;
    config["steps_per_epoch"] = steps_per_epoch;
    config["planned_steps"] = total_steps;  // "total_steps" is the setting (0: from the epochs)
    config["build"] = build_info_json();
    config["written_at"] = utc_timestamp();
    directory.write_config(config);
  }

  // The product thread count is process-wide: trials of a sweep (all single-threaded) leave it alone.
  if (product_thread_count() != s.threads) set_thread_count(s.threads);
  Generator generator(s.seed);
  const Index features = train_set.shape.features();
  const Index classes = train_set.num_classes();
  std::unique_ptr<Classifier<T>> model;
  if (s.model == ModelKind::two_layer) {
    model = make_two_layer_network<T>(features, s.hidden, classes, generator);
  } else {
    model = make_linear_classifier<T>(features, classes, s.loss, s.init_std, generator);
  }
  std::vector<Tensor<T>> trained_parameters;
  for (const auto& p : model->module().named_parameters()) {
    if (s.use_bias || nn::is_weight_name(p.name)) {
      trained_parameters.push_back(p.tensor);
    } else {
      p.tensor.mutable_value().setZero();
    }
  }
  optim::SGD<T> optimizer(trained_parameters,
                          {.learning_rate = s.schedule == ScheduleKind::cyclic ? s.eta_min : s.eta});
  auto schedule = make_schedule(s, steps_per_epoch);
  data::BatchLoader<T> loader(train_set, d.normalizer,
                              {.batch_size = s.batch_size, .shuffle = s.shuffle, .flip_probability = s.flip_probability},
                              generator.split(1));

  TrainingPlan plan;
  plan.total_steps = total_steps;
  plan.evaluate_every_steps = s.evaluate_every_steps > 0 ? s.evaluate_every_steps : steps_per_epoch;
  plan.evaluate_at_start = s.evaluate_at_start;
  plan.lambda = s.lambda;
  plan.path = s.path;
  plan.patience = s.patience;

  TrainingStart<T> start;
  if (resume_from) {
    start = as_damaged_checkpoint([&] { return restore_run(*resume_from, s, directory, *model, optimizer, loader); });
  }
  // A resumed run keeps the rows up to its checkpoint and drops any written after it.
  CsvAppender metrics = resume_from ? CsvAppender::resume(directory.metrics_path(), kMetricsColumns, start.rows.size())
                                    : CsvAppender::create(directory.metrics_path(), kMetricsColumns);

  std::unique_ptr<ProgressReporter> progress;
  if (s.show_progress) {
    ProgressOptions options;
    options.label = s.name;
    options.unit = "steps";
    progress = std::make_unique<ProgressReporter>(static_cast<std::size_t>(total_steps - start.step), options);
  }
  double last_cost = 0;
  TrainingHooks hooks;
  hooks.on_step = [&](long, long, double cost) {
    last_cost = cost;
    if (progress) {
      progress->set_status(fmt::format("cost {:.4f}", cost));
      progress->advance();
    }
  };
  hooks.on_new_best = [&](long step) {
    // Early stopping puts these weights back at the end, so a resumed run needs them too.
    if (s.save_checkpoint) {
      train::Checkpoint<T> best;
      best.module_state = train::capture_module_state(model->module());
      best.step = step;
      best.metadata["config"] = key.dump();
      train::save_checkpoint(directory.root() / "best.bin", best);
    }
  };
  hooks.on_evaluation = [&](const MetricsRow& row) {
    metrics.append_row(metrics_cells(row));
    // The last good state: a later divergence leaves this checkpoint in place.
    if (s.save_checkpoint) {
      train::save_checkpoint(directory.checkpoint_path(), capture(*model, optimizer, loader, row.step, row.epoch, key));
    }
  };
  hooks.stop_requested = [] { return stop_requested(); };

  TrainingOutcome outcome =
      train(*model, optimizer, *schedule, loader, train_set, *d.validation, d.normalizer, plan, hooks, start);
  outcome.train_seconds += earlier_train_seconds;
  if (progress) progress->finish();
  metrics.close();

  ExperimentResult result;
  result.settings = s;
  result.outcome = outcome;
  result.directory = directory.root();
  const bool against_steps = s.evaluate_every_steps > 0;
  if (!outcome.rows.empty()) {
    plot_curves(outcome.rows, directory, against_steps, s.name, s.schedule != ScheduleKind::constant);
  }

  nlohmann::json summary;
  summary["name"] = s.name;
  summary["data"] = d.description;
  summary["seed"] = s.seed;
  summary["threads"] = s.threads;
  summary["steps"] = outcome.steps;
  summary["epochs"] = outcome.stopped_epoch;
  summary["train_seconds"] = outcome.train_seconds;
  summary["evaluation_seconds"] = outcome.evaluation_seconds;
  summary["lambda"] = s.lambda;
  summary["eta"] = s.eta;
  summary["batch_size"] = s.batch_size;
  summary["resumed"] = resume_from.has_value();
  summary["build"] = build_info_json();

  if (outcome.diverged || outcome.interrupted) {
    summary["status"] = outcome.diverged ? "diverged" : "interrupted";
    summary["message"] = outcome.diverged ? outcome.divergence : "stopped by a signal";
    summary["wall_seconds"] = std::chrono::duration<double>(Clock::now() - wall_start).count();
    if (outcome.interrupted && s.save_checkpoint) {
      train::save_checkpoint(directory.checkpoint_path(),
                          capture(*model, optimizer, loader, outcome.steps, outcome.stopped_epoch, key));
    }
    directory.write_summary(summary);
    if (outcome.diverged) {
      throw Diverged(fmt::format("{}: {}; metrics so far are in {} and the last good checkpoint in {}", s.name,
                                 outcome.divergence, directory.metrics_path().string(),
                                 directory.checkpoint_path().string()));
    }
    throw Interrupted(fmt::format("{}: interrupted at step {} of {}; checkpoint saved in {}", s.name, outcome.steps,
                                  total_steps, directory.checkpoint_path().string()));
  }

  const DetailedEvaluation test = evaluate_detailed(*model, *d.test, d.normalizer, s.lambda);
  result.train = evaluate(*model, train_set, d.normalizer, s.lambda);
  result.validation = evaluate(*model, *d.validation, d.normalizer, s.lambda);
  result.test = test.summary;
  for (const auto& p : model->module().named_parameters()) {
    if (nn::is_weight_name(p.name)) result.weight_norms.push_back(double(p.tensor.value().template cast<double>().norm()));
  }

  if (s.plot_templates && s.model == ModelKind::linear) {
    plot_templates(*model, train_set, directory, fmt::format("{}: learnt weights per class", s.name));
  }
  if (s.plot_histogram) {
    plot::Histogram histogram;
    histogram.title = fmt::format("{}: probability of the true class (test)", s.name);
    histogram.x_label = "probability given to the true class";
    plot::Sample correct{"correctly classified", {}, {}};
    plot::Sample wrong{"wrongly classified", {}, {}};
    for (std::size_t i = 0; i < test.predictions.size(); ++i) {
      (test.predictions[i] == d.test->labels[i] ? correct : wrong).values.push_back(test.true_class_probabilities[i]);
    }
    histogram.samples = {correct, wrong};
    histogram.bins = 25;
    histogram.min = 0.0;
    histogram.max = 1.0;
    plot::save(histogram, directory.plot_path("true_class_probability"));
  }
  if (s.save_checkpoint) {
    train::save_checkpoint(directory.checkpoint_path(),
                        capture(*model, optimizer, loader, outcome.steps, outcome.stopped_epoch, key));
  }
  save_model_file(*model, d.normalizer, train_set, s, directory);

  summary["status"] = outcome.early_stopped ? "early_stopped" : "completed";
  summary["train_accuracy"] = result.train.accuracy;
  summary["val_accuracy"] = result.validation.accuracy;
  summary["test_accuracy"] = result.test.accuracy;
  summary["train"] = evaluation_json(result.train);
  summary["validation"] = evaluation_json(result.validation);
  summary["test"] = evaluation_json(result.test);
  summary["loss"] = result.train.loss;
  summary["cost"] = result.train.cost;
  if (s.patience > 0) {
    summary["early_stopped"] = outcome.early_stopped;
    summary["stopped_epoch"] = outcome.stopped_epoch;
    summary["best_step"] = outcome.best_step;
  }
  summary["weight_norms"] = result.weight_norms;
  summary["wall_seconds"] = std::chrono::duration<double>(Clock::now() - wall_start).count();
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

void plot_curves(const std::vector<MetricsRow>& rows, const RunDirectory& directory, bool against_steps,
                 const std::string& title, bool always_plot_rate) {
  auto x_of = [&](const MetricsRow& row) { return against_steps ? double(row.step) : row.epoch; };
  const std::string x_label = against_steps ? "update step" : "epoch";
  auto chart = [&](const std::string& what, auto train_value, auto validation_value) {
    plot::LineChart c;
    c.title = fmt::format("{}: {}", title, what);
    c.x_axis.label = x_label;
    c.y_axis.label = what;
    plot::Series train{"training", {}, {}};
    plot::Series validation{"validation", {}, {}};
    for (const auto& row : rows) {
      train.x.push_back(x_of(row));
      train.y.push_back(train_value(row));
      validation.x.push_back(x_of(row));
      validation.y.push_back(validation_value(row));
    }
    c.series = {train, validation};
    plot::save(c, directory.plot_path(what));
  };
  chart("loss", [](const MetricsRow& r) { return r.train.loss; }, [](const MetricsRow& r) { return r.validation.loss; });
  chart("cost", [](const MetricsRow& r) { return r.train.cost; }, [](const MetricsRow& r) { return r.validation.cost; });
  chart("accuracy", [](const MetricsRow& r) { return r.train.accuracy; },
        [](const MetricsRow& r) { return r.validation.accuracy; });
  bool rate_changes = always_plot_rate;
  for (const auto& row : rows) rate_changes = rate_changes || row.learning_rate != rows.front().learning_rate;
  if (rate_changes) {
    plot::LineChart c;
    c.title = fmt::format("{}: learning rate", title);
    c.x_axis.label = x_label;
    c.y_axis.label = "learning rate";
    plot::Series rate{"learning rate", {}, {}};
    for (const auto& row : rows) {
      rate.x.push_back(x_of(row));
      rate.y.push_back(row.learning_rate);
    }
    c.series = {rate};
    c.legend = plot::LegendPlace::none;
    plot::save(c, directory.plot_path("learning_rate"));
  }
}

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // A file-size limit (ulimit -f) then fails the write with EFBIG, reported with the file's path, instead of
  // killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
}

bool stop_requested() { return stop_flag.load(); }

void request_stop() { stop_flag.store(true); }

void set_resume_mode(bool on) { resume_flag.store(on); }

bool resume_mode() { return resume_flag.load(); }

void throw_if_interrupted(const std::string& what, const std::filesystem::path& directory) {
  if (stop_requested()) {
    throw Interrupted(fmt::format("{} was interrupted; what finished is in {}", what, directory.string()));
  }
}

}  // namespace tapegrad::apps
