// One training run of the two-layer network with the cyclical rate, and the run-directory files this app adds to
// what run_experiment writes.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/common/experiment.h"
#include "apps/common/run_dir.h"

namespace tapegrad::apps::two_layer_cyclic {

// run_experiment on the splits with a normaliser fitted on the training split (pass it in to share one across
// the trials of a search), then the plot of the exact learning-rate schedule (learning_rate_schedule.png).
ExperimentResult train_network(const ExperimentSettings& settings, const ImageSplits& splits,
                               const data::Normalizer& normalizer, const RunDirectory& directory);

// eta_t at every update step t of the run, with the evaluation points marked.
void plot_schedule(const ExperimentSettings& settings, const std::vector<train::MetricsRow>& rows,
                   const RunDirectory& directory);

// Adds the keys of `extra` to the JSON object in `file` (written atomically); a missing file gets just `extra`.
void merge_into_json_file(const std::filesystem::path& file, const nlohmann::json& extra);

}  // namespace tapegrad::apps::two_layer_cyclic
