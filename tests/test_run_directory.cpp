// nn/train/run_directory.h and the atomic writes it rests on (core/atomic_file.h): a run directory created and
// probed before training, its lock against a second process (held by a forked child here), shared locks,
// sub-runs that stay inside, and files written whole or not at all.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/run_directory.h>
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using namespace tapegrad;
using train::RunDirectory;
using train::RunDirectoryLocked;
using train::RunDirectoryUnusable;
using namespace tapegrad::testing;

namespace {

// Runs `action` and returns the RunDirectoryLocked it throws (FAIL when it throws nothing or something else).
RunDirectoryLocked locked_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const RunDirectoryLocked& error) {
    return error;
  }
  FAIL("no RunDirectoryLocked was thrown");
  return RunDirectoryLocked("", "", false);
}

// A child process that holds the lock of a run directory (lock() or lock_shared()) until it is released (it then
// ends on its own) or killed.
class LockHolder {
 public:
  enum class Kind { exclusive, shared };

  LockHolder(const fs::path& root, Kind kind) {
    int ready[2];
    int release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      char said = 'f';
      try {
        RunDirectory directory(root);
        kind == Kind::exclusive ? directory.lock() : directory.lock_shared();
        said = 'r';
        [[maybe_unused]] const ssize_t written = ::write(ready[1], &said, 1);
        char ignored;
        [[maybe_unused]] const ssize_t read = ::read(release[0], &ignored, 1);  // until the parent releases
      } catch (...) {
        [[maybe_unused]] const ssize_t written = ::write(ready[1], &said, 1);
      }
      ::_exit(said == 'r' ? 0 : 1);  // no atexit handlers of the test program in the child
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_ = release[1];
    char said = 0;
    REQUIRE(::read(ready[0], &said, 1) == 1);
    ::close(ready[0]);
    REQUIRE(said == 'r');
  }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  ~LockHolder() {
    if (pid_ > 0) kill();
  }

  pid_t pid() const { return pid_; }

  // The child ends normally and so drops its lock; returns its exit code.
  int release() {
    ::close(release_);
    return reap();
  }
  // SIGKILL: no destructor runs in the child, only the kernel can drop the lock.
  void kill() {
    ::kill(pid_, SIGKILL);
    ::close(release_);
    reap();
  }

 private:
  int reap() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  int release_ = -1;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Atomic writes

TEST_CASE("write_file_atomically writes new files and replaces old content without leaving temporaries",
          "[train][run_directory][atomic]") {
  TempDir directory("atomic");
  const fs::path target = directory / "config.json";
  write_file_atomically(target, "first version, rather long\n");
  CHECK(read_bytes(target) == "first version, rather long\n");
  write_file_atomically(target, "second\n");
  CHECK(read_bytes(target) == "second\n");
  const std::string binary("a\0b\xff", 4);
  write_file_atomically(target, binary);
  CHECK(read_bytes(target) == binary);
  CHECK(directory_entries(directory.path()) == std::vector<std::string>{"config.json"});

  // JSON the same way, indented, with a final newline; invalid UTF-8 is replaced rather than failing the write.
  const nlohmann::json value = {{"eta", 0.01}, {"path", std::string("caf\xe9")}};
  train::write_json_atomically(directory / "settings.json", value);
  const std::string text = read_bytes(directory / "settings.json");
  CHECK(text.back() == '\n');
  CHECK(text.find("\n  \"eta\": 0.01") != std::string::npos);
  CHECK(nlohmann::json::parse(text)["path"] == "caf\xef\xbf\xbd");
  CHECK(directory_entries(directory.path()) == std::vector<std::string>{"config.json", "settings.json"});
}

TEST_CASE("write_file_atomically keeps the old file whole when writing the new one fails half-way",
          "[train][run_directory][atomic]") {
  TempDir directory("atomic");
  const fs::path target = directory / "summary.json";
  write_file_atomically(target, "old content\n");
  const std::string too_big(64 * 1024, 'x');
  std::string message;
  bool write_error = false;
  {
    FileSizeLimit limit(4096);
    try {
      write_file_atomically(target, too_big);
    } catch (const WriteError& error) {
      write_error = true;
      message = error.what();
    }
  }
  CHECK(write_error);
  CHECK_THAT(message, Catch::Contains(target.string()) && Catch::Contains("could not write"));
  CHECK_THAT(message, Catch::Contains(std::strerror(EFBIG)));
  CHECK(read_bytes(target) == "old content\n");
  CHECK(directory_entries(directory.path()) == std::vector<std::string>{"summary.json"});
}

TEST_CASE("write_file_atomically names the path and the OS error when it cannot write",
          "[train][run_directory][atomic]") {
  TempDir directory("atomic");
  write_bytes(directory / "plain_file", "not a directory");
  const fs::path under_file = directory / "plain_file" / "config.json";
  const std::string message = error_message([&] { write_file_atomically(under_file, "{}"); });
  CHECK_THAT(message, Catch::Contains(under_file.string()));
  CHECK_THAT(message, Catch::Contains(std::strerror(ENOTDIR)));

  // Renaming over a directory fails after the temporary was written: it must be removed again.
  fs::create_directory(directory / "occupied");
  const std::string rename_message = error_message([&] { write_file_atomically(directory / "occupied", "{}"); });
  CHECK_THAT(rename_message, Catch::Contains((directory / "occupied").string()));
  CHECK_THAT(rename_message, Catch::Contains(std::strerror(EISDIR)));
  CHECK(directory_entries(directory.path()) == std::vector<std::string>{"occupied", "plain_file"});
}

TEST_CASE("write_file_once: exactly one of several processes trying at once creates the file",
          "[train][run_directory][atomic]") {
  TempDir directory("once");
  const fs::path target = directory / "invocation.json";
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      bool created = false;
      try {
        created = train::write_file_once(target, "written by " + std::to_string(i) + "\n");
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(created ? 0 : 1);
    }
    children.push_back(child);
  }
  int creators = 0;
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) != 2);
    creators += WEXITSTATUS(status) == 0 ? 1 : 0;
  }
  CHECK(creators == 1);
  const std::string first = read_bytes(target);
  CHECK_THAT(first, Catch::StartsWith("written by "));
  CHECK_FALSE(train::write_file_once(target, "later\n"));
  CHECK(read_bytes(target) == first);
  CHECK(directory_entries(directory.path()) == std::vector<std::string>{"invocation.json"});  // no staging left
}

// ---------------------------------------------------------------------------------------------------------------
// The directory

TEST_CASE("RunDirectory creates its directory, probes it and names the standard files",
          "[train][run_directory]") {
  TempDir directory("run");
  const RunDirectory run(directory / "runs" / "first");
  CHECK(fs::is_directory(directory / "runs" / "first"));
  CHECK(directory_entries(run.root()).empty());  // the write probe was removed
  CHECK(run.config_path() == directory / "runs" / "first" / "config.json");
  CHECK(run.metrics_path() == run.root() / "metrics.csv");
  CHECK(run.summary_path() == run.root() / "summary.json");
  CHECK(run.checkpoint_path() == run.root() / "checkpoint.bin");
  CHECK(run.plot_path("loss") == run.root() / "loss.png");
  CHECK(run.lock_path() == run.root() / ".tapegrad.lock");

  run.write_summary(nlohmann::json{{"test_accuracy", 0.39}});
  CHECK(nlohmann::json::parse(read_bytes(run.summary_path()))["test_accuracy"] == 0.39);
  CHECK(directory_entries(run.root()) == std::vector<std::string>{"summary.json"});

  // An existing run directory is fine to use again.
  const RunDirectory reopened(run.root());
  CHECK(fs::exists(reopened.summary_path()));
}

TEST_CASE("RunDirectory nests sub-runs that stay inside it and names them from their settings",
          "[train][run_directory]") {
  TempDir directory("run");
  const RunDirectory run(directory / "out");
  const std::string name = train::sub_run_name({{"eta", 0.01}, {"lambda", 0.1}, {"batch", 100}});
  CHECK(name == "eta0.01_lambda0.1_batch100");
  CHECK(train::sub_run_name({{"lambda", 1.0 / 3}}) == "lambda0.3333333333333333");
  const RunDirectory trial = run.sub_run(fs::path("grid") / name);
  CHECK(trial.root() == directory / "out" / "grid" / "eta0.01_lambda0.1_batch100");
  CHECK(fs::is_directory(trial.root()));

  for (const fs::path& outside : {fs::path("../escape"), fs::path("grid/../../escape"), directory.path() / "x",
                                  fs::path("")}) {
    INFO(outside);
    const std::string message = error_message([&] { run.sub_run(outside); });
    CHECK_THAT(message, Catch::Contains("sub-run directory '" + outside.string() + "'") &&
                            Catch::Contains(run.root().string()));
  }
  CHECK_FALSE(fs::exists(directory / "escape"));
  CHECK_FALSE(fs::exists(directory / "x"));
}

TEST_CASE("RunDirectory::remove_run_files removes a run's files at every depth and nothing else",
          "[train][run_directory]") {
  TempDir directory("run");
  const RunDirectory run(directory / "out");
  const RunDirectory trial = run.sub_run("grid/trial01");
  const std::vector<fs::path> removed = {
      run.config_path(),     run.metrics_path(),          run.summary_path(),
      run.checkpoint_path(), run.root() / "best.bin",      run.root() / "checkpoint.bin.best",
      run.plot_path("cost"), run.root() / "cost.svg",      trial.root() / "model.safetensors",
      trial.root() / "results.csv", trial.root() / "results.json", run.root() / "notes.md"};
  const std::vector<fs::path> kept = {run.root() / "notes.txt", trial.root() / "data.bin",
                                      run.root() / "config.json.orig"};
  for (const auto& path : removed) write_file_atomically(path, "x");
  for (const auto& path : kept) write_file_atomically(path, "kept");
  run.remove_run_files({"notes.md"});
  for (const auto& path : removed) CHECK_FALSE(fs::exists(path));
  for (const auto& path : kept) CHECK(read_bytes(path) == "kept");
  CHECK(fs::is_directory(trial.root()));  // directories stay

  // A file that cannot be removed is named: here one in a directory that cannot be written (which root, who
  // may write anywhere, cannot be shown).
  write_file_atomically(trial.summary_path(), "x");
  fs::permissions(trial.root(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  if (::access(trial.root().c_str(), W_OK) != 0) {
    const std::string message = error_message([&] { run.remove_run_files(); });
    CHECK_THAT(message, Catch::Contains("cannot remove '" + trial.summary_path().string() + "'"));
    CHECK(fs::exists(trial.summary_path()));
  }
  fs::permissions(trial.root(), fs::perms::owner_write, fs::perm_options::add);
}

TEST_CASE("RunDirectory fails at once, naming the directory and the reason, when it cannot be used",
          "[train][run_directory]") {
  TempDir directory("run");
  write_bytes(directory / "plain_file", "x");
  const auto unusable = [](const fs::path& root) -> std::optional<RunDirectoryUnusable> {
    try {
      RunDirectory run(root);
    } catch (const RunDirectoryUnusable& error) {
      return error;
    }
    return std::nullopt;
  };

  const fs::path under_file = directory / "plain_file" / "run";
  const auto below_a_file = unusable(under_file);
  REQUIRE(below_a_file);
  CHECK(below_a_file->directory() == under_file);
  CHECK_THAT(below_a_file->reason(), Catch::Contains(std::strerror(ENOTDIR)));
  CHECK_THAT(below_a_file->what(), Catch::Contains("cannot use the run directory '" + under_file.string() + "'"));

  const auto a_file = unusable(directory / "plain_file");
  REQUIRE(a_file);
  CHECK_THAT(a_file->reason(), Catch::Contains("not a directory", Catch::CaseSensitive::No));

  // A directory that exists but takes no files, even for root: /proc/self.
  const auto takes_no_files = unusable("/proc/self");
  REQUIRE(takes_no_files);
  CHECK_THAT(takes_no_files->reason(), Catch::StartsWith("cannot create a file in it: "));

  // A disk that is full: a file can be created but not one byte written, and the probe is not left behind.
  std::optional<RunDirectoryUnusable> full;
  {
    FileSizeLimit limit(0);
    full = unusable(directory / "full");
  }
  REQUIRE(full);
  CHECK(full->reason() == std::string("cannot write a file in it: ") + std::strerror(EFBIG));
  CHECK(directory_entries(directory / "full").empty());

  // Without write permission (root writes anyway: there the probe rightly succeeds).
  fs::create_directory(directory / "read_only");
  fs::permissions(directory / "read_only", fs::perms::owner_read | fs::perms::owner_exec);
  const auto read_only = unusable(directory / "read_only");
  fs::permissions(directory / "read_only", fs::perms::owner_all);
  if (::geteuid() != 0) {
    REQUIRE(read_only);
    CHECK_THAT(read_only->reason(), Catch::Contains(std::strerror(EACCES)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Locks

TEST_CASE("RunDirectory::lock refuses a second process, naming the directory and the holder's PID, until the "
          "holder dies",
          "[train][run_directory][lock]") {
  TempDir directory("lock");
  const fs::path root = directory / "run";
  LockHolder holder(root, LockHolder::Kind::exclusive);
  const std::string holder_pid = std::to_string(holder.pid());
  CHECK(read_bytes(root / ".tapegrad.lock") == holder_pid + "\n");

  RunDirectory second(root);
  const RunDirectoryLocked refused = locked_error([&] { second.lock(); });
  CHECK(refused.directory() == root);
  CHECK(refused.holder_pid() == holder_pid);
  CHECK_FALSE(refused.held_shared());
  CHECK_THAT(refused.what(), Catch::Contains(root.string()) && Catch::Contains("(PID " + holder_pid + ")"));
  // lock_shared is refused too, and neither refusal touched the holder's record.
  CHECK(locked_error([&] { second.lock_shared(); }).holder_pid() == holder_pid);
  CHECK(read_bytes(root / ".tapegrad.lock") == holder_pid + "\n");

  // Killed, the holder runs no code of its own: the kernel drops its lock, and the directory is free.
  holder.kill();
  second.lock();
  CHECK(read_bytes(root / ".tapegrad.lock") == std::to_string(::getpid()) + "\n");
}

TEST_CASE("RunDirectory's lock lasts until the last copy is gone, and binds other RunDirectory objects too",
          "[train][run_directory][lock]") {
  TempDir directory("lock");
  std::optional<RunDirectory> first(std::in_place, directory / "run");
  first->lock();
  first->lock();  // a second call on the holder does nothing
  std::optional<RunDirectory> copy = first;
  first.reset();
  RunDirectory other(directory / "run");
  CHECK(locked_error([&] { other.lock(); }).holder_pid() == std::to_string(::getpid()));
  copy.reset();
  other.lock();
}

// (lock_shared() refused while a process holds lock() is in the first test of this section.)
TEST_CASE("RunDirectory::lock_shared: holders share the directory, and lock() is refused while one holds it",
          "[train][run_directory][lock]") {
  TempDir directory("lock");
  const fs::path root = directory / "run";
  LockHolder worker(root, LockHolder::Kind::shared);
  std::optional<RunDirectory> second_worker(std::in_place, root);
  second_worker->lock_shared();  // shared by two processes at once

  RunDirectory run(root);
  const RunDirectoryLocked refused = locked_error([&] { run.lock(); });
  CHECK(refused.held_shared());
  CHECK(refused.holder_pid().empty());
  CHECK_THAT(refused.what(), Catch::Contains(root.string()) && Catch::Contains("share"));

  // Refused as long as one holder is left, whichever ends first.
  CHECK(worker.release() == 0);
  CHECK(locked_error([&] { run.lock(); }).held_shared());
  second_worker.reset();
  run.lock();
}
