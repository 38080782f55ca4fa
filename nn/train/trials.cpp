#include <tapegrad/nn/train/trials.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <numeric>
#include <system_error>
#include <thread>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::train {

TrialRuns run_side_by_side(std::size_t count, const SideBySideOptions& options,
                           const std::function<void(std::size_t)>& trial) {
  using Clock = std::chrono::steady_clock;
  if (options.workers < 1) {
    throw_error(fmt::format("run_side_by_side: workers must be at least 1, got {}", options.workers));
  }
  std::vector<std::size_t> indices(count);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  if (options.indices) indices = *options.indices;
  for (const std::size_t index : indices) {
    if (index >= count) {
      throw_error(fmt::format("run_side_by_side: trial index {} is not below the count {}", index, count));
    }
  }
  const std::function<bool()> stop = options.stop_requested ? options.stop_requested : stop_requested;

  TrialRuns runs;
  runs.trials.resize(count);
  runs.workers = std::max(1, static_cast<int>(std::min<std::size_t>(options.workers, indices.size())));
  // Before any worker starts: each trial's products on one thread. The caller's count comes back afterwards.
  struct RestoreThreads {
    int threads;
    ~RestoreThreads() { set_product_threads(threads); }
  } restore{product_threads()};
  set_product_threads(1);

  std::atomic<std::size_t> next{0};
  std::size_t ended = 0;
  std::mutex end_mutex;
  const auto start = Clock::now();
  auto worker = [&] {
    for (std::size_t k = next++; k < indices.size(); k = next++) {
      const std::size_t i = indices[k];
      TrialRun& run = runs.trials[i];
      if (!stop()) {
        run.started = true;
        const auto trial_start = Clock::now();
        try {
          trial(i);
          run.completed = true;
        } catch (const std::exception& error) {
          run.error = error.what();
        }
        run.seconds = std::chrono::duration<double>(Clock::now() - trial_start).count();
      }
      const std::lock_guard lock(end_mutex);
      ++ended;
      if (options.on_trial_end) options.on_trial_end(i, run, ended);
    }
  };
  // A worker the system refuses to start (a limit on processes or memory) leaves its share to those that did start,
  // and with none the calling thread runs every trial: no trial is lost, and every started thread is joined.
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(runs.workers));
  for (int w = 0; w < runs.workers; ++w) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;
    }
  }
  runs.workers = std::max(1, static_cast<int>(threads.size()));
  if (threads.empty()) worker();
  for (auto& thread : threads) thread.join();
  runs.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const TrialRun& run : runs.trials) runs.trial_seconds_sum += run.seconds;
  return runs;
}

}  // namespace tapegrad::train
