// What a run leaves in its directory beyond what the training loop writes: summary.json's keys (and a finished
// run read back from them under --resume), the charts particular to the course (learnt templates, the probability
// of the true class) and model.safetensors. Private to apps/common (experiment.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "apps/common/classifier.h"
#include "apps/common/experiment.h"

namespace tapegrad::apps {

// The keys every run's summary.json has, finished or not.
nlohmann::json run_summary(const ExperimentSettings& settings, const ExperimentData& data,
                           const TrainingOutcome& outcome, bool resumed);
// The keys of a finished run: its status, accuracies, losses, early stopping and weight norms.
void add_results(nlohmann::json& summary, const ExperimentResult& result);

// Resume mode: refuses a directory whose config.json records other settings than `key` (UsageError naming them).
void check_same_run(const nlohmann::json& key, const RunDirectory& directory);
// Resume mode: the summary.json there, if any (a UsageError when it is not JSON); a diverged run is refused
// (Diverged), since resuming would repeat it.
std::optional<nlohmann::json> previous_summary(const ExperimentSettings& settings, const RunDirectory& directory);
bool finished(const nlohmann::json& summary);
// A finished run read back from its summary.json and its evaluations (`rows`, from its checkpoint).
ExperimentResult finished_run(const ExperimentSettings& settings, const RunDirectory& directory,
                              const nlohmann::json& summary, std::vector<MetricsRow> rows);

// The charts beyond the curves: a linear model's learnt templates and the histogram of the probability given to
// the true class on the test set, as the settings ask.
template <typename T>
void plot_run(const ExperimentSettings& settings, const Classifier<T>& model, const ExperimentData& data,
              const RunDirectory& directory);

// model.safetensors: the trained weights and the normaliser, so that the file alone gives the run's predictions.
template <typename T>
void save_model_file(const Classifier<T>& model, const ExperimentData& data, const ExperimentSettings& settings,
                     const RunDirectory& directory);

}  // namespace tapegrad::apps
