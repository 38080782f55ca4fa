// The directory a run writes into: its settings, metrics, summary, checkpoint and charts, and nested directories
// for the runs of a search (runs/grid/eta0.01_lambda0.1). The directory is checked when it is opened, so a path
// that cannot be written fails before training rather than after it, and a lock keeps a second process (a second
// copy of the same command, a resume started twice) from mixing its files with the first one's.
//
//   train::RunDirectory run("runs/mlp");                  // created, and probed with a one-byte file
//   run.lock();                                           // a second process here gets RunDirectoryLocked
//   loop_options.checkpoint_path = run.checkpoint_path();
//   train::write_json_atomically(run.config_path(), settings);   // an nlohmann::json
//   for (double lambda : lambdas) train_one(run.sub_run(train::sub_run_name({{"lambda", lambda}})));
#pragma once

#include <concepts>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/error.h>

namespace tapegrad::train {

// The directory cannot be used: it cannot be created, a file of that name is in the way, nothing can be written
// in it (no permission, a read-only mount, a full disk), or its lock file cannot be opened or locked.
class RunDirectoryUnusable : public Error {
 public:
  RunDirectoryUnusable(std::filesystem::path directory, std::string reason);
  const std::filesystem::path& directory() const { return directory_; }
  // What is wrong, with the system's reason ("cannot create a file in it: Read-only file system").
  const std::string& reason() const { return reason_; }

 private:
  std::filesystem::path directory_;
  std::string reason_;
};

// Another process holds the directory's lock: one that took lock(), whose PID the lock file records, or, when
// held_shared(), processes that took lock_shared() (they record no PID). Nothing in the directory was changed.
class RunDirectoryLocked : public Error {
 public:
  RunDirectoryLocked(std::filesystem::path directory, std::string holder_pid, bool held_shared);
  const std::filesystem::path& directory() const { return directory_; }
  // The holder's PID as the lock file has it; "?" when it cannot be read, empty when held_shared().
  const std::string& holder_pid() const { return holder_pid_; }
  bool held_shared() const { return held_shared_; }

 private:
  std::filesystem::path directory_;
  std::string holder_pid_;
  bool held_shared_;
};

// A JSON value with nlohmann::json's dump() (nlohmann::json, nlohmann::ordered_json): the library writes JSON
// without depending on a JSON library of its own.
template <class Json>
concept JsonValue = requires(const Json& value) {
  { value.dump(2, ' ', false, Json::error_handler_t::replace) } -> std::convertible_to<std::string>;
};

// `value` as a file's text: indented, with a final newline. Invalid UTF-8 in a string (a path in a legacy
// encoding) is replaced rather than failing: losing a whole summary at the end of a run would cost more.
template <JsonValue Json>
std::string json_file_text(const Json& value) {
  return value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

// Writes `value` to `path` atomically (write_file_atomically): readers see the old file or the new one, never a
// mix. Throws WriteError.
template <JsonValue Json>
void write_json_atomically(const std::filesystem::path& path, const Json& value) {
  write_file_atomically(path, json_file_text(value));
}

class RunDirectory {
 public:
  // Creates `root` and its parents, then writes one byte to a probe file there and removes it, so that a
  // directory that cannot be used (a full disk included) fails now. Throws RunDirectoryUnusable.
  explicit RunDirectory(std::filesystem::path root);

  // Makes this process the directory's only user until the last copy of this RunDirectory is gone: an advisory
  // lock (flock) on lock_path(), which records the holder's PID. Throws RunDirectoryLocked when another process
  // holds it, exclusively or shared. The kernel drops the lock when its holder ends, however it ends, so a
  // killed run never blocks the next one. Calling it again on a locked directory does nothing.
  void lock();
  // A lock that any number of processes share (the workers of one search, each writing its own sub-runs), while
  // lock() is refused as long as one of them holds it, and the other way round. Records no PID.
  void lock_shared();
  std::filesystem::path lock_path() const { return root_ / ".tapegrad.lock"; }

  // The standard files of a run.
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config_path() const { return root_ / "config.json"; }
  std::filesystem::path metrics_path() const { return root_ / "metrics.csv"; }
  std::filesystem::path summary_path() const { return root_ / "summary.json"; }
  std::filesystem::path checkpoint_path() const { return root_ / "checkpoint.bin"; }
  // root/<name>.png
  std::filesystem::path plot_path(std::string_view name) const;

  // summary_path(), written with write_json_atomically. (config.json has no such member: what a run does with an
  // existing one, keep it or refuse to run, is the program's own decision.)
  template <JsonValue Json>
  void write_summary(const Json& summary) const {
    write_json_atomically(summary_path(), summary);
  }

  // Starting afresh where an earlier run was: removes, here and in every directory below, the files a run of the
  // library writes (config.json, metrics.csv, summary.json, checkpoint.bin with its default best state
  // checkpoint.bin.best, best.bin, model.safetensors, results.csv, results.json, the .png and .svg charts) and those named in `more` (a program's
  // own files), so that nothing of the earlier run (a summary saying "completed", a checkpoint) is taken for the
  // new one's. No directory and no other file is removed: what else the user keeps there stays. Throws Error
  // "cannot remove '<file>': <reason>" for the first file that cannot be removed.
  void remove_run_files(const std::vector<std::string>& more = {}) const;

  // A run directory below this one, e.g. sub_run("grid/eta0.01_lambda0.1"), created and probed like this one,
  // and not locked. Throws Error for an empty or absolute path or one that climbs out with "..".
  RunDirectory sub_run(const std::filesystem::path& relative) const;

 private:
  class Lock;
  std::filesystem::path root_;
  std::shared_ptr<const Lock> lock_;
};

// Writes `path` whole unless it exists, as one step that any number of processes may try at once: the content
// goes to a temporary file of this process, which is then hard-linked to `path` (link(2) fails when `path`
// exists) and removed. Returns whether this call created `path`. Throws WriteError when the content cannot be
// written, Error naming the file when the link fails for another reason than an existing `path`.
bool write_file_once(const std::filesystem::path& path, const std::string& content);

// A sub-run's directory name from its settings: {{"eta", 0.01}, {"lambda", 0.1}, {"batch", 100}} gives
// "eta0.01_lambda0.1_batch100", each value in the shortest form that reads back exactly.
std::string sub_run_name(const std::vector<std::pair<std::string, double>>& settings);

}  // namespace tapegrad::train
