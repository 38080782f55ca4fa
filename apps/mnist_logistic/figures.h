// The study's figures that compare runs: validation curves of several runs on one chart, and the lambda sweep's
// validation accuracy, weight norm and learnt weights against lambda. Each run's own plots (loss, cost,
// accuracy, templates) come from run_experiment.
#pragma once

#include <Eigen/Core>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/nn/data/image_dataset.h>
#include "apps/common/experiment.h"
#include "apps/common/run_dir.h"

namespace tapegrad::apps::mnist_logistic {

struct NamedRun {
  std::string name;  // the legend entry
  const ExperimentResult* result = nullptr;
};

// validation_loss.png and validation_accuracy.png: one curve per run against the epoch.
void plot_validation_curves(const std::vector<NamedRun>& runs, const RunDirectory& directory,
                            const std::string& title);

struct LambdaPoint {
  double lambda = 0;
  double validation_accuracy = 0;
  double weight_norm = 0;                  // ||W||, the Frobenius norm of the learnt weights
  std::optional<Eigen::MatrixXf> weights;  // K x d, one row per class, when the run's checkpoint could be read
};

// validation_accuracy.png (a bar per lambda), weight_norm.png (||W|| against lambda on a log axis, with the
// lambda = 0 run as a level line) and weights.png (one row of class templates per lambda, images of `shape`).
void plot_lambda_sweep(const std::vector<LambdaPoint>& points, const data::ImageShape& shape,
                       const std::vector<std::string>& class_names, const RunDirectory& directory,
                       const std::string& title);

}  // namespace tapegrad::apps::mnist_logistic
