#include "apps/common/run_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "apps/common/app_error.h"
#include "apps/common/atomic_file.h"
#include "apps/common/experiment.h"
#include "apps/common/shard.h"
#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/csv.h>

namespace tapegrad::apps {

namespace {

[[noreturn]] void throw_unusable(const std::filesystem::path& root, const std::string& reason) {
  throw UsageError(fmt::format("cannot use the --out directory '{}': {}", root.string(), reason),
                   "choose a directory you can write to with --out");
}

// This process among all that may share --out, the shards of a search on several machines among them: the host's
// name and the PID, for the names of this process's own temporary files there.
std::string process_tag() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return fmt::format("{}", ::getpid());
  return fmt::format("{}-{}", host, static_cast<long>(::getpid()));
}

// Writing one byte (not only creating the file) also catches a full disk or an exhausted quota.
void probe_writable(const std::filesystem::path& root) {
  const std::filesystem::path probe = root / fmt::format(".tapegrad-write-probe-{}", process_tag());
  const int descriptor = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (descriptor < 0)
    throw_unusable(root, "cannot create a file in it: " + std::generic_category().message(errno));
  const bool written = ::write(descriptor, "x", 1) == 1;
  const int write_error = errno;
  ::close(descriptor);
  ::unlink(probe.c_str());
  if (!written) throw_unusable(root, "cannot write a file in it: " + std::generic_category().message(write_error));
}

void write_json(const std::filesystem::path& path, const nlohmann::json& value) {
  // Replacing invalid UTF-8 (a path in a legacy encoding) beats losing the whole file at the end of a run.
  write_file_atomically(path, value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace

// An open descriptor of the lock file with the flock on it; closing it is what releases the lock.
class RunDirectory::Lock {
 public:
  explicit Lock(int descriptor) : descriptor_(descriptor) {}
  ~Lock() { ::close(descriptor_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  int descriptor_;
};

namespace {

// The lock file, open; throws when it cannot be.
int open_lock_file(const std::filesystem::path& root, const std::filesystem::path& path) {
  // Opened without O_TRUNC: a process that is refused must leave the holder's PID in place.
  const int descriptor = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (descriptor < 0) throw_unusable(root, fmt::format("cannot open '{}': {}", path.string(),
                                                       std::generic_category().message(errno)));
  return descriptor;
}

// Closes `descriptor`, on which flock failed with `lock_error`, and throws the error that says who holds the lock.
[[noreturn]] void throw_locked(const std::filesystem::path& root, const std::filesystem::path& path,
                               int descriptor, int lock_error) {
  char text[32] = {};
  const ssize_t read = ::pread(descriptor, text, sizeof text - 1, 0);
  // Shards hold the lock shared: if a shared lock can be had, they are the holders (the file's PID is not theirs).
  const bool held_by_shards = lock_error == EWOULDBLOCK && ::flock(descriptor, LOCK_SH | LOCK_NB) == 0;
  ::close(descriptor);
  if (lock_error != EWOULDBLOCK) {
    throw_unusable(root, fmt::format("cannot lock '{}': {}", path.string(),
                                     std::generic_category().message(lock_error)));
  }
  if (held_by_shards) {
    throw UsageError(fmt::format("the run directory '{}' is in use by shards of a search (--shard) that still "
                                 "run; a run or a merge beside them would mix its files with theirs",
                                 root.string()),
                     "merge with --resume once every shard has ended (a Slurm job with "
                     "--dependency=afterany, say)");
  }
  const std::string holder = read > 0 ? std::string(text, static_cast<std::size_t>(read)) : std::string("?");
  throw UsageError(fmt::format("the run directory '{}' is in use by another process (PID {}); two processes "
                               "writing one run would mix their files",
                               root.string(), holder.substr(0, holder.find('\n'))),
                   "wait for that process to end (or stop it), or give another --out directory");
}

}  // namespace

void RunDirectory::lock() {
  if (lock_) return;
  const std::filesystem::path path = lock_path();
  const int descriptor = open_lock_file(root_, path);
  if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) throw_locked(root_, path, descriptor, errno);
  const std::string pid = fmt::format("{}\n", static_cast<long>(::getpid()));
  // The PID is only for the message above: the lock itself is the flock, so a failed write costs nothing.
  if (::ftruncate(descriptor, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(descriptor, pid.data(), pid.size(), 0);
  }
  lock_ = std::make_shared<const Lock>(descriptor);
}

void RunDirectory::lock_shared() {
  if (lock_) return;
  const std::filesystem::path path = lock_path();
  const int descriptor = open_lock_file(root_, path);
  if (::flock(descriptor, LOCK_SH | LOCK_NB) != 0) throw_locked(root_, path, descriptor, errno);
  lock_ = std::make_shared<const Lock>(descriptor);
}

RunDirectory::RunDirectory(std::filesystem::path root) : root_(std::move(root)) {
  if (root_.empty()) throw_unusable(root_, "the path is empty");
  std::error_code error;
  std::filesystem::create_directories(root_, error);
  if (error) throw_unusable(root_, error.message());
  if (!std::filesystem::is_directory(root_, error)) throw_unusable(root_, "it exists but is not a directory");
  probe_writable(root_);
}

std::filesystem::path RunDirectory::plot_path(std::string_view name) const {
  return root_ / (std::string(name) + ".png");
}

void RunDirectory::write_config(const nlohmann::json& config) const {
  // A resumed run keeps the config.json of the run it continues, byte for byte: a resume that is refused later
  // must not have changed it.
  if (resume_mode()) {
    std::error_code error;
    if (std::filesystem::is_regular_file(config_path(), error)) {
      std::ifstream in(config_path());
      const nlohmann::json recorded = nlohmann::json::parse(in, nullptr, false);
      if (!recorded.is_discarded()) {
        // The settings that decide the numbers are compared by the experiment itself (check_same_run), before
        // anything is written; the rest of the record (the study's own settings) stays as the run wrote it.
        return;
      }
    }
  }
  if (active_shard()) {
    write_file_once(config_path(), config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return;
  }
  write_json(config_path(), config);
}

void RunDirectory::write_summary(const nlohmann::json& summary) const { write_json(summary_path(), summary); }

RunDirectory RunDirectory::sub_run(const std::filesystem::path& relative) const {
  if (relative.empty() || relative.is_absolute()) {
    throw_error(fmt::format("sub-run directory '{}' must be a relative path inside '{}'", relative.string(),
                            root_.string()));
  }
  for (const auto& part : relative) {
    if (part == "..") {
      throw_error(fmt::format("sub-run directory '{}' must stay inside '{}' and so cannot contain '..'",
                              relative.string(), root_.string()));
    }
  }
  return RunDirectory(root_ / relative);
}

bool write_file_once(const std::filesystem::path& path, const std::string& content) {
  static std::atomic<unsigned> staged{0};
  const std::string name = fmt::format(".{}.once-{}-{}", path.filename().string(), process_tag(), staged++);
  const std::filesystem::path staging = path.parent_path() / name;
  write_file_atomically(staging, content);
  const bool created = ::link(staging.c_str(), path.c_str()) == 0;
  const int link_error = errno;
  ::unlink(staging.c_str());
  if (!created && link_error != EEXIST) {
    throw_error(fmt::format("cannot write '{}': {}", path.string(), std::generic_category().message(link_error)));
  }
  return created;
}

std::string sub_run_name(const std::vector<std::pair<std::string, double>>& settings) {
  std::string name;
  for (const auto& [key, value] : settings) {
    if (!name.empty()) name += '_';
    name += key + train::shortest_text(value);
  }
  return name;
}

}  // namespace tapegrad::apps
