#include <tapegrad/nn/train/run_directory.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>

#include <tapegrad/nn/train/csv.h>

namespace tapegrad::train {

RunDirectoryUnusable::RunDirectoryUnusable(std::filesystem::path directory, std::string reason)
    : Error(fmt::format("cannot use the run directory '{}': {}", directory.string(), reason)),
      directory_(std::move(directory)),
      reason_(std::move(reason)) {}

namespace {

std::string locked_message(const std::filesystem::path& directory, const std::string& holder_pid,
                           bool held_shared) {
  if (held_shared) {
    return fmt::format("the run directory '{}' is in use by processes that share it (lock_shared); a process of "
                       "its own there would mix its files with theirs",
                       directory.string());
  }
  return fmt::format("the run directory '{}' is in use by another process (PID {}); two processes writing one run "
                     "would mix their files",
                     directory.string(), holder_pid);
}

}  // namespace

RunDirectoryLocked::RunDirectoryLocked(std::filesystem::path directory, std::string holder_pid, bool held_shared)
    : Error(locked_message(directory, holder_pid, held_shared)),
      directory_(std::move(directory)),
      holder_pid_(std::move(holder_pid)),
      held_shared_(held_shared) {}

namespace {

std::string system_reason(int error_number) { return std::generic_category().message(error_number); }

// This process among all that may share a directory, processes on other machines of a cluster among them: the
// host's name and the PID, for the names of this process's own temporary files there.
std::string process_tag() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return fmt::format("{}", ::getpid());
  return fmt::format("{}-{}", host, static_cast<long>(::getpid()));
}

// Writing one byte (not only creating the file) also catches a full disk or an exhausted quota.
void probe_writable(const std::filesystem::path& root) {
  const std::filesystem::path probe = root / fmt::format(".tapegrad-write-probe-{}", process_tag());
  const int descriptor = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (descriptor < 0) throw RunDirectoryUnusable(root, "cannot create a file in it: " + system_reason(errno));
  const bool written = ::write(descriptor, "x", 1) == 1;
  const int write_error = errno;
  ::close(descriptor);
  ::unlink(probe.c_str());
  if (!written) throw RunDirectoryUnusable(root, "cannot write a file in it: " + system_reason(write_error));
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

int open_lock_file(const std::filesystem::path& root, const std::filesystem::path& path) {
  // Opened without O_TRUNC: a process that is refused must leave the holder's PID in place.
  const int descriptor = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (descriptor < 0) {
    throw RunDirectoryUnusable(root, fmt::format("cannot open '{}': {}", path.string(), system_reason(errno)));
  }
  return descriptor;
}

// Closes `descriptor`, on which flock failed with `lock_error`, and throws the error that says who holds the lock.
[[noreturn]] void throw_locked(const std::filesystem::path& root, const std::filesystem::path& path,
                               int descriptor, int lock_error) {
  char text[32] = {};
  const ssize_t read = ::pread(descriptor, text, sizeof text - 1, 0);
  // If a shared lock can be had, the holders hold it shared (the file's PID, if any, is an earlier holder's).
  const bool held_shared = lock_error == EWOULDBLOCK && ::flock(descriptor, LOCK_SH | LOCK_NB) == 0;
  ::close(descriptor);
  if (lock_error != EWOULDBLOCK) {
    const std::string reason = fmt::format("cannot lock '{}': {}", path.string(), system_reason(lock_error));
    throw RunDirectoryUnusable(root, reason);
  }
  if (held_shared) throw RunDirectoryLocked(root, "", true);
  const std::string holder = read > 0 ? std::string(text, static_cast<std::size_t>(read)) : std::string("?");
  throw RunDirectoryLocked(root, holder.substr(0, holder.find('\n')), false);
}

}  // namespace

void RunDirectory::lock() {
  if (lock_) return;
  const std::filesystem::path path = lock_path();
  const int descriptor = open_lock_file(root_, path);
  if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) throw_locked(root_, path, descriptor, errno);
  const std::string pid = fmt::format("{}\n", static_cast<long>(::getpid()));
  // The PID is only for the message of a refused process: the lock itself is the flock, so a failed write costs
  // nothing.
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
  if (root_.empty()) throw RunDirectoryUnusable(root_, "the path is empty");
  std::error_code error;
  std::filesystem::create_directories(root_, error);
  if (error) throw RunDirectoryUnusable(root_, error.message());
  if (!std::filesystem::is_directory(root_, error)) {
    throw RunDirectoryUnusable(root_, "it exists but is not a directory");
  }
  probe_writable(root_);
}

std::filesystem::path RunDirectory::plot_path(std::string_view name) const {
  return root_ / (std::string(name) + ".png");
}

void RunDirectory::remove_run_files(const std::vector<std::string>& more) const {
  static const std::vector<std::string> written = {
      "config.json",     "metrics.csv",       "summary.json", "checkpoint.bin", "checkpoint.bin.best",
      "best.bin",        "model.safetensors", "results.csv",  "results.json"};
  const auto is_run_file = [&more](const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    return std::ranges::find(written, name) != written.end() || std::ranges::find(more, name) != more.end() ||
           path.extension() == ".png" || path.extension() == ".svg";
  };
  std::error_code error;
  std::vector<std::filesystem::path> doomed;  // listed first: removing while iterating skips entries
  for (auto it = std::filesystem::recursive_directory_iterator(root_, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error) && is_run_file(it->path())) doomed.push_back(it->path());
  }
  for (const auto& path : doomed) {
    if (!std::filesystem::remove(path, error) && error) {
      throw_error(fmt::format("cannot remove '{}': {}", path.string(), error.message()));
    }
  }
}

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
    // Not a WriteError: room on the disk would not help a file system without hard links (EPERM).
    throw_error(fmt::format("cannot write '{}': {}", path.string(), system_reason(link_error)));
  }
  return created;
}

std::string sub_run_name(const std::vector<std::pair<std::string, double>>& settings) {
  std::string name;
  for (const auto& [key, value] : settings) {
    if (!name.empty()) name += '_';
    name += key + shortest_text(value);
  }
  return name;
}

}  // namespace tapegrad::train
