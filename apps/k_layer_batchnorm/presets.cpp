#include "apps/k_layer_batchnorm/presets.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tapegrad/core/generator.h>

#include <cmath>
#include <cstdio>

#include "apps/common/app_error.h"
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/train/progress.h>
#include "apps/common/sweep.h"
#include <tapegrad/nn/train/timing.h>
#include "apps/k_layer_batchnorm/gradient_check.h"
#include "apps/k_layer_batchnorm/training.h"

namespace tapegrad::apps::k_layer_batchnorm {
namespace {

std::optional<double> given_lambda(const KLayerSettings& settings, const PresetContext& context) {
  if (context.lambda_given) return settings.lambda;
  return std::nullopt;
}

double number_in(const nlohmann::json& summary, const char* key) {
  return summary.contains(key) && summary[key].is_number() ? summary[key].get<double>() : std::nan("");
}

std::string percent(double fraction) { return std::isnan(fraction) ? "-" : fmt::format("{:.2f}%", 100 * fraction); }

// A search over log10 lambda: every trial is this preset's network with its own lambda, on one thread.
PresetRecord run_search(const KLayerSettings& settings, const PresetContext& context, const RunDirectory& directory,
                        const SearchRange& range) {
  const ImageSplits splits = load_preset_data(context.data_flag, settings);
  SearchPlan plan = plan_search(settings.preset, settings.search, range, settings.seed, settings.n_s,
                                settings.cycles, splits, settings.threads);
  plan.config["preset"] = settings.preset;
  plan.config["settings"] = to_json(settings);
  const auto train_trial = [&](train::TrialRecord& trial, const RunDirectory& trial_directory) {
    KLayerSettings run = settings;
    run.lambda = trial.lambda;
    run.preset = settings.preset + "/" + trial.name;
    run.threads = 1;
    const nlohmann::json summary = train_k_layer(run, splits, trial_directory).summary;
    trial.train_accuracy = number_in(summary, "train_accuracy");
    trial.val_accuracy = number_in(summary, "val_accuracy");
    trial.test_accuracy = number_in(summary, "test_accuracy");
    trial.train_seconds = number_in(summary, "train_seconds");
    trial.steps = summary.value("steps", 0L);
  };
  train::SearchResults results = run_lambda_search(plan, directory, train_trial);
  const train::TrialRecord& best = results.best();
  std::printf("%s search (%zu values of log10 lambda in [%.3f, %.3f]), sorted by validation accuracy:\n%s"
              "%s: best lambda %.4e (log10 %.3f), validation %.2f%%; in %s with %d at a time (%s one after another)\n",
              settings.preset.c_str(), plan.search.trials.size(), range.low, range.high,
              train::format_results_table(results, false).c_str(), settings.preset.c_str(), best.lambda,
              train::log10_lambda_of(best), 100 * best.val_accuracy,
              train::format_duration(results.timings.wall_seconds).c_str(), results.timings.workers,
              train::format_duration(results.timings.trial_seconds_sum).c_str());
  std::fflush(stdout);
  PresetRecord record{settings.preset, search_summary_json(results), train::format_results_table(results, true), {}};
  record.search = std::move(results);
  return record;
}

// The loss curves of one sigma, with and without batch normalisation, in one chart.
void plot_sensitivity(double sigma, const std::vector<std::pair<bool, const RunResult*>>& runs,
                      const RunDirectory& directory) {
  plot::LineChart chart;
  chart.title = fmt::format("sigma = {}: training and validation loss", sigma);
  chart.x_axis.label = "update step";
  chart.y_axis.label = "loss";
  for (const auto& [batch_norm, result] : runs) {
    if (result == nullptr) continue;
    for (const bool validation : {false, true}) {
      plot::Series series{fmt::format("{} ({})", batch_norm ? "with BN" : "without BN",
                                      validation ? "validation" : "training"),
                          {},
                          {}};
      for (const auto& row : result->rows) {
        series.x.push_back(static_cast<double>(row.step));
        series.y.push_back(validation ? row.validation.loss : row.train.loss);
      }
      chart.series.push_back(std::move(series));
    }
  }
  plot::save(chart, directory.plot_path(fmt::format("loss_sigma{}", sigma)));
}

// sensitivity: sigma in {1e-1, 1e-3, 1e-4}, with and without batch normalisation, the six runs side by side.
PresetRecord run_sensitivity(const KLayerSettings& base, const PresetContext& context,
                             const RunDirectory& directory) {
  const ImageSplits splits = load_preset_data(context.data_flag, base);
  const std::vector<double> sigmas = {1e-1, 1e-3, 1e-4};
  std::vector<KLayerSettings> runs;
  for (const double sigma : sigmas) {
    for (const bool batch_norm : {false, true}) {
      KLayerSettings s = base;
      s.sigma = sigma;
      s.batch_norm = batch_norm;
      s.threads = 1;
      s.preset = fmt::format("sigma{}_{}", sigma, batch_norm ? "bn" : "nobn");
      runs.push_back(s);
    }
  }
  write_run_config(directory, {{"preset", "sensitivity"}, {"settings", to_json(base)}, {"sigmas", sigmas}});
  std::vector<std::optional<RunResult>> results(runs.size());
  std::vector<std::string> names;
  for (const KLayerSettings& run : runs) names.push_back(run.preset);
  const train::TrialRuns outcome =
      run_trials(directory, names, base.threads, [&](std::size_t i, const RunDirectory& run_directory) {
        results[i] = train_k_layer(runs[i], splits, run_directory);
        return fmt::format("{}: test {}", runs[i].preset, percent(number_in(results[i]->summary, "test_accuracy")));
      });

  nlohmann::json table = nlohmann::json::array();
  std::string details =
      "| sigma | batch norm | train acc. | validation acc. | test acc. | final training loss |\n"
      "|---:|---|---:|---:|---:|---:|\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    nlohmann::json entry = {{"sigma", runs[i].sigma}, {"batch_norm", runs[i].batch_norm},
                            {"directory", runs[i].preset}, {"completed", outcome.trials[i].completed}};
    if (results[i]) {
      entry["summary"] = results[i]->summary;
    } else {
      entry["message"] = outcome.trials[i].error;
    }
    const nlohmann::json summary = results[i] ? results[i]->summary : nlohmann::json::object();
    details += fmt::format("| {} | {} | {} | {} | {} | {} |\n", runs[i].sigma, runs[i].batch_norm ? "on" : "off",
                           percent(number_in(summary, "train_accuracy")), percent(number_in(summary, "val_accuracy")),
                           percent(number_in(summary, "test_accuracy")),
                           results[i] ? fmt::format("{:.4f}", number_in(summary, "train_loss"))
                                      : "failed: " + outcome.trials[i].error);
    table.push_back(entry);
  }
  for (std::size_t k = 0; k < sigmas.size(); ++k) {
    const auto* without = results[2 * k] ? &*results[2 * k] : nullptr;
    const auto* with = results[2 * k + 1] ? &*results[2 * k + 1] : nullptr;
    plot_sensitivity(sigmas[k], {{false, without}, {true, with}}, directory);
  }
  // The charts, linked from results.md beside them and from report.md one directory up.
  const auto charts = [&](const std::string& prefix) {
    std::string text = "\n| sigma | loss curves |\n|---:|---|\n";
    for (const double sigma : sigmas) {
      text += fmt::format("| {} | ![loss, sigma {}]({}loss_sigma{}.png) |\n", sigma, sigma, prefix, sigma);
    }
    return text;
  };
  write_file_atomically(directory.root() / "results.md", details + charts(""));
  details += charts("sensitivity/");
  nlohmann::json summary = {{"preset", "sensitivity"}, {"runs", table}, {"wall_seconds", outcome.wall_seconds},
                            {"trial_seconds_sum", outcome.trial_seconds_sum}, {"workers", outcome.workers}};
  directory.write_summary(summary);
  std::printf("sensitivity to the initial sigma, 3-layer network:\n%s", details.c_str());
  std::fflush(stdout);
  return {"sensitivity", summary, details, {}};
}

PresetRecord run_training(const KLayerSettings& settings, const PresetContext& context,
                          const RunDirectory& directory) {
  const ImageSplits splits = load_preset_data(context.data_flag, settings);
  const RunResult result = train_k_layer(settings, splits, directory, /*show_progress=*/true);
  std::printf("%s: lambda %.4g, %ld steps: train %s, validation %s, test %s\n", settings.preset.c_str(),
              settings.lambda, settings.total_steps(), percent(number_in(result.summary, "train_accuracy")).c_str(),
              percent(number_in(result.summary, "val_accuracy")).c_str(),
              percent(number_in(result.summary, "test_accuracy")).c_str());
  std::fflush(stdout);
  return {settings.preset, result.summary, {}, {}};
}

}  // namespace

void check_inputs_available(const KLayerSettings& settings, const PresetContext& context) {
  check_search_inputs(settings.preset, given_lambda(settings, context), context.output);
}

PresetRecord run_preset(const KLayerSettings& settings, const PresetContext& context,
                        const EarlierSearches& earlier) {
  validate(settings);
  const train::Stopwatch clock;
  const RunDirectory directory = RunDirectory(context.output).sub_run(settings.preset);
  PresetRecord record;
  if (settings.preset == "gradcheck") {
    const ImageSplits splits = load_preset_data(context.data_flag, settings);
    record = {settings.preset, run_gradient_check(settings, splits, directory), {}, {}};
  } else if (settings.preset == "coarse" || settings.preset == "fine") {
    const SearchRange range =
        search_range(settings.preset, settings.search, given_lambda(settings, context), context.output, earlier);
    record = run_search(settings, context, directory, range);
  } else if (settings.preset == "final") {
    const LambdaChoice choice = lambda_for_final(given_lambda(settings, context), context.output, earlier);
    KLayerSettings with_lambda = settings;
    with_lambda.lambda = choice.lambda;
    record = run_training(with_lambda, context, directory);
    record.summary["lambda_source"] = choice.source;
  } else if (settings.preset == "sensitivity") {
    record = run_sensitivity(settings, context, directory);
  } else {
    record = run_training(settings, context, directory);
  }
  record.summary["preset_wall_seconds"] = clock.elapsed_seconds();
  spdlog::info("{}: done in {}", settings.preset, train::format_duration(clock.elapsed_seconds()));
  return record;
}

namespace {

std::string format_report(const std::vector<PresetRecord>& records, bool complete) {
  std::string text = "# k_layer_batchnorm\n\n";
  if (!complete) text += "*Incomplete: the run of every preset has not ended yet.*\n\n";
  text += "| preset | train | validation | test | test, whole-training-set BN statistics | wall time |\n"
          "|---|---:|---:|---:|---:|---:|\n";
  for (const auto& r : records) {
    text += fmt::format("| [{}]({}/) | {} | {} | {} | {} | {} |\n", r.preset, r.preset,
                        percent(number_in(r.summary, "train_accuracy")), percent(number_in(r.summary, "val_accuracy")),
                        percent(number_in(r.summary, "test_accuracy")),
                        percent(number_in(r.summary, "test_accuracy_training_set_statistics")),
                        train::format_duration(number_in(r.summary, "preset_wall_seconds")));
  }
  for (const auto& r : records) {
    if (r.details.empty()) continue;
    text += fmt::format("\n## {}\n\n{}", r.preset, r.details);
  }
  return text;
}

}  // namespace

std::vector<PresetRecord> run_all(const std::function<KLayerSettings(const std::string&)>& settings_for,
                                  const PresetContext& context) {
  std::vector<PresetRecord> records;
  records.reserve(kPresetNames.size());  // `earlier` points into it
  EarlierSearches earlier;
  for (const auto& preset : kPresetNames) {
    spdlog::info("all: preset {} ({} of {})", preset, records.size() + 1, kPresetNames.size());
    records.push_back(run_preset(settings_for(preset), context, earlier));
    if (preset == "coarse") earlier.coarse = &*records.back().search;
    if (preset == "fine") earlier.fine = &*records.back().search;
    write_file_atomically(context.output / "report.md", format_report(records, records.size() == kPresetNames.size()));
  }
  return records;
}

}  // namespace tapegrad::apps::k_layer_batchnorm
