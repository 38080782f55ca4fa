// One training run of the k-layer network, built from the library's layers and trained with the library's loop:
// config.json, metrics.csv, summary.json, the charts, model.safetensors (with the running statistics) and the run
// checkpoint in its run directory.
#pragma once

#include <tapegrad/nn/train/metrics.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/common/run_dir.h"
#include "apps/k_layer_batchnorm/settings.h"

namespace tapegrad::apps::k_layer_batchnorm {

// The per-layer mean and std (over units and examples) of what each hidden layer's ReLU sees, on the validation
// set with the trained network in evaluation mode.
struct PreActivationStatistics {
  std::vector<double> mean;
  std::vector<double> standard_deviation;
};

struct RunResult {
  nlohmann::json summary;
  std::vector<train::MetricsRow> rows;
  PreActivationStatistics pre_activations;
};

// Loads nothing: `splits` are the preset's data (all five batches less the validation images). With
// `show_progress`, the steps' progress goes to the log (a run on its own, not a trial beside others).
RunResult train_k_layer(const KLayerSettings& settings, const ImageSplits& splits, const RunDirectory& directory,
                        bool show_progress = false);

// The data of a preset: all five batches less validation_size, the training set cut to --limit-train.
ImageSplits load_preset_data(const std::optional<std::filesystem::path>& data_flag,
                             const KLayerSettings& settings);

}  // namespace tapegrad::apps::k_layer_batchnorm
