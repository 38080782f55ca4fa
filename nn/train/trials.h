// Independent trainings side by side: a hyperparameter search runs one trial per worker thread, each trial's
// products on one thread (trials scale better than one run's products over the same cores), and a stop request
// (Ctrl-C, stop_signal.h) lets the trials under way end cleanly while no new one starts.
//
//   train::run_side_by_side(lambdas.size(), {.workers = 4}, [&](std::size_t i) { train_one(lambdas[i]); });
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tapegrad::train {

// What run_side_by_side saw of one trial.
struct TrialRun {
  bool started = false;
  bool completed = false;  // the trial returned
  std::string error;       // what() of the exception it threw
  double seconds = 0;      // its own wall time
};

struct TrialRuns {
  std::vector<TrialRun> trials;  // one per index, in index order (those not asked for are not started)
  double wall_seconds = 0;       // from the first trial's start to the last one's end
  double trial_seconds_sum = 0;  // the trials' own times added up: what one after another would take
  int workers = 1;               // threads used: fewer than asked for when the system refused to start some
};

struct SideBySideOptions {
  int workers = 1;  // at least 1; never more threads than trials
  // The indices to run, in the order workers take them (none when empty); unset: every index below the count.
  std::optional<std::vector<std::size_t>> indices{};
  // After each trial ends, on its worker, one call at a time: the index, what was seen, and how many of the
  // trials asked for have ended (this one included).
  std::function<void(std::size_t index, const TrialRun& run, std::size_t ended)> on_trial_end{};
  // Polled before each trial starts; true starts no further trial. Default: the process's stop request.
  std::function<bool()> stop_requested{};
};

// Runs trial(i) for the indices asked for on `workers` threads, the products of each on one thread; the product
// thread count is restored afterwards. A trial that throws is recorded with its message and the others go on. A
// worker thread that cannot be started leaves its trials to the others (TrialRuns::workers says how many ran).
// Throws tapegrad::Error for workers < 1 or an index not below `count`.
TrialRuns run_side_by_side(std::size_t count, const SideBySideOptions& options,
                           const std::function<void(std::size_t)>& trial);

}  // namespace tapegrad::train
