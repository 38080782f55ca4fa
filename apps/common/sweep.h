// Running many independent trials side by side, one per worker thread, each trial single-threaded.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/experiment.h"
#include "apps/common/results.h"
#include <tapegrad/nn/train/trials.h>

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

using TrialRun = train::TrialRun;
using TrialRuns = train::TrialRuns;

// Runs trial(i) for every i < count on `workers` threads (at most count), each trial's products on one thread; the
// caller's product thread count comes back afterwards. trial(i) returns the line to log when it completes ("name:
// validation 51.20%"); a trial that throws is recorded with its message, and `name_of(i)` names it in the log and
// is its directory below `root`, the search's directory.
// After Ctrl-C no further trial starts; then Interrupted is thrown, naming `root`, once the trials under way ended.
// In a shard (--shard K/N, shard.h) only the trials with i mod N = K run, each under its own directory's lock,
// taken for all of them before the first starts (UsageError naming the directory when another process has one);
// then ShardFinished is thrown instead of returning, so that no shard writes the search's results.
TrialRuns run_trials(std::size_t count, int workers, const std::function<std::string(std::size_t)>& trial,
                     const std::function<std::string(std::size_t)>& name_of, const std::filesystem::path& root);

// Runs every trial into parent.sub_run(trial.name) on `workers` threads. A failing trial is recorded, not fatal.
SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers);

// Trials ordered by validation accuracy, best first (failed ones last).
std::vector<const TrialOutcome*> ranked_by_validation(const SweepOutcome& sweep);

// The sweep's trials, ranked by validation accuracy, as results.csv and results.json in `directory` (results.h).
void write_sweep_results(const SweepOutcome& sweep, const RunDirectory& directory, const std::string& name);

}  // namespace tapegrad::apps
