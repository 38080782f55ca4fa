// The one format in which every app's searches record their trials (cifar_softmax grid, two_layer_cyclic and
// k_layer_batchnorm coarse and fine, mnist_logistic lambda-sweep and binary-shuffle-vs-not): results.csv, one row
// per trial with the columns of kResultColumns, ranked by validation accuracy, and results.json, the same trials
// under the same keys plus the search's timings and its best trial, for programs.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "apps/common/run_dir.h"

namespace tapegrad::apps {

// One trial. A setting a search does not vary per trial (eta under a cyclic schedule, say) is left empty.
struct TrialRecord {
  std::string name{};  // also its run directory below the search's
  double lambda = 0;
  std::optional<double> eta{};
  std::optional<long> batch_size{};
  bool completed = false;
  std::string error{};  // why it did not complete
  double train_accuracy = 0;
  double val_accuracy = 0;
  double test_accuracy = 0;
  long steps = 0;
  double train_seconds = 0;  // training alone
  double wall_seconds = 0;   // the trial from start to end
  nlohmann::json extra = nlohmann::json::object();  // a search's own keys for this trial in results.json
};

// The columns of results.csv, and the keys of each trial in results.json.
inline const std::vector<std::string> kResultColumns = {
    "rank",           "name",         "lambda",        "eta",   "batch_size",    "completed",   "train_accuracy",
    "val_accuracy",   "test_accuracy", "steps",        "train_seconds", "wall_seconds", "error"};

// How the trials ran side by side.
struct SearchTimings {
  int workers = 1;
  double wall_seconds = 0;       // the whole search
  double trial_seconds_sum = 0;  // the trials one after another
};

// `trials` ranked: completed before failed, then by validation accuracy (highest first), else in the given order.
std::vector<TrialRecord> ranked(std::vector<TrialRecord> trials);

// One trial as results.json holds it: the keys of kResultColumns (the accuracies null for a failed trial), then
// the trial's `extra` keys.
nlohmann::json trial_record_json(const TrialRecord& trial, int rank);

// Writes directory/results.csv and directory/results.json for `trials` (ranked as given). results.json holds
// "name", "trials", "workers", "wall_seconds", "trial_seconds_sum", "speedup" and "best" (the best completed
// trial's name, or null), then the search's own keys from `extra`.
void write_results(const RunDirectory& directory, const std::string& name, const std::vector<TrialRecord>& trials,
                   const SearchTimings& timings, const nlohmann::json& extra = nlohmann::json::object());

}  // namespace tapegrad::apps
