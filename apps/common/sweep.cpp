#include "apps/common/sweep.h"

#include "apps/common/experiment.h"
#include "apps/common/threads.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace tapegrad::apps {

SweepOutcome run_sweep(const std::vector<ExperimentSettings>& trials, const ExperimentData& data,
                       const RunDirectory& parent, int workers) {
  using Clock = std::chrono::steady_clock;
  SweepOutcome sweep;
  sweep.workers = std::max(1, std::min<int>(workers, static_cast<int>(trials.size())));
  sweep.trials.resize(trials.size());
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
    for (std::size_t i = next++; i < trials.size(); i = next++) {
      TrialOutcome& outcome = sweep.trials[i];
      outcome.settings = trials[i];
      outcome.settings.threads = 1;
      outcome.settings.show_progress = false;
      const auto trial_start = Clock::now();
      if (stop_requested()) {  // Ctrl-C: the trials under way save their state; start no other
        outcome.error = "not started: the sweep was interrupted";
        continue;
      }
      try {
        outcome.result = run_experiment(outcome.settings, data, parent.sub_run(outcome.settings.name));
      } catch (const std::exception& error) {
        outcome.error = error.what();
      }
      outcome.seconds = std::chrono::duration<double>(Clock::now() - trial_start).count();
      std::lock_guard lock(log_mutex);
      const std::size_t finished = ++done;
      if (outcome.result) {
        spdlog::info("[{}/{}] {}: validation {:.2f}% ({:.1f} s)", finished, trials.size(), outcome.settings.name,
                     100 * outcome.result->validation.accuracy, outcome.seconds);
      } else {
        spdlog::warn("[{}/{}] {} failed: {}", finished, trials.size(), outcome.settings.name, outcome.error);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < sweep.workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  sweep.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& t : sweep.trials) sweep.trial_seconds_sum += t.seconds;
  throw_if_interrupted("the sweep", parent.root());
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

}  // namespace tapegrad::apps
