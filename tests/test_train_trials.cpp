// nn/train/trials.h: independent trials side by side, each on one product thread, failures recorded, a stop
// request honoured between trials.
#include <catch2/catch.hpp>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/trials.h>

using namespace tapegrad;
using namespace tapegrad::train;

TEST_CASE("run_side_by_side runs every trial once on its workers, each on one product thread", "[train][trials]") {
  set_product_threads(2);
  std::mutex mutex;
  std::vector<int> runs_of(7, 0);
  std::set<std::thread::id> workers_seen;
  std::vector<int> product_threads_seen;
  std::vector<std::size_t> ended_counts;
  std::vector<bool> started_at_end;
  const TrialRuns runs = run_side_by_side(
      7,
      {.workers = 2,
       .on_trial_end =
           [&](std::size_t, const TrialRun& run, std::size_t ended) {  // one at a time, on the workers
             started_at_end.push_back(run.started);
             ended_counts.push_back(ended);
           }},
      [&](std::size_t i) {
        const std::lock_guard lock(mutex);
        ++runs_of[i];
        workers_seen.insert(std::this_thread::get_id());
        product_threads_seen.push_back(product_threads());
        if (i == 3) throw std::runtime_error("trial 3 diverged");
      });
  CHECK(runs_of == std::vector<int>(7, 1));
  CHECK(workers_seen.size() <= 2);
  CHECK(runs.workers == 2);
  CHECK(product_threads_seen == std::vector<int>(7, 1));
  CHECK(product_threads() == 2);  // the caller's count is back
  CHECK(ended_counts == std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK(started_at_end == std::vector<bool>(7, true));
  for (std::size_t i = 0; i < 7; ++i) {
    INFO("trial " << i);
    CHECK(runs.trials[i].started);
    CHECK(runs.trials[i].completed == (i != 3));
  }
  CHECK(runs.trials[3].error == "trial 3 diverged");
  double sum = 0;
  for (const TrialRun& run : runs.trials) sum += run.seconds;
  CHECK(runs.trial_seconds_sum == sum);
  CHECK(runs.wall_seconds >= 0);
  set_product_threads(1);
}

TEST_CASE("run_side_by_side runs only the indices asked for, stops starting trials on request, checks its input",
          "[train][trials]") {
  std::vector<std::size_t> ran;
  const auto record = [&](std::size_t i) { ran.push_back(i); };
  const TrialRuns some = run_side_by_side(6, {.indices = std::vector<std::size_t>{4, 1}}, record);
  CHECK(ran == std::vector<std::size_t>{4, 1});
  CHECK(some.trials.size() == 6);
  CHECK(some.trials[4].completed);
  CHECK_FALSE(some.trials[0].started);

  ran.clear();
  run_side_by_side(6, {.indices = std::vector<std::size_t>{}}, record);  // a shard with no trials of its own
  CHECK(ran.empty());

  // One worker, a stop after the second trial: the rest are not started, and their end is still reported.
  ran.clear();
  std::vector<bool> started;
  const TrialRuns stopped = run_side_by_side(
      5,
      {.on_trial_end = [&](std::size_t, const TrialRun& run, std::size_t) { started.push_back(run.started); },
       .stop_requested = [&] { return ran.size() >= 2; }},
      record);
  CHECK(ran == std::vector<std::size_t>{0, 1});
  CHECK(started == std::vector<bool>{true, true, false, false, false});
  CHECK_FALSE(stopped.trials[2].started);
  CHECK_FALSE(stopped.trials[2].completed);

  CHECK_THROWS_AS(run_side_by_side(3, {.workers = 0}, record), Error);
  CHECK_THROWS_WITH(run_side_by_side(3, {.indices = std::vector<std::size_t>{3}}, record),
                    Catch::Contains("index 3") && Catch::Contains("count 3"));
}
