// The two-layer network with cyclical learning rates: the settings of every preset, and how they become the
// shared ExperimentSettings of one training run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/classifier.h"
#include "apps/common/datasets.h"
#include "apps/common/experiment.h"
#include "apps/common/lambda_search.h"
#include "apps/common/settings_table.h"

namespace tapegrad::apps::two_layer_cyclic {

// Every preset, in the order `all` runs them.
inline const std::vector<std::string> kPresetNames = {"gradcheck", "one-cycle", "three-cycles",
                                                      "coarse",    "fine",      "final"};

struct CyclicSettings {
  std::string preset = "one-cycle";

  // Data: which split, how many validation images (all_batches only), and how many of the training images to
  // keep (0: all of them), so that Fashion-MNIST's 60,000 give the same 45,000 / 5,000 as CIFAR-10's 50,000.
  CifarSplit split = CifarSplit::batch1_batch2;
  int validation_size = 5000;
  int train_size = 0;

  // The model and its training.
  int hidden = 50;
  double lambda = 0.01;
  long n_s = 500;  // 0: 2 floor(n / batch_size), from the training size n
  int cycles = 1;
  int batch_size = 100;
  double eta_min = 1e-5;
  double eta_max = 1e-1;
  int evaluations_per_cycle = 10;
  GradientPath path = GradientPath::tape;
  bool use_double = false;

  // The lambda searches: log10 lambda in [log_lambda_min, log_lambda_max] for coarse. The fine search centres its
  // range on the best coarse value (or on --lambda) with width fine_width (0: from the coarse results, see
  // fine_range in lambda_search.h).
  SearchSettings search;

  // The gradient check: the first gradcheck_features features of the first gradcheck_examples images.
  int gradcheck_features = 20;
  int gradcheck_examples = 2;

  std::uint64_t seed = 42;
  int threads = 1;
};

// The settings a preset starts from; throws UsageError for an unknown name.
CyclicSettings preset_settings(const std::string& preset);

// n_s itself, or 2 floor(n / batch_size) (at least 1) when the preset derives it from the training size.
long resolved_step_size(const CyclicSettings& settings, long training_examples);

// One training run of the two-layer network with the triangular cyclical rate, evaluated
// evaluations_per_cycle times per cycle (every 2 n_s / evaluations_per_cycle steps) and before the first step.
ExperimentSettings experiment_settings(const CyclicSettings& settings, long training_examples,
                                       const std::string& name);

// Throws UsageError naming the first setting that cannot work, check_resource_bounds included.
void validate(const CyclicSettings& settings);

// The largest training set and image the app can be given (Fashion-MNIST's 60,000 training images, CIFAR-10's
// 3,072 values per image): the bounds are checked before the data is read.
inline constexpr long kLargestTrainingSet = 60000;
inline constexpr long kLargestImageValues = 3072;

// Refuses (UsageError naming the flags) settings whose steps, evaluation points, trials or memory cannot fit.
void check_resource_bounds(const CyclicSettings& settings);

// Every setting with its flag, help, bounds and config.json key.
const SettingsTable<CyclicSettings>& settings_table();
nlohmann::json to_json(const CyclicSettings& settings);

// The data of a preset: load_image_splits with the preset's split, the training set then cut to its first
// train_size images when it has more.
ImageSplits load_preset_data(const std::optional<std::filesystem::path>& data_flag, const CyclicSettings& settings);

}  // namespace tapegrad::apps::two_layer_cyclic
