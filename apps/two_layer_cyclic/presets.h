// Running the presets: each writes its run directory under --out/<preset>/, and `all` runs them in order, passing
// the coarse search's results to the fine search and the best lambda to the final run, then writes report.md.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/run_dir.h"
#include "apps/common/lambda_search.h"
#include "apps/two_layer_cyclic/settings.h"

namespace tapegrad::apps::two_layer_cyclic {

struct RunContext {
  CommonOptions common;
  std::optional<std::filesystem::path> data_flag;  // --data when given; otherwise the data is looked for
  std::filesystem::path output;                    // --out
  bool lambda_given = false;                       // --lambda on the command line: final and fine use it
};

// What one preset left, for the summary and report of `all`.
struct PresetRecord {
  std::string preset;
  std::filesystem::path directory;  // relative to --out
  double wall_seconds = 0;          // the whole preset: loading the data, training, evaluation, plots
  nlohmann::json summary;           // the preset's summary.json
  std::vector<std::string> plots;   // PNG files, relative to --out
  std::optional<train::SearchResults> search;
  std::string details;  // Markdown for the report: the gradient check's table, a search's sorted trials
};

// Runs one preset (not `all`) with its resolved settings. Throws UsageError (exit 2) when fine or final has
// nothing to start from: no earlier search in --out and no --lambda.
PresetRecord run_preset(const CyclicSettings& settings, const RunContext& context, const EarlierSearches& earlier = {});

// Checks, before any data is read, that a fine or final run on its own finds what it needs in --out (or --lambda):
// the centre of fine's range, final's lambda. Throws UsageError (exit 2) saying what to run first.
void check_inputs_available(const CyclicSettings& settings, const RunContext& context);

// Every preset in order, each with the settings `settings_for(preset)` gives; then summary.json, config.json and
// report.md in --out.
std::vector<PresetRecord> run_all(const std::function<CyclicSettings(const std::string&)>& settings_for,
                                  const RunContext& context);

}  // namespace tapegrad::apps::two_layer_cyclic
