#include "apps/two_layer_cyclic/presets.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/common/app_error.h"
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/nn/train/progress.h>
#include "apps/common/run_info.h"
#include "apps/common/sweep.h"
#include "apps/common/threads.h"
#include <tapegrad/nn/train/timing.h>
#include "apps/two_layer_cyclic/gradient_check.h"
#include "apps/two_layer_cyclic/report.h"
#include "apps/two_layer_cyclic/training.h"

namespace tapegrad::apps::two_layer_cyclic {
namespace {

// Results go to stdout, apart from the log on stderr, so that they can be piped or kept.
void print_result(const std::string& text) {
  train::StatusLine::standard_error().finish();
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

std::vector<std::string> plots_in(const std::filesystem::path& out, const std::filesystem::path& relative) {
  std::vector<std::string> plots;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(out / relative, ignored)) {
    if (entry.path().extension() == ".png") plots.push_back((relative / entry.path().filename()).generic_string());
  }
  std::sort(plots.begin(), plots.end());
  return plots;
}

nlohmann::json app_config(const CyclicSettings& settings, const RunContext& context) {
  nlohmann::json config = run_record_json(context.common);
  config["preset"] = settings.preset;
  config["app_settings"] = to_json(settings);
  return config;
}

std::optional<double> given_lambda(const CyclicSettings& settings, const RunContext& context) {
  if (context.lambda_given) return settings.lambda;
  return std::nullopt;
}

PresetRecord run_gradcheck(const CyclicSettings& settings, const RunContext& context, const RunDirectory& directory) {
  PresetRecord record;
  const ImageSplits splits = load_preset_data(context.data_flag, settings);
  const auto cases = gradient_check_cases(settings, splits.train.size(), splits.train.shape.features());
  nlohmann::json config = app_config(settings, context);
  config["data"] = splits.description;
  config["written_at"] = utc_timestamp();
  write_run_config(directory, config);

  spdlog::info("gradcheck: tape, reference and central differences on {} cases", cases.size());
  // Thousands of products of a few hundred thousand flops each: waking a second thread for each costs more than
  // it saves (15 times more on a busy machine).
  set_thread_count(1);
  const GradientCheckReport report = run_gradient_check(cases, splits.train, settings.hidden, settings.seed);
  set_thread_count(settings.threads);
  const std::string table = format_gradient_check(report);
  print_result(table);
  record.details = "```\n" + table + "```\n";
  write_file_atomically(directory.root() / "gradcheck.json", to_json(report).dump(2) + "\n");
  record.summary = {{"name", "gradcheck"},
                    {"data", splits.description},
                    {"worst_tape_vs_reference", report.worst_tape_vs_reference},
                    {"worst_numerical", report.worst_numerical},
                    {"passed", report.passed()}};
  if (!report.passed()) {
    directory.write_summary(record.summary);
    throw Error(fmt::format("gradcheck: the gradients disagree beyond the limits (tape vs reference {:.2e}, against "
                            "central differences {:.2e}); the table is in {}",
                            report.worst_tape_vs_reference, report.worst_numerical,
                            (directory.root() / "gradcheck.json").string()));
  }
  return record;
}

PresetRecord run_training(const CyclicSettings& settings, const RunContext& context, const RunDirectory& directory,
                          const std::string& lambda_source) {
  PresetRecord record;
  const ImageSplits splits = load_preset_data(context.data_flag, settings);
  ExperimentSettings experiment = experiment_settings(settings, splits.train.size(), settings.preset);
  nlohmann::json extra = app_config(settings, context);
  extra["lambda_source"] = lambda_source;
  ExperimentResult result;
  try {
    result = train_network(experiment, splits, data::Normalizer::fitted(splits.train), directory);
  } catch (const UsageError&) {
    throw;  // a refusal (a --resume with other settings) leaves the directory as it was
  } catch (...) {
    merge_into_json_file(directory.config_path(), extra);
    throw;
  }
  merge_into_json_file(directory.config_path(), extra);
  record.summary = result.summary;
  record.summary["n_s"] = experiment.n_s;
  record.summary["cycles"] = experiment.cycles;
  record.summary["lambda_source"] = lambda_source;
  merge_into_json_file(directory.summary_path(),
                       {{"n_s", experiment.n_s}, {"cycles", experiment.cycles}, {"lambda_source", lambda_source}});
  print_result(fmt::format("{}: lambda {:.4g}, n_s {}, {} cycle{} ({} steps): train {:.2f}%, validation {:.2f}%, "
                           "test {:.2f}%\n",
                           settings.preset, experiment.lambda, experiment.n_s, experiment.cycles,
                           experiment.cycles == 1 ? "" : "s", result.outcome.steps, 100 * result.train.accuracy,
                           100 * result.validation.accuracy, 100 * result.test.accuracy));
  return record;
}

PresetRecord run_search(const CyclicSettings& settings, const RunContext& context, const RunDirectory& directory,
                        const SearchRange& range) {
  PresetRecord record;
  const ImageSplits splits = load_preset_data(context.data_flag, settings);
  const data::Normalizer normalizer = data::Normalizer::fitted(splits.train);
  const ExperimentSettings template_settings = experiment_settings(settings, splits.train.size(), settings.preset);
  template_settings.validate();  // bad settings are a usage error (exit 2), not a failure of every trial
  SearchPlan plan = plan_search(settings.preset, settings.search, range, settings.seed, template_settings.n_s,
                                template_settings.cycles, splits, settings.threads);
  plan.config.update(app_config(settings, context));
  plan.config["settings"] = to_json(settings);
  plan.config["training"] = template_settings.to_json();
  const auto train_trial = [&](train::TrialRecord& trial, const RunDirectory& trial_directory) {
    ExperimentSettings s = template_settings;
    s.lambda = trial.lambda;
    s.name = trial.name;
    s.threads = 1;
    s.show_progress = false;
    record_result(train_network(s, splits, normalizer, trial_directory), trial);
  };
  train::SearchResults results = run_lambda_search(plan, directory, train_trial);
  print_result(fmt::format("{} search ({} values of log10 lambda in [{:.3f}, {:.3f}]), sorted by validation "
                           "accuracy:\n{}",
                           settings.preset, plan.search.trials.size(), range.low, range.high,
                           train::format_results_table(results, false)));
  const train::TrialRecord& best = results.best();
  print_result(fmt::format("{}: best lambda {:.4e} (log10 {:.3f}), validation {:.2f}%; {} in {} with {} at a time "
                           "({} one after another)\n",
                           settings.preset, best.lambda, train::log10_lambda_of(best), 100 * best.val_accuracy,
                           results.trials.size() == 1 ? "1 trial" : fmt::format("{} trials", results.trials.size()),
                           train::format_duration(results.timings.wall_seconds), results.timings.workers,
                           train::format_duration(results.timings.trial_seconds_sum)));
  record.summary = search_summary_json(results);
  record.details = train::format_results_table(results, true);
  record.search = std::move(results);
  return record;
}

}  // namespace

void check_inputs_available(const CyclicSettings& settings, const RunContext& context) {
  check_search_inputs(settings.preset, given_lambda(settings, context), context.output);
}

PresetRecord run_preset(const CyclicSettings& settings, const RunContext& context, const EarlierSearches& earlier) {
  validate(settings);
  const train::Stopwatch clock;
  const RunDirectory directory(context.output / settings.preset);
  PresetRecord record;
  if (settings.preset == "gradcheck") {
    record = run_gradcheck(settings, context, directory);
  } else if (settings.preset == "coarse" || settings.preset == "fine") {
    const SearchRange range =
        search_range(settings.preset, settings.search, given_lambda(settings, context), context.output, earlier);
    record = run_search(settings, context, directory, range);
  } else if (settings.preset == "final") {
    const LambdaChoice choice = lambda_for_final(given_lambda(settings, context), context.output, earlier);
    CyclicSettings with_lambda = settings;
    with_lambda.lambda = choice.lambda;
    record = run_training(with_lambda, context, directory, choice.source);
  } else {
    record = run_training(settings, context, directory, context.lambda_given ? "--lambda" : "the preset");
  }
  record.preset = settings.preset;
  record.directory = settings.preset;
  record.wall_seconds = clock.elapsed_seconds();
  record.summary["preset"] = settings.preset;
  record.summary["preset_wall_seconds"] = record.wall_seconds;
  merge_into_json_file(directory.summary_path(), {{"preset", settings.preset},
                                                  {"preset_wall_seconds", record.wall_seconds}});
  record.plots = plots_in(context.output, record.directory);
  if (record.search) {
    const train::TrialRecord& best = record.search->best();
    for (const std::string& plot : plots_in(context.output, record.directory / best.name)) {
      record.plots.push_back(plot);
    }
  }
  spdlog::info("{}: done in {}", settings.preset, train::format_duration(record.wall_seconds));
  return record;
}

std::vector<PresetRecord> run_all(const std::function<CyclicSettings(const std::string&)>& settings_for,
                                  const RunContext& context) {
  const train::Stopwatch clock;
  std::vector<CyclicSettings> all;
  for (const std::string& preset : kPresetNames) {
    all.push_back(settings_for(preset));
    validate(all.back());
  }
  const RunDirectory out(context.output);
  nlohmann::json config = run_record_json(context.common);
  config["preset"] = "all";
  for (const auto& settings : all) config["presets"][settings.preset] = to_json(settings);
  write_run_config(out, config);

  std::vector<PresetRecord> records;
  records.reserve(all.size());  // `earlier` points into it
  auto write_summary_and_report = [&](bool complete) {
    nlohmann::json presets = nlohmann::json::array();
    for (const auto& r : records) presets.push_back({{"preset", r.preset}, {"wall_seconds", r.wall_seconds},
                                                     {"directory", r.directory.generic_string()},
                                                     {"summary", r.summary}});
    out.write_summary(nlohmann::json{{"preset", "all"},
                                     {"complete", complete},
                                     {"wall_seconds", clock.elapsed_seconds()},
                                     {"presets", presets},
                                     {"build", build_info_json()}});
    write_file_atomically(out.root() / "report.md", format_report(records, clock.elapsed_seconds(), complete));
  };
  EarlierSearches earlier;
  for (const auto& settings : all) {
    spdlog::info("all: preset {} ({} of {})", settings.preset, records.size() + 1, all.size());
    records.push_back(run_preset(settings, context, earlier));
    if (settings.preset == "coarse") earlier.coarse = &*records.back().search;
    if (settings.preset == "fine") earlier.fine = &*records.back().search;
    write_summary_and_report(records.size() == all.size());
  }
  print_result(fmt::format("all: {} presets in {}; report in {}\n", records.size(),
                           train::format_duration(clock.elapsed_seconds()), (out.root() / "report.md").string()));
  return records;
}

}  // namespace tapegrad::apps::two_layer_cyclic
