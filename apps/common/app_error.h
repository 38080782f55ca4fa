// The apps' exit-code contract: every failure becomes a tapegrad::Error subclass that knows its exit code, and
// run_app turns whatever escapes an app's body into "error: ..." and "hint: ..." on stderr plus that code, in one
// place. The hints of failures that are neither bad usage nor bad data are in hints.h.
#pragma once

#include <tapegrad/core/error.h>

#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

namespace tapegrad::apps {

namespace exit_code {
inline constexpr int success = 0;
inline constexpr int failure = 1;  // anything that is neither bad usage nor bad data
inline constexpr int bad_usage = 2;
inline constexpr int bad_data = 3;
inline constexpr int interrupted = 130;  // stopped by SIGINT or SIGTERM after saving (128 + SIGINT, as shells do)
}  // namespace exit_code

// An error that carries the exit code it stands for and a hint telling the user what to do next; an empty hint is
// the default of its kind (hint_for).
class AppError : public Error {
 public:
  AppError(const std::string& message, int exit_code, std::string hint)
      : Error(message), exit_code_(exit_code), hint_(std::move(hint)) {}
  int exit_code() const { return exit_code_; }
  const std::string& hint() const { return hint_; }

 private:
  int exit_code_;
  std::string hint_;
};

// A flag or value on the command line is wrong (exit code 2); the default hint points at --help.
struct UsageError : AppError {
  explicit UsageError(const std::string& message, std::string hint = {})
      : AppError(message, exit_code::bad_usage, std::move(hint)) {}
};

// The data set is missing or malformed (exit code 3); the default hint points at --data.
struct DataError : AppError {
  explicit DataError(const std::string& message, std::string hint = {})
      : AppError(message, exit_code::bad_data, std::move(hint)) {}
};

// Any other failure (exit code 1); the default hint is hints::other_failure.
struct Failure : AppError {
  explicit Failure(const std::string& message, std::string hint = {})
      : AppError(message, exit_code::failure, std::move(hint)) {}
};

// Training diverged (exit code 1); the hint names the app's own learning-rate flag (hints::diverged).
struct Diverged : Failure {
  explicit Diverged(const std::string& message) : Failure(message) {}
};

// Training stopped on request (Ctrl-C, SIGTERM) after saving its checkpoint (exit code 130).
struct Interrupted : AppError {
  explicit Interrupted(
      const std::string& message,
      std::string hint = "run the same command with --resume OUT_DIR (the run's --out) to continue")
      : AppError(message, exit_code::interrupted, std::move(hint)) {}
};

// Throws Interrupted ("<what> was interrupted; what finished is in <directory>") once Ctrl-C or SIGTERM asked to
// stop (train::stop_requested).
void throw_if_interrupted(const std::string& what, const std::filesystem::path& directory);

// Not a failure: the user asked for text (help, version) instead of a run. run_app prints it and returns 0.
class InfoRequested : public std::exception {
 public:
  explicit InfoRequested(std::string text) : text_(std::move(text)) {}
  const std::string& text() const { return text_; }
  const char* what() const noexcept override { return text_.c_str(); }

 private:
  std::string text_;
};

// Not a failure either: a shard (--shard K/N) ran its trials and leaves the search's results to the merge; the
// text says how to merge.
struct ShardFinished : InfoRequested {
  explicit ShardFinished(const std::string& text) : InfoRequested(text + "\n") {}
};

// The exit code that an exception caught at the top of an app stands for.
int exit_code_for(const std::exception& error);

// The hint printed under "error: ..." for an exception; `program` is the app's name, for "run '<program> --help'"
// and for the flags a hint may name. Never empty.
std::string hint_for(const std::exception& error, const std::string& program);

// Runs the data-loading step `load` and turns any tapegrad::Error it throws into a DataError (exit code 3), so a
// reader's message ("file X, byte offset N: ...") reaches the user with the data exit code.
template <class Load>
decltype(auto) as_data_error(Load&& load) {
  try {
    return std::forward<Load>(load)();
  } catch (const AppError&) {
    throw;
  } catch (const Error& error) {
    throw DataError(error.what());
  }
}

// Inside a catch block: throws the exception being handled again, as the AppError an app reports for it when it
// is one of the library's errors that the apps word themselves. Bad usage (exit 2): a run directory that cannot be
// used or is locked (train::RunDirectoryUnusable, RunDirectoryLocked), settings that cannot fit
// (train::ResourceLimitExceeded, its advice the hint), a run of other settings (train::RunSettingsDiffer) and a
// damaged config.json or summary.json (train::RunFileUnusable). A diverged run is Diverged, a stopped one
// Interrupted, any other file of the run that cannot be used a Failure with the hint that says how to go on.
// Anything else is thrown again as it is.
[[noreturn]] void rethrow_in_app_terms();

// Runs `body` and returns what it returns; what it throws comes out as rethrow_in_app_terms has it.
template <class Body>
decltype(auto) in_app_terms(Body&& body) {
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    rethrow_in_app_terms();
  }
}

using AppMain = std::function<int(int argc, char** argv)>;

// Sets up logging, then calls `body(argc, argv)` and returns its exit code. Nothing escapes: InfoRequested prints
// its text to stdout and returns 0; any other exception prints "error: <message>" and its hint to stderr and
// returns exit_code_for(it), an error of the library as rethrow_in_app_terms has it.
int run_app(int argc, char** argv, const AppMain& body);

}  // namespace tapegrad::apps
