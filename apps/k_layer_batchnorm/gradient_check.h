// The gradcheck preset: on small slices of the training data (the first 20 features of the first 5 images), for
// 2, 3 and 4 layers with and without batch normalisation, the tape's gradients (the library's layers) against the
// reference's hand-derived ones (<= 1e-10) and the reference against central differences (<= 1e-6), in double.
#pragma once

#include <nlohmann/json.hpp>

#include "apps/common/datasets.h"
#include "apps/common/run_dir.h"
#include "apps/k_layer_batchnorm/settings.h"

namespace tapegrad::apps::k_layer_batchnorm {

inline constexpr double kTapeTolerance = 1e-10;
inline constexpr double kNumericalTolerance = 1e-6;

// Writes gradcheck.json (every check's worst errors and "passed") and summary.json; returns the summary.
nlohmann::json run_gradient_check(const KLayerSettings& settings, const ImageSplits& splits,
                                  const RunDirectory& directory);

}  // namespace tapegrad::apps::k_layer_batchnorm
