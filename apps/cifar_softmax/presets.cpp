#include "apps/cifar_softmax/presets.h"

#include <fmt/format.h>

#include "apps/common/app_error.h"

namespace tapegrad::apps::cifar_softmax {

ExperimentSettings preset_settings(const std::string& preset) {
  // The reports' defaults: W and b from N(0, 0.01^2), n_batch 100, 40 epochs, reshuffled every epoch.
  ExperimentSettings s;
  s.name = preset;
  s.model = ModelKind::linear;
  s.loss = LossKind::cross_entropy;
  s.init_std = 0.01;
  s.batch_size = 100;
  s.epochs = 40;
  if (preset == "setting1") {
    s.lambda = 0;
    s.eta = 0.1;
  } else if (preset == "setting2" || preset == "all-data" || preset == "augment") {
    s.lambda = 0;
    s.eta = 0.001;
  } else if (preset == "setting3") {
    s.lambda = 0.1;
    s.eta = 0.001;
  } else if (preset == "setting4") {
    s.lambda = 1;
    s.eta = 0.001;
  } else if (preset == "step-decay") {
    // Start ten times higher than setting2 and divide by 10 every 10 epochs.
    s.lambda = 0;
    s.eta = 0.01;
    s.schedule = ScheduleKind::step_decay;
    s.decay_factor = 10;
    s.decay_every_epochs = 10;
  } else if (preset == "bce") {
    // The 1/K factor of the multiple binary cross-entropy shrinks the gradient ten times: eta 0.01 offsets it.
    s.loss = LossKind::multi_binary_cross_entropy;
    s.lambda = 0;
    s.eta = 0.01;
  } else if (preset == "grid") {
    s.lambda = 0;
    s.eta = 0.001;
  } else {
    throw UsageError(fmt::format("unknown preset '{}'", preset));
  }
  if (preset == "augment") s.flip_probability = 0.5;
  s.plot_histogram = preset == "setting2" || preset == "bce";
  return s;
}

CifarSplit preset_split(const std::string& preset) {
  return preset == "all-data" || preset == "augment" ? CifarSplit::all_batches : CifarSplit::batch1_batch2;
}

std::vector<ExperimentSettings> grid_settings(const ExperimentSettings& base) {
  std::vector<ExperimentSettings> trials;
  for (double eta : {0.001, 0.005, 0.01})
    for (double lambda : {0.0, 0.001, 0.1, 1.0})
      for (int batch : {50, 100, 200}) {
        ExperimentSettings s = base;
        s.eta = eta;
        s.lambda = lambda;
        s.batch_size = batch;
        s.name = fmt::format("eta{:g}_lambda{:g}_batch{}", eta, lambda, batch);
        s.threads = 1;
        s.show_progress = false;
        s.plot_histogram = false;
        trials.push_back(s);
      }
  return trials;
}

}  // namespace tapegrad::apps::cifar_softmax
