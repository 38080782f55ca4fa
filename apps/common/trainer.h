// The apps' use of the library's training loop (nn/train/loop.h): a Classifier's steps through either gradient
// path, its own evaluation (loss, cost and accuracy as the reports define them), and the apps' messages.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/common/classifier.h"
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/train/loop.h>
#include <tapegrad/nn/train/metrics.h>
#include <tapegrad/optim/optimizer.h>
#include <tapegrad/optim/schedule.h>

namespace tapegrad::apps {

using Evaluation = train::Evaluation;

// Loss, cost and accuracy over a whole dataset, in chunks, without recording.
template <typename T>
Evaluation evaluate(const Classifier<T>& model, const data::ImageDataset& dataset, const data::Normalizer& normalizer,
                    double lambda, int chunk_size = 2000);

struct DetailedEvaluation {
  Evaluation summary;
  std::vector<int> predictions;
  std::vector<double> true_class_probabilities;
};
template <typename T>
DetailedEvaluation evaluate_detailed(const Classifier<T>& model, const data::ImageDataset& dataset,
                                     const data::Normalizer& normalizer, double lambda, int chunk_size = 2000);

using MetricsRow = train::MetricsRow;

struct TrainingPlan {
  long total_steps = 0;
  // Steps after which to evaluate, ascending; 0 means before the first update. When empty, every
  // evaluate_every_steps steps (0: once per epoch) and at the end, with 0 first when evaluate_at_start: computed
  // as training goes, never listed, so the plan of a long run takes no memory.
  std::vector<long> evaluation_steps;
  long evaluate_every_steps = 0;
  bool evaluate_at_start = true;
  double lambda = 0;
  GradientPath path = GradientPath::tape;
  // Early stopping: stop when the validation loss has not improved for this many evaluations in a row (0: off),
  // and then put back the weights of the best evaluation.
  int patience = 0;
  int evaluation_chunk = 2000;
};

struct TrainingHooks {
  std::function<void(const MetricsRow&)> on_evaluation;
  // After every update: steps done, total steps, the batch cost.
  std::function<void(long, long, double)> on_step;
  // Polled before every step; true ends training cleanly after the step under way (Ctrl-C).
  std::function<bool()> stop_requested;
  // With early stopping: an evaluation has just set a new best validation loss (the model holds its weights).
  // Called before on_evaluation for the same step.
  std::function<void(long)> on_new_best;
};

// Where training begins. A fresh run starts at step 0 with nothing behind it; a resumed run starts at its
// checkpoint's step with the evaluations it already made, and (with early stopping) the weights of the best of
// them, so that it goes on exactly as the uninterrupted run would have.
template <typename T>
struct TrainingStart {
  long step = 0;
  std::vector<MetricsRow> rows;            // evaluations already made, in order, none after `step`
  std::vector<Matrix<T>> best_parameters;  // the best evaluation's module state (train::checkpointed_tensors order)
  long best_step = -1;                     // the step those weights are from; must be the best of `rows`
};

using TrainingOutcome = train::Outcome;

// `train_evaluation` is the data on which training metrics are measured (usually the training set itself).
template <typename T>
TrainingOutcome train(Classifier<T>& model, optim::Optimizer<T>& optimizer, const optim::LearningRateSchedule& schedule,
                      data::BatchLoader<T>& loader, const data::ImageDataset& train_evaluation,
                      const data::ImageDataset& validation, const data::Normalizer& normalizer,
                      const TrainingPlan& plan, const TrainingHooks& hooks = {},
                      const TrainingStart<T>& start = {});

// Evaluation steps: every `every` steps up to total (and total itself), optionally with 0.
std::vector<long> evaluation_schedule(long total_steps, long every, bool include_start);

}  // namespace tapegrad::apps
