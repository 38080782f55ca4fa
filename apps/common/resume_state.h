// What a run directory holds for --resume, read back for run_experiment: a finished run to keep, or the checkpoint
// and evaluations an interrupted run continues from. Private to apps/common (experiment.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "apps/common/classifier.h"
#include "apps/common/experiment.h"
#include "apps/common/trainer.h"
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/optim/optimizer.h>

namespace tapegrad::apps {

// The columns of metrics.csv, which a resumed run reads back.
extern const std::vector<std::string> kMetricsColumns;

// What a run directory must match to be resumed or reused: the settings that decide the numbers (not the thread
// count, not where the output goes) and the data they were computed on.
nlohmann::json resume_key(const ExperimentSettings& settings, const ExperimentData& data);

template <typename T>
struct ResumePoint {
  std::optional<ExperimentResult> finished;        // a run that already finished there, read back
  std::optional<train::Checkpoint<T>> checkpoint;  // else where an interrupted run continues, if anywhere
  double earlier_train_seconds = 0;                // the training time before the interruption
};

// Looks at what `directory` holds (resume mode): refuses a run made with other settings than `key` (UsageError),
// and a run that diverged (Diverged); a damaged checkpoint is a Failure with the hint that says how to go on.
template <typename T>
ResumePoint<T> find_resume_point(const ExperimentSettings& settings, const nlohmann::json& key,
                                 const RunDirectory& directory);

// Puts the checkpoint's weights, optimizer and loader back, with the evaluations the run made before it and, with
// early stopping, the best weights so far (best.bin).
template <typename T>
train::Start<T> restore_run(const train::Checkpoint<T>& checkpoint, const ExperimentSettings& settings,
                             const RunDirectory& directory, Classifier<T>& model, optim::Optimizer<T>& optimizer,
                             data::BatchLoader<T>& loader);

}  // namespace tapegrad::apps
