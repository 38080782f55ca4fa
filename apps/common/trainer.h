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

// What one run trains: the library loop's options (steps, evaluation points, early stopping) and the classifier's
// own two, the L2 weight lambda of its cost and the gradient path.
struct TrainingPlan {
  train::LoopOptions loop;
  double lambda = 0;
  GradientPath path = GradientPath::tape;
};

using TrainingOutcome = train::Outcome;

// train::Loop with the classifier's own parts: its gradient paths as the step, its evaluation (loss, cost and
// accuracy as the reports define them). `train_evaluation` is the data on which training metrics are measured
// (usually the training set itself); `start` is where a resumed run continues.
template <typename T>
TrainingOutcome train(Classifier<T>& model, optim::Optimizer<T>& optimizer, const optim::LearningRateSchedule& schedule,
                      data::BatchLoader<T>& loader, const data::ImageDataset& train_evaluation,
                      const data::ImageDataset& validation, const data::Normalizer& normalizer,
                      const TrainingPlan& plan, const train::Callbacks& callbacks = {},
                      const train::Start<T>& start = {});

}  // namespace tapegrad::apps
