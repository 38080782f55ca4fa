// Running many independent trials side by side, one per worker thread, each trial single-threaded: the apps' use of
// train::run_trials (nn/train/search.h), with their logs, --shard and exit codes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/experiment.h"
#include <tapegrad/nn/train/search.h>

namespace tapegrad::apps {

struct TrialOutcome {
  ExperimentSettings settings;
  std::optional<ExperimentResult> result;  // empty when the trial failed
  train::TrialRun run;                     // why it failed (divergence, ...), its own wall time
};

struct SweepOutcome {
  std::vector<TrialOutcome> trials;  // in the order given
  train::SearchResults results;      // as results.json holds them: ranked by validation accuracy, with the timings
};

// train::run_trials with the apps' log, exit codes and --shard: trial returns the line to log when it completes
// ("name: validation 51.20%"). After Ctrl-C, Interrupted is thrown, naming `directory`, once the trials under way
// ended. In a shard (--shard K/N, shard.h) only its trials run, each under its own directory's lock (UsageError
// naming the directory when another process has one); then ShardFinished is thrown instead of returning, so that
// no shard writes the search's results.
train::TrialRuns run_trials(const RunDirectory& directory, const std::vector<std::string>& names, int workers,
                            const std::function<std::string(std::size_t, const RunDirectory&)>& trial);

// The parts of run_trials, for a runner of its own (train::run_lambda_search): the options (`workers`, --shard, a log
// line as each trial ends, line(i) for a completed one), and what ends the trials (a shard or an interrupted run
// throws here, before anything of the search is written).
train::TrialsOptions trials_options(int workers, const std::vector<std::string>& names,
                                    std::function<std::string(std::size_t)> line);
void end_trials(const train::TrialRuns& runs, const RunDirectory& directory);

// Runs every trial into parent.sub_run(trial.name) on `workers` threads (a failing trial is recorded, not fatal),
// then writes the trials, ranked by validation accuracy, as the search `name`'s results.csv and results.json.
SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers, const std::string& name);

// The accuracies, steps and training time of `result` into `trial`.
void record_result(const ExperimentResult& result, train::TrialRecord& trial);

}  // namespace tapegrad::apps
