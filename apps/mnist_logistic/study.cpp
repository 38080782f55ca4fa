#include "apps/mnist_logistic/study.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <utility>

#include "apps/common/app_error.h"
#include "apps/common/run_info.h"
#include "apps/common/sweep.h"
#include <tapegrad/nn/train/timing.h>
#include "apps/mnist_logistic/figures.h"
#include "apps/mnist_logistic/gradient_check.h"
#include "apps/mnist_logistic/report.h"
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps::mnist_logistic {

const SettingsTable<StudyOptions>& study_settings_table() {
  using S = StudyOptions;
  static const auto table =
      SettingsTable<S>()
          .choice("--scaling", &S::scaling, "pixels scaled to [0, 1] (unit) or [-1, 1] (symmetric)",
                  {{"unit", data::Scaling::unit_interval}, {"symmetric", data::Scaling::symmetric_unit_interval}})
          .computed("pixel_range", [](const S& s) { return scaling_name(s.scaling); })
          .number("--validation-fraction", &S::validation_fraction,
                  "share of the training images held out to validate", Bounds::above(0).below(1))
          .number("--eval-every", &S::evaluation_fraction, "validate every this fraction of an epoch",
                  Bounds::above(0))
          .number("--limit-train", &S::limit_train,
                  "use only the first N training images of the task's classes (quick runs; 0: all)",
                  Bounds::at_least(0), "N");
  return table;
}

const char* scaling_name(data::Scaling scaling) {
  switch (scaling) {
    case data::Scaling::unit_interval:
      return "[0, 1]";
    case data::Scaling::symmetric_unit_interval:
      return "[-1, 1]";
    case data::Scaling::standardize:
      return "standardized";
  }
  return "?";
}

namespace {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw_error(fmt::format("cannot read {}", path.string()));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw_error(fmt::format("{} is not valid JSON: {}", path.string(), error.what()));
  }
}

// run_experiment writes config.json when a run begins; the study's own settings (data set, classes, scaling,
// validation split) join it under "study".
void add_to_config(const RunDirectory& directory, const nlohmann::json& study) {
  nlohmann::json config = read_json_file(directory.config_path());
  config["study"] = study;
  write_run_config(directory, config);
}

nlohmann::json best_epoch_json(const ExperimentResult& result, long steps_per_epoch) {
  if (result.outcome.best_step < 0) return nullptr;
  return static_cast<double>(result.outcome.best_step) / static_cast<double>(steps_per_epoch);
}

// What the sweep summaries and the report show of one finished run.
nlohmann::json run_row(const ExperimentResult& result, long steps_per_epoch) {
  const ExperimentSettings& s = result.settings;
  return {{"name", s.name},
          {"eta", s.eta},
          {"lambda", s.lambda},
          {"batch_size", s.batch_size},
          {"max_epochs", s.epochs},
          {"patience", s.patience},
          {"evaluate_every_steps", s.evaluate_every_steps},
          {"shuffle", s.shuffle},
          {"bias", s.use_bias},
          {"grad", to_string(s.path)},
          {"train_accuracy", result.train.accuracy},
          {"val_accuracy", result.validation.accuracy},
          {"test_accuracy", result.test.accuracy},
          {"val_loss", result.validation.loss},
          {"test_loss", result.test.loss},
          {"steps", result.outcome.steps},
          {"stopped_epoch", result.outcome.stopped_epoch},
          {"early_stopped", result.outcome.early_stopped},
          {"best_epoch", best_epoch_json(result, steps_per_epoch)},
          {"weight_norm", result.weight_norms.empty() ? 0.0 : result.weight_norms.front()},
          {"train_seconds", result.outcome.train_seconds},
          {"wall_seconds", result.summary.value("wall_seconds", 0.0)}};
}

void log_stop(const ExperimentResult& result, long steps_per_epoch) {
  const auto& o = result.outcome;
  if (o.early_stopped) {
    spdlog::info(
        "{}: early stopping at epoch {:.2f} (step {}): the validation loss last improved at epoch {:.2f} "
        "(step {}), whose weights were restored",
        result.settings.name, o.stopped_epoch, o.steps,
        static_cast<double>(o.best_step) / static_cast<double>(steps_per_epoch), o.best_step);
  } else {
    spdlog::info("{}: trained all {:g} epochs ({} steps) without an early stop", result.settings.name,
                 o.stopped_epoch, o.steps);
  }
}

// The study's additions to a finished run's config.json and summary.json.
void finish_run(ExperimentResult& result, const RunDirectory& directory, const nlohmann::json& study,
                const GradientCheck& check, long steps_per_epoch) {
  add_to_config(directory, study);
  result.summary["dataset"] = study["dataset"];
  result.summary["classes"] = study["classes"];
  result.summary["scaling"] = study["pixel_range"];
  result.summary["stopped_epoch"] = result.outcome.stopped_epoch;
  result.summary["early_stopped"] = result.outcome.early_stopped;
  result.summary["best_epoch"] = best_epoch_json(result, steps_per_epoch);
  result.summary["gradient_check"] = to_json(check);
  directory.write_summary(result.summary);
  log_stop(result, steps_per_epoch);
}

template <typename T>
std::optional<Eigen::MatrixXf> weights_from_checkpoint(const std::filesystem::path& file) {
  const train::Checkpoint<T> checkpoint = train::load_checkpoint<T>(file);
  for (const auto& entry : checkpoint.module_state) {
    if (nn::is_weight_name(entry.name)) return Eigen::MatrixXf(entry.value.template cast<float>());
  }
  return std::nullopt;
}

// The weights a run ended with (the best ones when it stopped early), read back from its checkpoint.
std::optional<Eigen::MatrixXf> learnt_weights(const ExperimentResult& result) {
  const auto file = result.directory / "checkpoint.bin";
  try {
    return result.settings.use_double ? weights_from_checkpoint<double>(file)
                                      : weights_from_checkpoint<float>(file);
  } catch (const std::exception& error) {
    spdlog::warn("{}: the learnt weights cannot be drawn: {}", result.settings.name, error.what());
  }
  return std::nullopt;
}

// `order` says how the batches are drawn when the runs of a preset differ in it.
void log_plan(const ExperimentSettings& s, long steps_per_epoch, double evaluation_fraction,
              const std::string& order = {}) {
  spdlog::info(
      "{}: {} {}, eta {:g}, lambda {:g}, batches of {}{}, at most {} epochs of {} steps; validation every "
      "{} steps ({:g} of an epoch){}",
      s.name, s.loss == LossKind::binary_cross_entropy ? "logistic regression" : "softmax regression",
      s.use_bias ? "with bias" : "without bias", s.eta, s.lambda, s.batch_size,
      !order.empty() ? order
      : s.shuffle    ? " reshuffled every epoch"
                     : " in the file's order",
      s.epochs, steps_per_epoch, s.evaluate_every_steps, evaluation_fraction,
      s.patience > 0
          ? fmt::format(", early stopping after {} validations without a lower validation loss", s.patience)
          : std::string(", no early stopping"));
}

// The presets that run several settings say so when a flag they vary was given.
void warn_flags_left_aside(const std::string& preset, bool binary, const StudyOptions& options) {
  if (binary && options.flag_given && options.flag_given("--shuffle")) {
    spdlog::warn("{}: --shuffle is left aside, as this preset runs both with and without shuffling", preset);
  }
  if (!binary && options.flag_given && options.flag_given("--lambda")) {
    spdlog::warn("{}: --lambda is left aside, as this preset runs lambda = {}", preset,
                 fmt::join(kSweepLambdas, ", "));
  }
}

// The task's training images (a binary task's two classes, relabelled 0 and 1; the first --limit-train of them),
// less the last --validation-fraction, which validate. --classes and --validation-fraction were checked with
// the flags; the data decide whether a class has images and whether the split leaves some on each side.
ImageSplits split_study_data(const data::TrainTestDatasets& loaded, const StudyOptions& options, bool binary) {
  const std::string name = display_name(options.dataset);
  const auto task_of = [&](const data::ImageDataset& all) {
    return binary ? data::filter_classes(all, options.binary_classes) : all;
  };
  data::ImageDataset train = task_of(loaded.train);
  for (int i = 0; binary && i < train.num_classes(); ++i) {
    if (std::ranges::count(train.labels, i) == 0) {
      throw DataError(
          fmt::format("{} in {} has no training image of class {} ({})", name, options.data_directory.string(),
                      options.binary_classes[static_cast<std::size_t>(i)],
                      train.class_names[static_cast<std::size_t>(i)]),
          "choose classes that the training labels contain");
    }
  }
  const bool limited = options.limit_train > 0 && options.limit_train < train.size();
  if (limited) train = data::slice(train, 0, options.limit_train);
  const int available = train.size();
  auto parts = data::split_fraction(train, options.validation_fraction);
  if (parts.validation.size() < 1 || parts.train.size() < 1) {
    throw UsageError(fmt::format("a validation split of {} leaves no {} images among the {} training images{}",
                                 parts.validation.size(), parts.validation.size() < 1 ? "validation" : "training",
                                 available, binary ? " of the chosen classes" : ""),
                     "use more training images or another validation fraction");
  }
  ImageSplits splits;
  splits.train = std::move(parts.train);
  splits.validation = std::move(parts.validation);
  splits.test = task_of(loaded.test);
  const std::string which =
      binary ? fmt::format(" (classes {})", fmt::join(splits.train.class_names, " vs ")) : std::string();
  splits.description = fmt::format(
      "{} from {}{}: {} training, {} validation (the tail of {}), {} test images", name,
      options.data_directory.string(), which, splits.train.size(), splits.validation.size(),
      limited ? fmt::format("the first {} training images", available) : std::string("the training file"),
      splits.test.size());
  return splits;
}

// What the trials of a sweep left, for its summary and figures.
struct TrialTables {
  nlohmann::json rows = nlohmann::json::array();  // one per trial, failed ones included
  std::vector<NamedRun> curves;
  std::vector<LambdaPoint> points;
  std::string first_error;
  int failed = 0;
};

// Finishes every completed trial's run directory (finish_run) and gathers the sweep's tables.
TrialTables finish_trials(SweepOutcome& sweep, const RunDirectory& directory, const nlohmann::json& study,
                          const std::vector<GradientCheck>& checks, long steps_per_epoch) {
  TrialTables tables;
  for (std::size_t i = 0; i < sweep.trials.size(); ++i) {
    TrialOutcome& trial = sweep.trials[i];
    if (!trial.result) {
      ++tables.failed;
      if (tables.first_error.empty()) {
        tables.first_error = fmt::format("{}: {}", trial.settings.name, trial.run.error);
      }
      tables.rows.push_back(nlohmann::json{{"name", trial.settings.name},
                                           {"lambda", trial.settings.lambda},
                                           {"shuffle", trial.settings.shuffle},
                                           {"error", trial.run.error},
                                           {"wall_seconds", trial.run.seconds}});
      continue;
    }
    finish_run(*trial.result, directory.sub_run(trial.settings.name), study, checks[i], steps_per_epoch);
    tables.rows.push_back(run_row(*trial.result, steps_per_epoch));
    tables.curves.push_back(
        {trial.settings.shuffle ? "reshuffled every epoch" : "in the file's order", &*trial.result});
    tables.points.push_back({trial.settings.lambda, trial.result->validation.accuracy,
                             trial.result->weight_norms.empty() ? 0.0 : trial.result->weight_norms.front(),
                             learnt_weights(*trial.result)});
  }
  return tables;
}

// The sweep's summary.json: every trial's row, the gradient checks, the timings and the best trial.
nlohmann::json trials_summary(const std::string& preset, const std::string& data, const nlohmann::json& study,
                              const TrialTables& tables, const std::vector<GradientCheck>& checks,
                              const SweepOutcome& sweep) {
  double worst_gradient_error = 0;
  for (const auto& check : checks) worst_gradient_error = std::max(worst_gradient_error, check.worst);
  nlohmann::json summary = {{"name", preset},
                            {"data", data},
                            {"dataset", study["dataset"]},
                            {"classes", study["classes"]},
                            {"scaling", study["pixel_range"]},
                            {"runs", tables.rows},
                            {"gradient_check",
                             {{"batch", checks.front().batch},
                              {"worst_relative_error", worst_gradient_error},
                              {"tolerance", kGradientTolerance}}},
                            {"failed_runs", tables.failed},
                            {"workers", sweep.results.timings.workers},
                            {"wall_seconds", sweep.results.timings.wall_seconds},
                            {"trial_seconds_sum", sweep.results.timings.trial_seconds_sum},
                            {"speedup", sweep.results.timings.speedup()}};
  const std::vector<train::TrialRecord>& ranked = sweep.results.trials;  // best first
  if (!ranked.empty() && ranked.front().completed) {
    const ExperimentResult& best =
        *std::ranges::find(sweep.trials, ranked.front().name, [](const TrialOutcome& t) {
           return t.settings.name;
         })->result;
    summary["best_run"] = best.settings.name;
    summary["train_accuracy"] = best.train.accuracy;
    summary["val_accuracy"] = best.validation.accuracy;
    summary["test_accuracy"] = best.test.accuracy;
    summary["stopped_epoch"] = best.outcome.stopped_epoch;
    summary["early_stopped"] = best.outcome.early_stopped;
  }
  return summary;
}

}  // namespace

Study::Study(StudyOptions options) : options_(std::move(options)) {
  if (options_.fallback) {
    std::error_code ignored;
    if (!std::filesystem::exists(options_.data_directory, ignored)) {
      throw DataError(fmt::format("no data: --data was not given and Fashion-MNIST is not in {}",
                                  options_.data_directory.string()),
                      "pass --data DIR with MNIST's IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                      "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz), or install Debian's "
                      "dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)");
    }
    spdlog::warn(
        "no --data given: this study runs on Fashion-MNIST from {} (Debian's dataset-fashion-mnist "
        "package); pass --data DIR to run it on MNIST",
        options_.data_directory.string());
  }
  const train::Stopwatch watch;
  loaded_ = as_data_error(
      [&] { return data::load_mnist_directory(options_.data_directory, class_names(options_.dataset)); });
  load_seconds_ = watch.elapsed_seconds();
  spdlog::info("read {} from {}: {} training and {} test images of {} ({:.1f} s)", display_name(options_.dataset),
               options_.data_directory.string(), loaded_.train.size(), loaded_.test.size(),
               to_string(loaded_.train.shape), load_seconds_);
}

const ImageSplits& Study::splits_for(bool binary) {
  std::optional<ImageSplits>& splits = binary ? binary_splits_ : multiclass_splits_;
  if (!splits) {
    splits = split_study_data(loaded_, options_, binary);
    if (options_.fallback) {
      splits->description +=
          "; Fashion-MNIST from Debian's dataset-fashion-mnist package, as --data was not given";
    }
    spdlog::info("{}", splits->description);
  }
  return *splits;
}

ExperimentSettings Study::prepared(ExperimentSettings settings, const ImageSplits& splits) const {
  if (options_.apply_overrides) options_.apply_overrides(settings);
  settings.seed = options_.seed;
  settings.threads = options_.threads;
  settings.validate();
  settings.evaluate_every_steps =
      evaluation_interval(settings.steps_per_epoch(splits.train.size()), options_.evaluation_fraction);
  return settings;
}

void Study::check_resource_bounds(const std::string& preset) {
  for (const auto& p : kStudyPresets) {
    if (preset != "all" && p != preset) continue;
    const bool binary = is_binary_preset(p);
    const ImageSplits& splits = splits_for(binary);
    const ExperimentSettings s = prepared(preset_settings(p), splits);
    ExperimentFlags flags;
    flags.steps = {{"--epochs", s.epochs}, {"--batch-size", s.batch_size}};
    flags.evaluations = {{"--epochs", s.epochs}, {"--eval-every", options_.evaluation_fraction}};
    const long runs = binary ? 2 : static_cast<long>(kSweepLambdas.size());
    const long at_once = p == "binary" || p == "multiclass" ? 1 : std::min<long>(options_.threads, runs);
    check_bounds(s, splits.train.size(), splits.train.shape.features(), splits.train.num_classes(), flags, at_once);
  }
}

nlohmann::json Study::study_json(bool binary) const {
  std::vector<std::string> names;
  std::vector<int> ids;
  const auto all_names = class_names(options_.dataset);
  if (binary) {
    ids = options_.binary_classes;
  } else {
    for (int k = 0; k < static_cast<int>(all_names.size()); ++k) ids.push_back(k);
  }
  for (int id : ids) names.push_back(all_names[static_cast<std::size_t>(id)]);
  nlohmann::json json = study_settings_table().to_json(options_);
  json.update({{"dataset", display_name(options_.dataset)},
          {"data_directory", options_.data_directory.string()},
          {"fallback", options_.fallback},
          {"task", binary ? "binary" : "multiclass"},
          {"classes", names},
          {"class_ids", ids},
          {"run", run_record_json(options_.common)}});
  return json;
}

nlohmann::json Study::run(const std::string& preset, const RunDirectory& directory) {
  const train::Stopwatch watch;
  nlohmann::json summary;
  if (preset == "all") {
    summary = run_all(directory);
  } else if (preset == "binary" || preset == "multiclass") {
    summary = run_single(preset, directory);
  } else if (preset == "binary-shuffle-vs-not" || preset == "lambda-sweep") {
    summary = run_trials(preset, directory);
  } else {
    throw UsageError(
        fmt::format("--preset: unknown preset '{}'; valid presets: {}", preset, fmt::join(kPresets, ", ")));
  }
  summary["preset"] = preset;
  summary["preset_wall_seconds"] = watch.elapsed_seconds();
  summary["data_load_seconds"] = load_seconds_;
  directory.write_summary(summary);
  spdlog::info("{}: done in {:.1f} s; results in {}", preset, watch.elapsed_seconds(), directory.root().string());
  return summary;
}

nlohmann::json Study::run_single(const std::string& preset, const RunDirectory& directory) {
  const bool binary = is_binary_preset(preset);
  const ImageSplits& splits = splits_for(binary);
  const ExperimentSettings settings = prepared(preset_settings(preset), splits);
  const data::Normalizer normalizer(options_.scaling);
  const GradientCheck check = check_gradients(settings, splits.train, normalizer);
  spdlog::info("{}: the tape's gradients match the reference formulas to {:.1e} (relative) on a batch of {}",
               preset, check.worst, check.batch);
  const long steps_per_epoch = settings.steps_per_epoch(splits.train.size());
  log_plan(settings, steps_per_epoch, options_.evaluation_fraction);

  const ExperimentData data = experiment_data(splits, normalizer);
  const nlohmann::json study = study_json(binary);
  ExperimentResult result;
  try {
    result = run_experiment(settings, data, directory);
  } catch (const std::exception&) {
    // What the run left (config, metrics so far) still says what data and scaling it had.
    try {
      add_to_config(directory, study);
    } catch (const std::exception&) {
    }
    throw;
  }
  finish_run(result, directory, study, check, steps_per_epoch);
  nlohmann::json summary = result.summary;
  summary["runs"] = nlohmann::json::array({run_row(result, steps_per_epoch)});
  return summary;
}

nlohmann::json Study::run_trials(const std::string& preset, const RunDirectory& directory) {
  const bool binary = is_binary_preset(preset);
  const ImageSplits& splits = splits_for(binary);
  const ExperimentSettings base = prepared(preset_settings(preset), splits);
  warn_flags_left_aside(preset, binary, options_);
  const std::vector<ExperimentSettings> trials =
      binary ? shuffle_trials(base) : lambda_trials(base, kSweepLambdas);
  const data::Normalizer normalizer(options_.scaling);
  std::vector<GradientCheck> checks;
  for (const auto& trial : trials) checks.push_back(check_gradients(trial, splits.train, normalizer));
  const long steps_per_epoch = base.steps_per_epoch(splits.train.size());
  log_plan(base, steps_per_epoch, options_.evaluation_fraction,
           binary ? " reshuffled every epoch in one run and in the file's order in the other" : "");

  const nlohmann::json study = study_json(binary);
  nlohmann::json config = {{"preset", preset}, {"data", splits.description}, {"settings", base.to_json()},
                           {"trials", nlohmann::json::array()}, {"study", study}};
  for (const auto& trial : trials) config["trials"].push_back(trial.to_json());
  write_run_config(directory, config);

  const int workers = std::max(1, std::min<int>(options_.threads, static_cast<int>(trials.size())));
  if (workers > 1) {
    spdlog::info("{}: {} runs, {} side by side, one thread each", preset, trials.size(), workers);
  } else {
    spdlog::info("{}: {} runs, one after another (--threads 1)", preset, trials.size());
  }
  SweepOutcome sweep = run_sweep(trials, experiment_data(splits, normalizer), directory, options_.threads, preset);
  const TrialTables tables = finish_trials(sweep, directory, study, checks, steps_per_epoch);
  if (binary) {
    plot_validation_curves(tables.curves, directory,
                           fmt::format("{} ({})", preset, fmt::join(splits.train.class_names, " vs ")));
  } else if (!tables.points.empty()) {
    plot_lambda_sweep(tables.points, splits.train.shape, splits.train.class_names, directory, preset);
  }

  const nlohmann::json summary = trials_summary(preset, splits.description, study, tables, checks, sweep);
  const train::SearchTimings& timings = sweep.results.timings;
  spdlog::info("{}: {:.1f} s in all; the runs took {:.1f} s together ({:.2f}x with {} worker{})", preset,
               timings.wall_seconds, timings.trial_seconds_sum, timings.speedup(), timings.workers,
               timings.workers == 1 ? "" : "s");
  if (tables.failed == static_cast<int>(sweep.trials.size())) {
    directory.write_summary(summary);
    throw Error(fmt::format("{}: every run failed; the first: {}", preset, tables.first_error));
  }
  if (tables.failed > 0) {
    spdlog::warn("{}: {} of {} runs failed; the first: {}", preset, tables.failed, sweep.trials.size(),
                 tables.first_error);
  }
  return summary;
}

nlohmann::json Study::run_all(const RunDirectory& directory) {
  const train::Stopwatch watch;
  nlohmann::json config;
  config["preset"] = "all";
  config["presets"] = kStudyPresets;
  config["study"] = study_json(false);
  config["binary_classes"] = options_.binary_classes;
  write_run_config(directory, config);

  nlohmann::json presets = nlohmann::json::object();
  std::exception_ptr first_failure;
  for (const std::string& preset : kStudyPresets) {
    if (train::stop_requested()) break;  // Ctrl-C: the preset under way saved its state; start no other
    try {
      nlohmann::json part = run(preset, directory.sub_run(preset));
      part.erase("build");
      presets[preset] = std::move(part);
    } catch (const std::exception& error) {
      spdlog::error("{} failed: {}", preset, error.what());
      presets[preset] = {{"error", error.what()}};
      if (!first_failure) first_failure = std::current_exception();
    }
  }

  nlohmann::json summary;
  summary["name"] = "all";
  summary["dataset"] = display_name(options_.dataset);
  summary["fallback"] = options_.fallback;
  summary["threads"] = options_.threads;
  summary["command_line"] = options_.common.command_line;
  summary["presets"] = presets;
  summary["wall_seconds"] = watch.elapsed_seconds();
  // The binary task's figures head the study, so that every summary.json has the same keys.
  summary["headline_preset"] = "binary";
  if (presets.contains("binary") && presets["binary"].contains("test_accuracy")) {
    for (const char* key : {"train_accuracy", "val_accuracy", "test_accuracy", "stopped_epoch"}) {
      summary[key] = presets["binary"][key];
    }
  }
  write_report(directory.root() / "report.md", summary);
  directory.write_summary(summary);
  if (first_failure) std::rethrow_exception(first_failure);
  throw_if_interrupted("the study", directory.root());
  return summary;
}

}  // namespace tapegrad::apps::mnist_logistic
