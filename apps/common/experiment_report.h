// The report of a finished run: summary.json's keys, the charts (curves, learnt templates, the probability of the
// true class) and model.safetensors. Private to apps/common (experiment.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "apps/common/classifier.h"
#include "apps/common/experiment.h"
#include "apps/common/trainer.h"

namespace tapegrad::apps {

nlohmann::json evaluation_json(const Evaluation& evaluation);

// The keys every run's summary.json has, finished or not.
nlohmann::json run_summary(const ExperimentSettings& settings, const ExperimentData& data,
                           const TrainingOutcome& outcome, bool resumed);
// The keys of a finished run: its status, accuracies, losses, early stopping and weight norms.
void add_results(nlohmann::json& summary, const ExperimentResult& result);

// The charts of a finished run beyond its curves: the learnt templates of a linear model and the histogram of the
// probability given to the true class, as the settings ask.
template <typename T>
void plot_run(const ExperimentSettings& settings, const Classifier<T>& model, const data::ImageDataset& train_set,
              const data::ImageDataset& test_set, const DetailedEvaluation& test, const RunDirectory& directory);

// model.safetensors: the trained weights and the normaliser, so that the file alone gives the run's predictions.
template <typename T>
void save_model_file(const Classifier<T>& model, const data::Normalizer& normalizer, const data::ImageDataset& train_set,
                     const ExperimentSettings& settings, const RunDirectory& directory);

}  // namespace tapegrad::apps
