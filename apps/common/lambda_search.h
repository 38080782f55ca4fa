// The coarse-to-fine search for lambda that two_layer_cyclic and k_layer_batchnorm share, on the library's search
// (nn/train/search.h): their flags, their config.json, summary.json and log, and where a later preset (fine after
// coarse, final after fine) finds the earlier searches' results in the same --out. What a trial trains is the
// app's: it hands run_lambda_search a function that trains one lambda into a directory and fills in its accuracies.
#pragma once

#include <nlohmann/json.hpp>
#include <tapegrad/nn/train/search.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "apps/common/datasets.h"
#include "apps/common/run_dir.h"
#include "apps/common/settings_table.h"

namespace tapegrad::apps {

// The settings of an app's lambda searches (coarse, fine): `trials` values of log10 lambda in
// [log_lambda_min, log_lambda_max] for coarse; fine centres its range on the best coarse value (or --lambda),
// fine_width wide (0: from the coarse results, see train::fine_range).
struct SearchSettings {
  int trials = 8;
  train::SearchKind kind = train::SearchKind::random;
  double log_lambda_min = -5;
  double log_lambda_max = -1;
  double fine_width = 0;
};

// Throws UsageError when the coarse range is empty (the bounds of each setting are search_settings').
void validate(const SearchSettings& settings);

// The search settings of an app's SettingsTable, for `app_settings.*search`: --count, --search,
// --log-lambda-min, --log-lambda-max and --fine-width.
//   SettingsTable<Settings>().with(search_settings(&Settings::search))
template <class Settings>
auto search_settings(SearchSettings Settings::*search) {
  return [search](SettingsTable<Settings>& table) {
    // Far outside this range lambda is 0 or infinite in floating point and the search means nothing.
    const Bounds log_range = Bounds::between(-30, 30);
    table.number("--count", nested(search, &SearchSettings::trials), "trials of a search", Bounds::at_least(1))
        .choice("--search", nested(search, &SearchSettings::kind),
                "how a search picks log10 lambda: uniform random draws or an even grid",
                {{"random", train::SearchKind::random}, {"grid", train::SearchKind::grid}})
        .number("--log-lambda-min", nested(search, &SearchSettings::log_lambda_min),
                "low end of the coarse range of log10 lambda", log_range)
        .number("--log-lambda-max", nested(search, &SearchSettings::log_lambda_max),
                "high end of the coarse range of log10 lambda", log_range)
        .number("--fine-width", nested(search, &SearchSettings::fine_width),
                "width of the fine range of log10 lambda around its centre (0: the span of the best three coarse "
                "values, at least 0.5 and at most half the coarse range; 1 around --lambda without a coarse "
                "search)",
                Bounds::at_least(0));
  };
}

// Trains trial.lambda into `directory` on one thread and fills in the trial's accuracies, train_seconds and steps;
// a trial that throws (a diverged run, say) is recorded as failed.
using TrialTrainer = std::function<void(train::TrialRecord& trial, const RunDirectory& directory)>;

// What a search runs, as its config.json and results.json record it.
struct SearchPlan {
  train::SearchResults search;  // "coarse" or "fine", one trial per value of log10 lambda; its fields: the data
  long n_s = 0;                 // the schedule of every trial
  int cycles = 0;
  int threads = 1;        // trials side by side
  nlohmann::json config;  // the app's own keys for config.json (its settings)
};

struct SearchRange {
  double low = 0;
  double high = 0;
  std::string source;  // for config.json: "--log-lambda-min and --log-lambda-max", "centred on --lambda"
};

// The plan of the search preset `preset` ("coarse", "fine") over `range` on `splits`: settings.trials points drawn
// from a generator of its own (Generator(seed).split(101) for coarse, 102 for fine: every run with the seed draws
// the same points), n_s and cycles as each trial trains, and `threads` trials side by side. The app adds its config.
SearchPlan plan_search(const std::string& preset, const SearchSettings& settings, const SearchRange& range,
                       std::uint64_t seed, long n_s, int cycles, const ImageSplits& splits, int threads);

// Runs train_trial for every point into directory/trial<NN>_lambda<value>/, plan.threads trials at a time, then
// writes results.csv, results.json, summary.json, config.json and validation_accuracy.png into `directory`.
// Throws Interrupted after Ctrl-C (the trials under way saved their state), and Error when every trial failed.
train::SearchResults run_lambda_search(const SearchPlan& plan, const RunDirectory& directory,
                                       const TrialTrainer& train_trial);

// The search's summary.json: train::search_summary with the build, n_s, cycles and data.
nlohmann::json search_summary_json(const train::SearchResults& results);

// Where the fine search and the final run find their lambda: --lambda when given, else what the searches left in
// --out (or handed over in memory by `all`).
using EarlierSearches = train::SearchChain;  // the functions below take its root from `output`

struct LambdaChoice {
  double lambda = 0;
  std::string source;  // for the log and config.json: "--lambda", "the best of the fine search (...)"
};

// final: `given_lambda`, else the best of the fine search, else the best of the coarse search; logs where lambda
// came from. Throws UsageError (exit 2) when there is none, DataError (exit 3) for a results.json it cannot read.
LambdaChoice lambda_for_final(std::optional<double> given_lambda, const std::filesystem::path& output,
                              const EarlierSearches& earlier);

// The range of log10 lambda that the search preset `preset` covers: coarse [log_lambda_min, log_lambda_max], fine
// around log10 of `given_lambda` (which must be > 0) or the best coarse trial. Throws UsageError (exit 2) when fine
// has nothing to centre on.
SearchRange search_range(const std::string& preset, const SearchSettings& settings,
                         std::optional<double> given_lambda, const std::filesystem::path& output,
                         const EarlierSearches& earlier);

// Before any data is read: a fine or final run alone finds what it needs in `output` or in `given_lambda`; throws
// UsageError otherwise, saying which search to run (or merge) first. Other presets need nothing.
void check_search_inputs(const std::string& preset, std::optional<double> given_lambda,
                         const std::filesystem::path& output);

}  // namespace tapegrad::apps
