// nn/train/trials.h: independent trials side by side, each on one product thread, failures recorded, a stop
// request honoured between trials.
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/trials.h>
#include "tests/support/test_data.h"

using namespace tapegrad;
using namespace tapegrad::train;
using tapegrad::testing::kUnderShadowSanitizer;

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

namespace {

// In a child process whose address space leaves room for about two more thread stacks: run_side_by_side with 8
// workers on 8 trials. The exit code: 0 every trial ran and fewer workers started, 2 every worker started (the
// limit did not bite), 1 a trial was lost. Before workers that could not start were handled, the child aborted.
int side_by_side_under_a_thread_limit() {
  pthread_attr_t defaults;
  std::size_t stack = 8u << 20;
  if (pthread_getattr_default_np(&defaults) == 0) {
    pthread_attr_getstacksize(&defaults, &stack);
    pthread_attr_destroy(&defaults);
  }
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + 5 * stack / 2;
  const rlimit address_space{limit, limit};
  if (pages == 0 || ::setrlimit(RLIMIT_AS, &address_space) != 0) return 2;
  std::atomic<int> ran{0};
  const TrialRuns runs = run_side_by_side(8, {.workers = 8}, [&](std::size_t) {
    ++ran;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the workers overlap
  });
  int completed = 0;
  for (const TrialRun& run : runs.trials) completed += run.completed ? 1 : 0;
  if (ran != 8 || completed != 8) return 1;
  return runs.workers < 8 ? 0 : 2;
}

}  // namespace

TEST_CASE("run_side_by_side runs every trial on the workers that could start when the system refuses some",
          "[train][trials]") {
  if (kUnderShadowSanitizer) {
    WARN("left out under AddressSanitizer and ThreadSanitizer, which cannot run under a limit on address space");
    return;
  }
  set_product_threads(1);  // no product pool thread that the child would lack
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(side_by_side_under_a_thread_limit());
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("the child's status: " << status);
  REQUIRE(WIFEXITED(status));  // not aborted
  if (WEXITSTATUS(status) == 2) WARN("every worker started under the limit: the refusal was not exercised");
  CHECK(WEXITSTATUS(status) != 1);
}
