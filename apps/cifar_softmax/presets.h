// The presets of the softmax-regression study: what each one trains, on which split.
#pragma once

#include <string>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/common/experiment.h"

namespace tapegrad::apps::cifar_softmax {

inline const std::vector<std::string> kPresets = {"setting1", "setting2", "setting3", "setting4", "all-data",
                                                  "augment",  "grid",     "step-decay", "bce",    "gradcheck",
                                                  "all"};

// Validation images held out of batches 1-5 by the presets that train on all the data.
inline constexpr int kAllDataValidation = 1000;

// The settings of a single-run preset (every preset but grid, gradcheck and all).
ExperimentSettings preset_settings(const std::string& preset);

// Which split a preset trains on.
CifarSplit preset_split(const std::string& preset);

// The grid: eta in {0.001, 0.005, 0.01} x lambda in {0, 0.001, 0.1, 1} x n_batch in {50, 100, 200}.
std::vector<ExperimentSettings> grid_settings(const ExperimentSettings& base);

}  // namespace tapegrad::apps::cifar_softmax
