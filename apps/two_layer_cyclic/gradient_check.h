// The gradcheck preset: the two-layer network's gradients three ways - the tape, the reports' hand-derived
// formulas (nn/reference) and central differences - on slices of real, normalised images.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/two_layer_cyclic/settings.h"

namespace tapegrad::apps::two_layer_cyclic {

struct GradientCheckCase {
  std::string name;
  int features = 0;  // the first `features` pixels of each image ...
  int examples = 0;  // ... of the first `examples` training images
  double lambda = 0;
  bool numerical = true;  // false: tape against reference only (W1 too large for finite differences)
};

// Relative errors |a - b| / max(eps, |a| + |b|), maximised over a parameter's entries; NaN where not computed.
struct ParameterErrors {
  std::string parameter;  // W1, b1, W2, b2
  int rows = 0;
  int cols = 0;
  double tape_vs_reference = 0;
  double tape_vs_numerical = 0;
  double reference_vs_numerical = 0;
  double max_abs_gradient = 0;  // a check where every gradient is zero checks nothing
  // The central differences' step h: 1e-3 for W2 and b2; for W1 and b1 smaller when a hidden pre-activation
  // W1 x + b1 lies so near ReLU's kink that the perturbations would carry it across (where the differences
  // measure two different functions and disagree with any analytic gradient), but at least 1e-7.
  double finite_difference_step = 0;
};

struct GradientCheckCaseResult {
  GradientCheckCase check;
  std::vector<ParameterErrors> parameters;
  // Pre-activations that the first layer's step can still carry across the kink (only when its floor of 1e-7
  // was hit): a large numerical error with a count here is the kink's, not the gradient's.
  int near_kink = 0;
};

struct GradientCheckReport {
  std::vector<GradientCheckCaseResult> cases;
  double worst_tape_vs_reference = 0;
  double worst_numerical = 0;  // over tape and reference against central differences
  double tape_vs_reference_limit = 1e-8;
  double numerical_limit = 1e-5;
  bool passed() const {
    return worst_tape_vs_reference <= tape_vs_reference_limit && worst_numerical <= numerical_limit;
  }
};

// The preset's cases: the slice (features x examples) with lambda 0 and with lambda > 0, a whole mini-batch of
// the same features, and a whole mini-batch of every feature (tape against reference).
std::vector<GradientCheckCase> gradient_check_cases(const CyclicSettings& settings, int available_examples,
                                                    int available_features);

// Runs the cases on the first images of `training`, normalised with statistics fitted on all of it, with a network
// initialised as for training (W1 ~ N(0, 1/d), W2 ~ N(0, 1/m), biases 0) from settings.seed.
GradientCheckReport run_gradient_check(const std::vector<GradientCheckCase>& cases, const data::ImageDataset& training,
                                       int hidden, std::uint64_t seed);

// One row per case and parameter, for a terminal.
std::string format_gradient_check(const GradientCheckReport& report);
nlohmann::json to_json(const GradientCheckReport& report);

}  // namespace tapegrad::apps::two_layer_cyclic
