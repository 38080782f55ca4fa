#include "apps/common/sweep.h"

#include "apps/common/app_error.h"
#include "apps/common/experiment.h"
#include "apps/common/threads.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps {

TrialRuns run_trials(std::size_t count, int workers, const std::function<std::string(std::size_t)>& trial,
                     const std::function<std::string(std::size_t)>& name_of, const std::filesystem::path& root) {
  using Clock = std::chrono::steady_clock;
  TrialRuns runs;
  runs.workers = std::max(1, std::min<int>(workers, static_cast<int>(count)));
  runs.trials.resize(count);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex log_mutex;
  // Before any worker starts: each trial runs its products on one thread. The caller's count comes back after.
  const int caller_threads = product_thread_count();
  set_thread_count(1);
  struct RestoreThreads {
    int threads;
    ~RestoreThreads() { set_thread_count(threads); }
  } restore{caller_threads};
  const auto start = Clock::now();
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      TrialRun& run = runs.trials[i];
      if (train::stop_requested()) {  // Ctrl-C: the trials under way save their state; start no other
        run.error = "not started: the sweep was interrupted";
        continue;
      }
      const auto trial_start = Clock::now();
      std::string line;
      try {
        line = trial(i);
        run.completed = true;
      } catch (const std::exception& error) {
        run.error = error.what();
      }
      run.seconds = std::chrono::duration<double>(Clock::now() - trial_start).count();
      std::lock_guard lock(log_mutex);
      const std::size_t finished = ++done;
      if (run.completed) {
        spdlog::info("[{}/{}] {} ({:.1f} s)", finished, count, line, run.seconds);
      } else {
        spdlog::warn("[{}/{}] {} failed: {}", finished, count, name_of(i), run.error);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < runs.workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  runs.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& t : runs.trials) runs.trial_seconds_sum += t.seconds;
  throw_if_interrupted("the sweep", root);
  return runs;
}

SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers) {
  SweepOutcome sweep;
  sweep.trials.resize(trials.size());
  for (std::size_t i = 0; i < trials.size(); ++i) {
    sweep.trials[i].settings = trials[i];
    sweep.trials[i].settings.threads = 1;
    sweep.trials[i].settings.show_progress = false;
  }
  const auto run_one = [&](std::size_t i) {
    TrialOutcome& outcome = sweep.trials[i];
    outcome.result = run_experiment(outcome.settings, data, parent.sub_run(outcome.settings.name));
    return fmt::format("{}: validation {:.2f}%", outcome.settings.name, 100 * outcome.result->validation.accuracy);
  };
  const TrialRuns runs = run_trials(
      trials.size(), workers, run_one, [&](std::size_t i) { return sweep.trials[i].settings.name; }, parent.root());
  for (std::size_t i = 0; i < trials.size(); ++i) {
    sweep.trials[i].error = runs.trials[i].error;
    sweep.trials[i].seconds = runs.trials[i].seconds;
  }
  sweep.workers = runs.workers;
  sweep.wall_seconds = runs.wall_seconds;
  sweep.trial_seconds_sum = runs.trial_seconds_sum;
  return sweep;
}

std::vector<const TrialOutcome*> ranked_by_validation(const SweepOutcome& sweep) {
  std::vector<const TrialOutcome*> ranked;
  for (const auto& t : sweep.trials) ranked.push_back(&t);
  std::stable_sort(ranked.begin(), ranked.end(), [](const TrialOutcome* a, const TrialOutcome* b) {
    const double va = a->result ? a->result->validation.accuracy : -1.0;
    const double vb = b->result ? b->result->validation.accuracy : -1.0;
    return va > vb;
  });
  return ranked;
}

void write_sweep_results(const SweepOutcome& sweep, const RunDirectory& directory, const std::string& name) {
  std::vector<TrialRecord> records;
  for (const TrialOutcome* t : ranked_by_validation(sweep)) {
    TrialRecord record;
    record.name = t->settings.name;
    record.lambda = t->settings.lambda;
    record.eta = t->settings.eta;
    record.batch_size = t->settings.batch_size;
    record.completed = t->result.has_value();
    record.error = t->error;
    record.wall_seconds = t->seconds;
    if (t->result) {
      record.train_accuracy = t->result->train.accuracy;
      record.val_accuracy = t->result->validation.accuracy;
      record.test_accuracy = t->result->test.accuracy;
      record.steps = t->result->outcome.steps;
      record.train_seconds = t->result->outcome.train_seconds;
    }
    records.push_back(std::move(record));
  }
  write_results(directory, name, records, {sweep.workers, sweep.wall_seconds, sweep.trial_seconds_sum});
}

}  // namespace tapegrad::apps
