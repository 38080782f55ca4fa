// A training run kept in a RunDirectory, so that the same program started again goes on where the run stopped:
// what every program that trains into a directory needs around train::Loop. The run's settings (a JSON object of
// what decides its numbers) are held against the directory's config.json, and against its checkpoint when
// config.json is gone, so that a directory of another run is refused naming what differs; a run that finished
// (summary.json's status "completed" or "early_stopped") is read back from summary.json and metrics.csv instead of
// trained again; one that diverged is refused; one that was stopped or killed continues from its checkpoint, bit
// for bit; anything else starts afresh. A run that diverges or is stopped leaves summary.json saying so, then
// throws.
//
//   train::RunDirectory directory("runs/mlp");
//   directory.lock();
//   const train::DirectoryRun run(directory, settings.dump(), {.name = "mlp", .resume = true});
//   if (run.finished()) return;  // read back: run.finished()->summary, run.finished()->rows
//   if (!run.resumes()) train::write_json_atomically(directory.config_path(), settings);
//   train::Loop<float> loop(model, sgd, loader, loss, run.loop_options({.total_steps = 2000}));
//   loop.set_evaluation_data(train_set, validation_set);
//   const train::Outcome outcome = run.train(loop);  // RunDiverged or RunInterrupted after writing summary.json
//   run.finish(outcome, nlohmann::json{{"test_accuracy", loop.evaluate(test_set).accuracy}}.dump());
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/loop.h>
#include <tapegrad/nn/train/metrics.h>
#include <tapegrad/nn/train/run_directory.h>

namespace tapegrad::train {

// One entry of two JSON objects that is not the same on both sides: its value on each side as JSON text, none on
// the side that lacks it.
struct EntryDifference {
  std::string key;
  std::optional<std::string> here;
  std::optional<std::string> there;

  bool operator==(const EntryDifference&) const = default;
};

// The entries of the JSON object `here` that the JSON object `there` lacks or holds with another value, in here's
// order; with `both_ways`, then the entries that only `there` has. A `there` that is not an object has no entries.
// Throws Error when either text is not JSON, or `here` is not an object.
std::vector<EntryDifference> differing_entries(std::string_view here, std::string_view there,
                                               bool both_ways = false);

struct DifferenceWording {
  std::string_view there = "in the directory";  // where the other side is
  std::string_view absent = "nothing";          // a side that lacks the entry
  bool quote_text = true;                       // a text value as JSON ("abc") rather than bare (abc)
};

// "eta 0.002 here but 0.001 in the directory; seed 1 here but nothing in the directory"
std::string describe_differences(const std::vector<EntryDifference>& differences, DifferenceWording wording = {});

// The directory holds a run of other settings: its config.json (or, without one, its checkpoint's record of the
// settings) differs in these entries. Nothing in the directory was changed.
class RunSettingsDiffer : public Error {
 public:
  RunSettingsDiffer(std::filesystem::path directory, std::vector<EntryDifference> differences);
  std::filesystem::path directory;
  std::vector<EntryDifference> differences;
};

// The files of a run directory that DirectoryRun reads.
enum class RunFile { config, summary, metrics, checkpoint };

// A file of the run cannot be used: config.json or summary.json is not JSON, a finished run's metrics.csv does not
// read back, the checkpoint (or the best state beside it) is damaged or not this run's.
class RunFileUnusable : public Error {
 public:
  RunFileUnusable(RunFile kind, std::filesystem::path file, std::string reason);
  RunFile kind;
  std::filesystem::path file;
  std::string reason;  // what is wrong with it
};

// The run diverged: just now (summary.json then says so, the metrics so far and the last good checkpoint stay), or
// before, as summary.json says (`before`: resuming would repeat it).
class RunDiverged : public Error {
 public:
  RunDiverged(const std::string& message, std::filesystem::path directory, std::string divergence, bool before);
  std::filesystem::path directory;
  std::string divergence;  // the loop's message: the step, what became NaN or Inf, what to try
  bool before;
};

// The run stopped on request (Callbacks::stop_requested) after saving its checkpoint; summary.json says so.
class RunInterrupted : public Error {
 public:
  RunInterrupted(const std::string& message, std::filesystem::path directory, long step, long total_steps);
  std::filesystem::path directory;
  long step;
  long total_steps;
};

struct DirectoryRunOptions {
  std::string name = "run";  // the run in messages and log lines
  bool resume = false;       // go on with what the directory holds; false: start afresh whatever it holds
  bool checkpoints = true;   // the loop saves checkpoint.bin (and best.bin), and a resumed run starts from them
  std::function<void(const std::string&)> log{};  // where "resuming at step ..." goes; nowhere when empty
  // What the error says when a resumed run's best state is not its best evaluation's (Start::restart_advice).
  std::string restart_advice = "start the run again from its beginning";
};

// A run that finished before, as its directory holds it.
struct FinishedRun {
  std::string summary;           // summary.json, as JSON text
  std::vector<MetricsRow> rows;  // metrics.csv
  // What DirectoryRun::finish recorded of it, its rows those of metrics.csv (an entry the summary lacks keeps its
  // default).
  Outcome outcome;
};

class DirectoryRun {
 public:
  // The settings' entry in the run checkpoint's metadata (LoopOptions::checkpoint_metadata).
  static constexpr const char* kSettingsKey = "config";

  // `settings` is the JSON object (as text) of what decides the run's numbers. With options.resume, looks at what
  // `directory` holds: throws RunSettingsDiffer for a config.json of other settings, RunDiverged for a run that
  // diverged, RunFileUnusable for a file that cannot be read; then notes a finished run (read back) or a
  // checkpoint to continue from. Writes nothing. Throws Error when `settings` is not a JSON object.
  DirectoryRun(RunDirectory directory, std::string settings, DirectoryRunOptions options = {});

  // The run finished before and was read back: nothing is left to train.
  const std::optional<FinishedRun>& finished() const { return finished_; }
  // train() continues from the directory's checkpoint (with options.resume and checkpoints, when one is there).
  bool resumes() const { return resumes_; }
  // `options` with the run's files in: metrics.csv, and with checkpoints checkpoint.bin, best.bin and the settings
  // in the checkpoints' metadata (kSettingsKey), so that the checkpoint of another run is refused.
  LoopOptions loop_options(LoopOptions options) const;

  // Runs `loop` (built with loop_options()) from the checkpoint when resumes(), else from its start; a resumed
  // run's train_seconds include those of its interrupted part (summary.json's "train_seconds"). A run that
  // diverges or is stopped writes summary.json: the JSON object `unfinished_summary(outcome)` gives (none: {}),
  // with the outcome's entries (as finish() writes them) and "message", then throws RunDiverged or RunInterrupted. A
  // checkpoint that cannot be resumed throws RunSettingsDiffer (another run's settings) or RunFileUnusable.
  template <typename T>
  Outcome train(Loop<T>& loop, const std::function<std::string(const Outcome&)>& unfinished_summary = {}) const;

  // Writes summary.json of the run that `outcome` ended (train's): the JSON object `entries` (the caller's keys,
  // as text) with the outcome's "status" (status_of), "steps", "epochs" (Outcome::stopped_epoch), "train_seconds"
  // and "evaluation_seconds", and with early stopping "early_stopped", "stopped_epoch" and "best_step": what
  // finished() reads back. Returns the text written.
  std::string finish(const Outcome& outcome, const std::string& entries = "{}") const;

  const RunDirectory& directory() const { return directory_; }

 private:
  template <typename T>
  Start<T> resume_point(Loop<T>& loop) const;
  [[noreturn]] void end_unfinished(const Outcome& outcome, long total_steps, const std::string& entries) const;

  RunDirectory directory_;
  std::string settings_;
  DirectoryRunOptions options_;
  std::optional<FinishedRun> finished_;
  bool resumes_ = false;
  double earlier_train_seconds_ = 0;  // an interrupted run's, from its summary.json
};

// summary.json's status for a run that has ended: "completed", "early_stopped", "diverged" or "interrupted".
const char* status_of(const Outcome& outcome);

}  // namespace tapegrad::train
