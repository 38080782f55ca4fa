// The study itself: read the IDX data once, then run a preset (one run, or several side by side) into a run
// directory, with the study's own figures and summaries on top of each run's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/nn/data/idx.h>
#include <tapegrad/nn/data/normalizer.h>
#include "apps/common/cli.h"
#include "apps/common/datasets.h"
#include "apps/common/experiment.h"
#include "apps/common/run_dir.h"
#include "apps/common/settings_table.h"
#include "apps/mnist_logistic/presets.h"

namespace tapegrad::apps::mnist_logistic {

struct StudyOptions {
  DatasetKind dataset = DatasetKind::fashion_mnist;
  std::filesystem::path data_directory = kFashionMnistDirectory;
  // No --data: Fashion-MNIST from Debian's dataset-fashion-mnist package, said plainly in the log and outputs.
  bool fallback = true;
  std::vector<int> binary_classes{0, 6};
  data::Scaling scaling = data::Scaling::unit_interval;
  double validation_fraction = 0.1;
  double evaluation_fraction = 0.2;  // validation every this fraction of an epoch
  int limit_train = 0;               // > 0: only the first this many training images (of the task's classes)
  int threads = 1;                   // one run's matrix products, or the trials run side by side
  std::uint64_t seed = 42;
  // The user's overrides of single settings (flags given), applied to every run of a preset; and whether a flag
  // was given, for the presets that set a setting themselves and say so.
  std::function<void(ExperimentSettings&)> apply_overrides{};
  std::function<bool(const std::string&)> flag_given{};
  CommonOptions common{};  // recorded in config.json
};

// The study's own settings (--scaling, --validation-fraction, --eval-every, --limit-train), in every run's
// config.json under "study".
const SettingsTable<StudyOptions>& study_settings_table();

// "[0, 1]" or "[-1, 1]" ("standardized" for the CIFAR apps' scaling).
const char* scaling_name(data::Scaling scaling);

class Study {
 public:
  // Reads the training and test files (DataError, exit code 3, naming what is missing or malformed).
  explicit Study(StudyOptions options);

  // Runs `preset` into `directory` and returns its summary, also written to directory/summary.json. UsageError
  // (exit 2) for settings out of range, DataError (3) for data that cannot give the splits, Error (1) for a
  // run that diverges.
  nlohmann::json run(const std::string& preset, const RunDirectory& directory);

  // Refuses (UsageError, exit 2, naming the flags) the presets `preset` runs when their steps, evaluation points or
  // memory cannot fit; called before anything is written into the run directory.
  void check_resource_bounds(const std::string& preset);

  const StudyOptions& options() const { return options_; }

 private:
  const ImageSplits& splits_for(bool binary);
  ExperimentSettings prepared(ExperimentSettings settings, const ImageSplits& splits) const;
  nlohmann::json study_json(bool binary) const;
  nlohmann::json run_single(const std::string& preset, const RunDirectory& directory);
  nlohmann::json run_trials(const std::string& preset, const RunDirectory& directory);
  nlohmann::json run_all(const RunDirectory& directory);

  StudyOptions options_;
  data::TrainTestDatasets loaded_;
  double load_seconds_ = 0;
  std::optional<ImageSplits> binary_splits_;
  std::optional<ImageSplits> multiclass_splits_;
};

}  // namespace tapegrad::apps::mnist_logistic
