#include "apps/common/sweep.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <tapegrad/nn/train/stop_signal.h>

#include "apps/common/app_error.h"
#include "apps/common/shard.h"

namespace tapegrad::apps {
train::TrialsOptions trials_options(int workers, const std::vector<std::string>& names,
                                    std::function<std::string(std::size_t)> line) {
  const auto log_end = [names, line = std::move(line)](std::size_t i, const train::TrialRun& run, std::size_t ended,
                                                       std::size_t of) {
    if (run.completed) {
      spdlog::info("[{}/{}] {} ({:.1f} s)", ended, of, line(i), run.seconds);
    } else if (run.started) {
      spdlog::warn("[{}/{}] {} failed: {}", ended, of, names[i], run.error);
    }
  };
  return {.workers = workers, .shard = active_shard(), .on_trial_end = log_end};
}

void end_trials(const train::TrialRuns& runs, const RunDirectory& directory) {
  const std::string root = directory.root().string();
  const std::optional<Shard> shard = active_shard();
  // A shard ends here either way, so that no shard writes the search's results: interrupted (exit 130), or done
  // (exit 0), saying how to go on.
  if (shard && train::stop_requested()) {
    throw Interrupted(fmt::format("shard {} was interrupted; what finished is in {}", shard->text(), root),
                      fmt::format("start the same shard again to continue its trials, or, once every shard has "
                                  "ended, merge them with --resume {}",
                                  root));
  }
  if (shard) {
    const auto completed = std::ranges::count_if(runs.trials, &train::TrialRun::completed);
    throw ShardFinished(
        fmt::format("shard {}: {} of its {} trials completed ({} trials in the search) in {:.1f} s; "
                    "when every shard has ended, merge them with --resume {}",
                    shard->text(), completed, shard->kept_of(runs.trials.size()), runs.trials.size(),
                    runs.wall_seconds, root));
  }
  throw_if_interrupted("the sweep", directory.root());
}

train::TrialRuns run_trials(const RunDirectory& directory, const std::vector<std::string>& names, int workers,
                            const std::function<std::string(std::size_t, const RunDirectory&)>& trial) {
  std::vector<std::string> lines(names.size());  // what each completed trial says, for the log
  const train::TrialRuns runs = train::run_trials(
      directory, names, trials_options(workers, names, [&](std::size_t i) { return lines[i]; }),
      [&](std::size_t i, const RunDirectory& trial_directory) { lines[i] = trial(i, trial_directory); });
  end_trials(runs, directory);
  return runs;
}

SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers, const std::string& name) {
  SweepOutcome sweep;
  train::SearchResults results{.name = name};
  for (const ExperimentSettings& settings : trials) {
    TrialOutcome& outcome = sweep.trials.emplace_back(TrialOutcome{settings, {}, {}});
    outcome.settings.threads = 1;
    outcome.settings.show_progress = false;
    results.trials.push_back({.name = settings.name,
                              .lambda = settings.lambda,
                              .eta = settings.eta,
                              .batch_size = settings.batch_size});
  }
  const train::TrialRuns runs = run_trials(
      parent, train::names_of(results.trials), workers, [&](std::size_t i, const RunDirectory& directory) {
        TrialOutcome& outcome = sweep.trials[i];
        record_result(outcome.result.emplace(run_experiment(outcome.settings, data, directory)),
                      results.trials[i]);
        return fmt::format("{}: validation {:.2f}%", outcome.settings.name,
                           100 * outcome.result->validation.accuracy);
      });
  for (std::size_t i = 0; i < trials.size(); ++i) sweep.trials[i].run = runs.trials[i];
  sweep.results = train::collect_results(std::move(results), runs);
  train::write_results(parent, sweep.results);
  return sweep;
}

void record_result(const ExperimentResult& result, train::TrialRecord& trial) {
  trial.train_accuracy = result.train.accuracy;
  trial.val_accuracy = result.validation.accuracy;
  trial.test_accuracy = result.test.accuracy;
  trial.steps = result.outcome.steps;
  trial.train_seconds = result.outcome.train_seconds;
}

}  // namespace tapegrad::apps
