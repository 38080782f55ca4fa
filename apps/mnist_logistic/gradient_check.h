// Before a run trains, its model's gradients through the tape are held against the reports' hand-derived ones
// (for the binary task dC/dw = -(y - yhat) x, dC/db = -(y - yhat); for softmax regression G = -(Y - P) and
// 2 lambda W), on a batch of the run's own data, in double.
#pragma once

#include <nlohmann/json.hpp>

#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>
#include "apps/common/experiment.h"

namespace tapegrad::apps::mnist_logistic {

// Agreement expected of two exact formulas in double; the tape and the reference differ only by rounding.
inline constexpr double kGradientTolerance = 1e-8;

struct GradientCheck {
  int batch = 0;              // examples in the batch checked
  double worst = 0;           // the largest relative error over every parameter entry
  nlohmann::json parameters;  // per parameter: {"max_relative_error", "max_abs_gradient"}
};

// The check for `settings` (its loss, lambda, bias setting and seed) on the first min(batch size, 100) images of
// `train`. Throws tapegrad::Error when the two paths differ by more than kGradientTolerance: a bug, not a user
// mistake.
GradientCheck check_gradients(const ExperimentSettings& settings, const data::ImageDataset& train,
                              const data::Normalizer& normalizer);

nlohmann::json to_json(const GradientCheck& check);

}  // namespace tapegrad::apps::mnist_logistic
