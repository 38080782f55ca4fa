// The directory a run writes into (--out): config.json, metrics.csv, summary.json, the checkpoint and the plots,
// and nested directories for the runs of a sweep (out/grid/eta0.01_lambda0.1_batch100).
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tapegrad::apps {

class RunDirectory {
 public:
  // Creates `root` and its parents, then writes and removes a probe file there, so that an output directory that
  // cannot be used fails before training rather than after it. Throws tapegrad::Error naming the directory and
  // the OS error.
  explicit RunDirectory(std::filesystem::path root);

  // Makes this process the directory's only writer until the last copy of this RunDirectory is gone: an advisory
  // lock (flock) on root/.tapegrad.lock, which records the holder's PID. Throws UsageError (exit 2) naming the
  // directory and that PID when another process holds it; nothing in the directory is changed then. The kernel
  // drops the lock when its holder ends, however it ends, so a killed run never blocks the next one.
  void lock();
  // The lock the shards of one search (--shard) hold together: any number of them share the directory, while a
  // run, a resume or a merge, which take lock(), is refused as long as one of them runs, and the other way round.
  // The shards write nothing into the lock file; each trial directory has its own lock(), against a shard run
  // twice.
  void lock_shared();
  std::filesystem::path lock_path() const { return root_ / ".tapegrad.lock"; }

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config_path() const { return root_ / "config.json"; }
  std::filesystem::path metrics_path() const { return root_ / "metrics.csv"; }
  std::filesystem::path summary_path() const { return root_ / "summary.json"; }
  std::filesystem::path checkpoint_path() const { return root_ / "checkpoint.bin"; }
  // root/<name>.png
  std::filesystem::path plot_path(std::string_view name) const;

  // Written atomically, as indented JSON. In resume mode (--resume) an existing config.json is kept as it is, and
  // one whose settings differ from `config` (apart from the time, the thread counts and the build) is refused
  // with UsageError naming the settings that differ. A shard (--shard) writes it only when no other shard has
  // (write_file_once): shards running at once never write one file.
  void write_config(const nlohmann::json& config) const;
  void write_summary(const nlohmann::json& summary) const;

  // A run directory below this one, e.g. sub_run("grid/eta0.01_lambda0.1_batch100"), created and probed like this
  // one. Throws tapegrad::Error for an absolute path or one that climbs out with "..".
  RunDirectory sub_run(const std::filesystem::path& relative) const;

 private:
  class Lock;
  std::filesystem::path root_;
  std::shared_ptr<const Lock> lock_;
};

// Writes `path` whole unless it exists, as one step that any number of processes may try at once: the content
// goes to a temporary file of this process, which is then hard-linked to `path` (link(2) fails when `path` exists)
// and removed. Returns whether this call created `path`; throws tapegrad::Error naming the file when it cannot
// write.
bool write_file_once(const std::filesystem::path& path, const std::string& content);

// A sub-run's directory name from its settings: {{"eta", 0.01}, {"lambda", 0.1}, {"batch", 100}} gives
// "eta0.01_lambda0.1_batch100", each value in the shortest form that reads back exactly.
std::string sub_run_name(const std::vector<std::pair<std::string, double>>& settings);

}  // namespace tapegrad::apps
