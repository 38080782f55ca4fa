// Running the presets of k_layer_batchnorm: each writes OUT/<preset>/; coarse and fine are the shared lambda
// searches (apps/common/lambda_search.h), final trains the best lambda they found, sensitivity six runs side by
// side, and `all` runs every preset in order and writes OUT/report.md.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/lambda_search.h"
#include "apps/k_layer_batchnorm/settings.h"

namespace tapegrad::apps::k_layer_batchnorm {

struct PresetContext {
  std::optional<std::filesystem::path> data_flag;  // --data when given; otherwise the data is looked for
  std::filesystem::path output;                    // --out
  bool lambda_given = false;                       // --lambda on the command line: fine and final use it
};

// What one preset left, for the report of `all`.
struct PresetRecord {
  std::string preset;
  nlohmann::json summary;  // the preset's summary.json, with preset_wall_seconds
  std::string details;     // Markdown for the report: a search's sorted trials, sensitivity's table
  std::optional<train::SearchResults> search;
};

// Runs one preset (not `all`). Throws UsageError (exit 2) when fine or final has nothing to start from.
PresetRecord run_preset(const KLayerSettings& settings, const PresetContext& context,
                        const EarlierSearches& earlier = {});

// Before any data is read: fine and final on their own find what they need in --out or in --lambda.
void check_inputs_available(const KLayerSettings& settings, const PresetContext& context);

// Every preset in order with settings_for(preset), handing coarse to fine and both to final; report.md after each.
std::vector<PresetRecord> run_all(const std::function<KLayerSettings(const std::string&)>& settings_for,
                                  const PresetContext& context);

}  // namespace tapegrad::apps::k_layer_batchnorm
