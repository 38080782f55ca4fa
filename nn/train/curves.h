// The training curves of a run as charts: loss, cost and accuracy of the training and validation sets against
// the epoch or the update step, and the learning rate when it changes. One call after Loop::run():
//   train::save_training_curves(outcome.rows, "runs/mine", {.title = "my model"});
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <tapegrad/nn/train/metrics.h>

namespace tapegrad::train {

struct CurveOptions {
  std::string title = "training";  // each chart's title is "<title>: <what>"
  bool against_steps = false;      // x is the update step instead of the epoch
  // The learning-rate chart is drawn when the rate changes between evaluations, and always when this is set (a
  // schedule whose changes fall between evaluation points still gets its chart).
  bool always_plot_rate = false;
  std::string extension = ".png";  // or ".svg"
};

// Writes loss<ext>, cost<ext>, accuracy<ext> and, as CurveOptions says, learning_rate<ext> into `directory`
// (which must exist), each replaced atomically; returns the paths written. Non-finite values are left out of the
// lines (a chart with nothing to draw says so). Throws WriteError when a file cannot be written.
std::vector<std::filesystem::path> save_training_curves(const std::vector<MetricsRow>& rows,
                                                        const std::filesystem::path& directory,
                                                        const CurveOptions& options = {});

}  // namespace tapegrad::train
