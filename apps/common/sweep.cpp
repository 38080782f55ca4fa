#include "apps/common/sweep.h"

#include "apps/common/app_error.h"
#include "apps/common/experiment.h"
#include "apps/common/shard.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps {

namespace {

// The trials this process runs: all of them, or a shard's.
std::vector<std::size_t> trials_to_run(std::size_t count, const std::optional<Shard>& shard) {
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < count; ++i) {
    if (!shard || shard->keeps(i)) mine.push_back(i);
  }
  return mine;
}

// A shard locks each of its trial directories before it starts any: a shard started twice by mistake (or a
// requeued array task beside the one still running) is refused before it writes a byte, rather than mixing two
// trials' files.
std::vector<RunDirectory> lock_trial_directories(const std::vector<std::size_t>& mine,
                                                 const std::function<std::string(std::size_t)>& name_of,
                                                 const std::filesystem::path& root) {
  std::vector<RunDirectory> locked;
  for (const std::size_t i : mine) {
    locked.emplace_back(root / name_of(i));
    locked.back().lock();
  }
  return locked;
}

// A shard ends here either way, so that no shard writes the search's results: interrupted (exit 130), or done
// (exit 0), saying how to go on.
[[noreturn]] void end_shard(const Shard& shard, const TrialRuns& runs, std::size_t ran,
                            const std::filesystem::path& root) {
  if (train::stop_requested()) {
    throw Interrupted(fmt::format("shard {} was interrupted; what finished is in {}", shard.text(), root.string()),
                      fmt::format("start the same shard again to continue its trials, or, once every shard has "
                                  "ended, merge them with --resume {}",
                                  root.string()));
  }
  std::size_t completed = 0;
  for (const auto& t : runs.trials) completed += t.completed ? 1 : 0;
  throw ShardFinished(fmt::format("shard {}: {} of its {} trials completed ({} trials in the search) in {:.1f} s; "
                                  "when every shard has ended, merge them with --resume {}",
                                  shard.text(), completed, ran, runs.trials.size(), runs.wall_seconds,
                                  root.string()));
}

}  // namespace

TrialRuns run_trials(std::size_t count, int workers, const std::function<std::string(std::size_t)>& trial,
                     const std::function<std::string(std::size_t)>& name_of, const std::filesystem::path& root) {
  const std::optional<Shard> shard = active_shard();
  const std::vector<std::size_t> mine = trials_to_run(count, shard);
  const std::vector<RunDirectory> trial_locks =
      shard ? lock_trial_directories(mine, name_of, root) : std::vector<RunDirectory>{};
  std::vector<std::string> lines(count);  // what each completed trial says, for the log
  const auto log_end = [&](std::size_t i, const TrialRun& run, std::size_t ended) {
    if (run.completed) {
      spdlog::info("[{}/{}] {} ({:.1f} s)", ended, mine.size(), lines[i], run.seconds);
    } else if (run.started) {
      spdlog::warn("[{}/{}] {} failed: {}", ended, mine.size(), name_of(i), run.error);
    }
  };
  TrialRuns runs = train::run_side_by_side(count, {.workers = workers, .indices = mine, .on_trial_end = log_end},
                                           [&](std::size_t i) { lines[i] = trial(i); });
  for (const std::size_t i : mine) {
    if (!runs.trials[i].started) runs.trials[i].error = "not started: the sweep was interrupted";
  }
  if (shard) end_shard(*shard, runs, mine.size(), root);
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
