// cifar_softmax: the complete softmax-regression study on CIFAR-10 (or Fashion-MNIST when CIFAR-10 is absent).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "apps/cifar_softmax/gradcheck.h"
#include "apps/cifar_softmax/presets.h"
#include "apps/common/app_error.h"
#include <tapegrad/core/atomic_file.h>
#include "apps/common/cli.h"
#include "apps/common/datasets.h"
#include "apps/common/experiment.h"
#include "apps/common/run_dir.h"
#include "apps/common/settings_table.h"
#include "apps/common/sweep.h"
#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps::cifar_softmax {
namespace {

// The flags that override single settings of whichever preset runs, each declared once: applied when given, and
// each preset's value shown in --help. config.json records the whole ExperimentSettings of each run.
const SettingsTable<ExperimentSettings>& settings_table() {
  using S = ExperimentSettings;
  static const auto table =
      SettingsTable<S>()
          .number("--eta", &S::eta, "learning rate", Bounds::above(0))
          .number("--lambda", &S::lambda, "L2 penalty lambda in J = loss + lambda ||W||^2", Bounds::at_least(0))
          .number("--epochs", &S::epochs, "training epochs", Bounds::between(1, 100000))
          .number("--batch-size", &S::batch_size, "examples per mini-batch", Bounds::between(1, 1000000))
          .choice("--loss", &S::loss, "softmax + cross-entropy, or sigmoid + multiple binary cross-entropy",
                  {{"ce", LossKind::cross_entropy}, {"bce", LossKind::multi_binary_cross_entropy}})
          .choice("--grad", &S::path, "gradients through the tape or the reports' formulas",
                  {{"tape", GradientPath::tape}, {"reference", GradientPath::reference}})
          .choice("--dtype", &S::use_double, "scalar type for training", {{"float", false}, {"double", true}})
          .number("--flip", &S::flip_probability, "probability of a horizontal flip per image", Bounds::between(0, 1));
  return table;
}

struct Overrides {
  explicit Overrides(CommandLine& c)
      : settings(settings_table().add_flags(c,
                                            [](const std::string& preset) {
                                              return preset == "gradcheck" ? std::nullopt
                                                                           : std::optional(preset_settings(preset));
                                            })),
        line(c) {
    const Bounds limit = Bounds::at_least(0);
    c.add_option("--limit-train", with_allowed("use only the first N training images (0: all)", limit), "INT",
                 number_check<int>(limit));
  }
  SettingsTable<ExperimentSettings>::Apply settings;
  const CommandLine& line;
};

// One line of report.md.
struct ReportRow {
  std::string preset;
  std::string settings;
  std::optional<ExperimentResult> result;
  std::string note;
  std::string directory;  // relative to --out
};

void apply_overrides(const Overrides& o, ExperimentSettings& s, const CommonOptions& common) {
  o.settings(s);
  s.seed = common.seed;
  s.threads = common.threads;
}

// The splits, loaded once per kind for the whole invocation.
class DataCache {
 public:
  DataCache(std::optional<std::filesystem::path> data_flag, int limit_train)
      : data_flag_(std::move(data_flag)), limit_train_(limit_train) {}
  const ImageSplits& get(CifarSplit split) {
    auto it = cache_.find(split);
    if (it == cache_.end()) {
      ImageSplits splits = load_image_splits(data_flag_, split, kAllDataValidation);
      if (limit_train_ > 0 && limit_train_ < splits.train.size()) {
        splits.train = data::slice(splits.train, 0, limit_train_);
        splits.description += fmt::format(" (training limited to the first {} images)", limit_train_);
      }
      spdlog::info("data: {}", splits.description);
      it = cache_.emplace(split, std::move(splits)).first;
    }
    return it->second;
  }

 private:
  std::optional<std::filesystem::path> data_flag_;
  int limit_train_;
  std::map<CifarSplit, ImageSplits> cache_;
};

// Normalised with the training split's own statistics only.
ExperimentData fitted_experiment_data(const ImageSplits& splits) {
  return experiment_data(splits, data::Normalizer::fitted(splits.train));
}

std::string describe(const ExperimentSettings& s) {
  std::string text = fmt::format("eta {:g}, lambda {:g}, batch {}, {} epochs", s.eta, s.lambda, s.batch_size, s.epochs);
  if (s.loss == LossKind::multi_binary_cross_entropy) text += ", sigmoid + BCE";
  if (s.flip_probability > 0) text += fmt::format(", flips p={:g}", s.flip_probability);
  if (s.schedule == ScheduleKind::step_decay)
    text += fmt::format(", eta / {:g} every {} epochs", s.decay_factor, s.decay_every_epochs);
  if (s.path == GradientPath::reference) text += ", reference gradients";
  return text;
}

ReportRow run_single(const std::string& preset, const Overrides& o, const CommonOptions& common, DataCache& cache,
                     const RunDirectory& out) {
  ExperimentSettings s = preset_settings(preset);
  apply_overrides(o, s, common);
  const ImageSplits& splits = cache.get(preset_split(preset));
  const RunDirectory directory = out.sub_run(preset);
  ReportRow row{preset, describe(s), std::nullopt, "", preset};
  row.result = run_experiment(s, fitted_experiment_data(splits), directory);
  return row;
}

ReportRow run_grid(const Overrides& o, const CommonOptions& common, DataCache& cache, const RunDirectory& out) {
  ExperimentSettings base = preset_settings("grid");
  apply_overrides(o, base, common);
  const ImageSplits& splits = cache.get(CifarSplit::batch1_batch2);
  const RunDirectory directory = out.sub_run("grid");
  const auto trials = grid_settings(base);
  spdlog::info("grid: {} trials of {} epochs on {} worker threads", trials.size(), base.epochs, common.threads);
  const SweepOutcome sweep = run_sweep(trials, fitted_experiment_data(splits), directory, common.threads, "grid");
  const std::vector<train::TrialRecord>& ranked = sweep.results.trials;  // best first
  const train::SearchTimings& timings = sweep.results.timings;

  std::string table = "| rank | eta | lambda | n_batch | train acc | val acc | test acc | seconds |\n"
                      "|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  fmt::print("\ngrid search, ranked by validation accuracy (top 10 of {}):\n", ranked.size());
  fmt::print("{:>4}  {:>6}  {:>6}  {:>7}  {:>9}  {:>7}  {:>8}\n", "rank", "eta", "lambda", "n_batch", "train", "val",
             "test");
  for (std::size_t i = 0; i < ranked.size() && i < 10; ++i) {
    const train::TrialRecord& t = ranked[i];
    const double train = t.completed ? t.train_accuracy : std::nan("");
    const double val = t.completed ? t.val_accuracy : std::nan("");
    const double test = t.completed ? t.test_accuracy : std::nan("");
    fmt::print("{:>4}  {:>6g}  {:>6g}  {:>7}  {:>8.2f}%  {:>6.2f}%  {:>7.2f}%\n", i + 1, *t.eta, t.lambda,
               *t.batch_size, 100 * train, 100 * val, 100 * test);
    table += fmt::format("| {} | {:g} | {:g} | {} | {:.2f}% | {:.2f}% | {:.2f}% | {:.1f} |\n", i + 1, *t.eta,
                         t.lambda, *t.batch_size, 100 * train, 100 * val, 100 * test, t.wall_seconds);
  }
  fmt::print("grid: {:.1f} s wall on {} workers, {:.1f} s of trials one after another: {:.2f}x speed-up\n",
             timings.wall_seconds, timings.workers, timings.trial_seconds_sum, timings.speedup());
  write_file_atomically(
      directory.root() / "top10.md",
      fmt::format("# Grid search: top 10 by validation accuracy\n\n{}\n{} trials, {:.1f} s wall on {} "
                  "workers ({:.2f}x over one after another)\n",
                  table, ranked.size(), timings.wall_seconds, timings.workers, timings.speedup()));
  nlohmann::json summary = {{"trials", ranked.size()},
                            {"wall_seconds", timings.wall_seconds},
                            {"trial_seconds_sum", timings.trial_seconds_sum},
                            {"workers", timings.workers},
                            {"speedup", timings.speedup()}};
  ReportRow row{"grid", "best of 36", std::nullopt, "", "grid"};
  if (!ranked.empty() && ranked.front().completed) {
    const TrialOutcome& best = *std::ranges::find(sweep.trials, ranked.front().name,
                                                  [](const TrialOutcome& t) { return t.settings.name; });
    row.result = best.result;
    row.settings = "best of 36: " + describe(best.settings);
    row.directory = "grid/" + best.settings.name;
    summary["best"] = best.settings.to_json();
    summary["train_accuracy"] = row.result->train.accuracy;
    summary["val_accuracy"] = row.result->validation.accuracy;
    summary["test_accuracy"] = row.result->test.accuracy;
  }
  directory.write_summary(summary);
  row.note = fmt::format("{:.0f} s wall, {:.2f}x side by side", timings.wall_seconds, timings.speedup());
  return row;
}

ReportRow run_gradcheck_preset(const CommonOptions& common, DataCache& cache, const RunDirectory& out) {
  const RunDirectory directory = out.sub_run("gradcheck");
  const nlohmann::json report = run_gradcheck(cache.get(CifarSplit::batch1_batch2), common.seed);
  write_file_atomically(directory.root() / "gradcheck.json", report.dump(2) + "\n");
  double worst_tape_ref = 0, worst_numerical = 0;
  for (const auto& c : report["cases"]) {
    worst_tape_ref = std::max({worst_tape_ref, c["tape_vs_reference"]["W"].get<double>(),
                               c["tape_vs_reference"]["b"].get<double>()});
    worst_numerical = std::max({worst_numerical, c["tape_vs_numerical"]["W"].get<double>(),
                                c["tape_vs_numerical"]["b"].get<double>()});
  }
  ReportRow row{"gradcheck", "tape vs reference vs numerical", std::nullopt,
                fmt::format("worst tape-reference {:.1e}, worst tape-numerical {:.1e}", worst_tape_ref, worst_numerical),
                "gradcheck"};
  return row;
}

void write_report(const RunDirectory& out, const std::vector<ReportRow>& rows, const std::string& data,
                  double seconds) {
  std::string text = "# Softmax regression on CIFAR-10: every preset\n\n";
  text += fmt::format("Data: {}\n\nWall time of the whole run: {:.0f} s\n\n", data, seconds);
  text += "| preset | settings | train acc | val acc | test acc | train s | notes | plots |\n"
          "|---|---|---:|---:|---:|---:|---|---|\n";
  for (const auto& r : rows) {
    std::string train = "", val = "", test = "", secs = "", plots = "";
    if (r.result) {
      train = fmt::format("{:.2f}%", 100 * r.result->train.accuracy);
      val = fmt::format("{:.2f}%", 100 * r.result->validation.accuracy);
      test = fmt::format("{:.2f}%", 100 * r.result->test.accuracy);
      secs = fmt::format("{:.1f}", r.result->outcome.train_seconds);
      for (const char* plot : {"loss", "cost", "accuracy", "templates", "learning_rate", "true_class_probability"}) {
        if (std::filesystem::exists(out.root() / r.directory / (std::string(plot) + ".png"))) {
          plots += fmt::format("[{}]({}/{}.png) ", plot, r.directory, plot);
        }
      }
    }
    text += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", r.preset, r.settings, train, val, test, secs,
                        r.note, plots);
  }
  write_file_atomically(out.root() / "report.md", text);
}

// What the presets to run would allocate, refused (exit 2, naming the flags) before anything is written or read:
// against the largest training set the app can be given (Fashion-MNIST's 60,000 images, CIFAR-10's 3,072 values
// per image).
void check_resource_bounds(const std::string& preset, const Overrides& o, const CommonOptions& common) {
  const int limit = o.line.number<int>("--limit-train").value_or(0);
  const long examples = limit > 0 ? std::min(limit, 60000) : 60000;
  const auto check = [&](const ExperimentSettings& s, long at_once) {
    ExperimentFlags flags;
    flags.steps = {{"--epochs", s.epochs}, {"--batch-size", s.batch_size}};
    flags.evaluations = {{"--epochs", s.epochs}};
    check_bounds(s, examples, data::cifar10_record_bytes - 1, data::cifar10_num_classes, flags, at_once);
  };
  for (const auto& p : kPresets) {
    if (p == "all" || p == "gradcheck" || (preset != "all" && p != preset)) continue;
    ExperimentSettings s = preset_settings(p);
    apply_overrides(o, s, common);
    if (p == "grid") {
      const auto trials = grid_settings(s);
      for (const auto& trial : trials) check(trial, std::min<long>(common.threads, static_cast<long>(trials.size())));
    } else {
      check(s, 1);
    }
  }
}

// Every preset in order into OUT/<preset>/, with report.md rewritten after each. A preset that diverges or
// fails is a row of the report, not the end of the study.
void run_all_presets(const Overrides& o, const CommonOptions& common, DataCache& cache, const RunDirectory& out) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<ReportRow> rows;
  for (const auto& p : kPresets) {
    if (p == "all") continue;
    spdlog::info("=== preset {} ===", p);
    try {
      if (p == "grid") {
        rows.push_back(run_grid(o, common, cache, out));
      } else if (p == "gradcheck") {
        rows.push_back(run_gradcheck_preset(common, cache, out));
      } else {
        rows.push_back(run_single(p, o, common, cache, out));
      }
    } catch (const Diverged& error) {
      // A diverging preset (setting1 with a large eta) is a result of the study, not the end of it.
      spdlog::warn("{}: {}", p, error.what());
      rows.push_back({p, "", std::nullopt, error.what(), p});
    } catch (const AppError&) {
      throw;  // bad usage, bad data, a full disk or an interruption ends the whole run
    } catch (const train::RunDirectoryUnusable&) {
      throw;  // so does a preset's directory that cannot be used (bad usage of --out, as run_app reports it)
    } catch (const Error& error) {
      spdlog::warn("{}: {}", p, error.what());
      rows.push_back({p, "", std::nullopt, error.what(), p});
    }
    write_report(out, rows, cache.get(CifarSplit::batch1_batch2).description,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  fmt::print("report: {}\n", (out.root() / "report.md").string());
}

int run(int argc, char** argv) {
  CommandLine command_line({.name = "cifar_softmax",
                            .summary = "Softmax regression on CIFAR-10: the learning-rate and L2 study, all-data "
                                       "training, flips, grid search, step decay, sigmoid + BCE, gradient checks",
                            .presets = kPresets,
                            .default_preset = "setting2",
                            .default_data_directory = "data/cifar-10-batches-bin",
                            .default_output_directory = "runs/cifar_softmax",
                            .preset_descriptions = {
                                {"setting1", "lambda 0, eta 0.1"},
                                {"setting2", "lambda 0, eta 0.001 (the default)"},
                                {"setting3", "lambda 0.1, eta 0.001"},
                                {"setting4", "lambda 1, eta 0.001"},
                                {"all-data", "batches 1-5 less 1,000 images, which validate"},
                                {"augment", "all-data with horizontal flips, p = 0.5"},
                                {"grid", "eta x lambda x batch size, 36 trials side by side"},
                                {"step-decay", "eta 0.01, divided by 10 every 10 epochs"},
                                {"bce", "sigmoid + multiple binary cross-entropy"},
                                {"gradcheck", "tape vs reference vs numerical gradients"},
                                {"all", "every preset above, and report.md"}},
                            .search_presets = {"grid"}});
  const Overrides o(command_line);
  command_line.parse(argc, argv);
  const CommonOptions& common = command_line.common();
  train::install_stop_handlers();

  std::optional<std::filesystem::path> data_flag;
  if (command_line.was_given("--data")) data_flag = common.data_directory;
  DataCache cache(data_flag, o.line.number<int>("--limit-train").value_or(0));
  check_resource_bounds(common.preset, o, common);
  const std::string& preset = common.preset;
  // The data of every preset to run is loaded (and kept) before anything goes into --out.
  const RunDirectory out = prepare_output_directory(common, [&] {
    for (const auto& p : kPresets) {
      if (p != "all" && (preset == "all" || p == preset)) cache.get(preset_split(p));
    }
  });
  set_resume_mode(common.resume);

  if (preset == "all") {
    run_all_presets(o, common, cache, out);
    return exit_code::success;
  }
  if (preset == "grid") {
    run_grid(o, common, cache, out);
  } else if (preset == "gradcheck") {
    run_gradcheck_preset(common, cache, out);
  } else {
    const ReportRow row = run_single(preset, o, common, cache, out);
    fmt::print("{}: train {:.2f}%, validation {:.2f}%, test {:.2f}% ({} steps, {:.1f} s); results in {}\n", preset,
               100 * row.result->train.accuracy, 100 * row.result->validation.accuracy,
               100 * row.result->test.accuracy, row.result->outcome.steps, row.result->outcome.train_seconds,
               row.result->directory.string());
  }
  return exit_code::success;
}

}  // namespace
}  // namespace tapegrad::apps::cifar_softmax

int main(int argc, char** argv) { return tapegrad::apps::run_app(argc, argv, tapegrad::apps::cifar_softmax::run); }
