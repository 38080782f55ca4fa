// The coarse and fine searches for lambda: one training run per value of log10 lambda, the runs side by side on
// the available cores, the results sorted by validation accuracy and kept in results.json so that a later
// preset (fine after coarse, final after fine) can read them from the same --out.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/common/run_dir.h"
#include <tapegrad/core/generator.h>
#include "apps/two_layer_cyclic/settings.h"

namespace tapegrad::apps::two_layer_cyclic {

struct TrialResult {
  int index = 0;  // 1-based, in the order the values were drawn
  double log10_lambda = 0;
  double lambda = 0;
  bool completed = false;
  std::string message;  // why a trial failed (it diverged, say)
  double train_accuracy = 0;
  double val_accuracy = 0;
  double test_accuracy = 0;
  double train_seconds = 0;
  double wall_seconds = 0;
  long steps = 0;
  std::string directory;  // relative to the search's directory
};

struct SearchResults {
  std::string name;  // "coarse", "fine"
  SearchKind kind = SearchKind::random;
  double log_lambda_min = 0;
  double log_lambda_max = 0;
  long n_s = 0;
  int cycles = 0;
  int train_examples = 0;
  int validation_examples = 0;
  std::string data;
  std::vector<TrialResult> trials;  // best validation accuracy first; failed trials last
  int workers = 1;
  double wall_seconds = 0;   // the search from first trial to last
  double trial_seconds = 0;  // the trials' own wall times added up: the time one after another would take

  // The best completed trial; throws tapegrad::Error when none completed.
  const TrialResult& best() const;
};

// `count` values of log10 lambda in [low, high]: uniform draws from `generator`, or an even grid that includes both
// ends (the middle of the range for a count of 1).
std::vector<double> search_points(double low, double high, int count, SearchKind kind, Generator& generator);

// The fine search's range of log10 lambda around `centre`: `width` wide when positive; otherwise the span of the
// best three completed trials of `coarse`, but at least kMinimumFineWidth and at most half the coarse range wide
// (centred on `centre` when outside those); kDefaultFineWidth wide without coarse results.
std::pair<double, double> fine_range(double centre, double width, const SearchResults* coarse);

// Runs one training per point into directory/trials/..., `settings.threads` trials at a time, each on one thread,
// then writes results.json, summary.json, config.json and validation_accuracy.png into `directory`.
SearchResults run_lambda_search(const std::string& name, const CyclicSettings& settings,
                                const std::vector<double>& log10_lambdas, double low, double high,
                                const ImageSplits& splits, const RunDirectory& directory,
                                const nlohmann::json& config_extra);

nlohmann::json to_json(const SearchResults& results);
// The search's summary.json: the sweep's timings, and its best trial under the keys every run's summary has
// (lambda, train_accuracy, val_accuracy, test_accuracy, train_seconds, steps).
nlohmann::json search_summary_json(const SearchResults& results);
// Throws tapegrad::Error naming what is missing or malformed.
SearchResults search_results_from_json(const nlohmann::json& json);

// results.json of an earlier search in `directory`; nullopt when there is none. Throws DataError (exit code 3)
// when the file exists but cannot be read.
std::optional<SearchResults> read_search_results(const std::filesystem::path& directory);

// The sorted table, one line per trial, for a terminal and for report.md (Markdown).
std::string format_search_table(const SearchResults& results, bool markdown);

}  // namespace tapegrad::apps::two_layer_cyclic
