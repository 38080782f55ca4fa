// Running many independent trials side by side, one per worker thread, each trial single-threaded.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "apps/common/experiment.h"

namespace tapegrad::apps {

struct TrialOutcome {
  ExperimentSettings settings;
  std::optional<ExperimentResult> result;  // empty when the trial failed
  std::string error;                       // why it failed (divergence, ...)
  double seconds = 0;                      // the trial's own wall time
};

struct SweepOutcome {
  std::vector<TrialOutcome> trials;  // in the order given
  double wall_seconds = 0;           // the whole sweep
  double trial_seconds_sum = 0;      // what running the trials one after another would take
  int workers = 1;
  double speedup() const { return wall_seconds > 0 ? trial_seconds_sum / wall_seconds : 1.0; }
};

// Runs every trial into parent.sub_run(trial.name) on `workers` threads. A failing trial is recorded, not fatal.
SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers);

// Trials ordered by validation accuracy, best first (failed ones last).
std::vector<const TrialOutcome*> ranked_by_validation(const SweepOutcome& sweep);

}  // namespace tapegrad::apps
