#include "apps/common/app_error.h"

#include <fmt/format.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/resources.h>
#include <tapegrad/nn/train/run_directory.h>
#include <tapegrad/nn/train/stop_signal.h>

#include <cstdio>
#include <filesystem>
#include <new>

#include "apps/common/hints.h"
#include "apps/common/logging.h"

namespace tapegrad::apps {

namespace {

std::string program_name(int argc, char** argv) {
  if (argc < 1 || argv == nullptr || argv[0] == nullptr) return "the app";
  return std::filesystem::path(argv[0]).filename().string();
}

// Called from catch handlers, where a second exception would escape run_app: nothing here may throw.
void report_failure(const std::exception* error, int argc, char** argv) noexcept {
  try {
    const std::string program = program_name(argc, argv);
    train::StatusLine::standard_error().finish();
    std::string message = error != nullptr ? error->what() : "unknown failure (not a std::exception)";
    // The resource, said plainly: what() of std::bad_alloc is only the type's name.
    if (dynamic_cast<const std::bad_alloc*>(error) != nullptr) {
      message = "out of memory: an allocation failed (" + message + ")";
    }
    const std::string hint = error != nullptr ? hint_for(*error, program) : std::string(hints::other_failure);
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::fprintf(stderr, "hint: %s\n", hint.c_str());
  } catch (...) {
    std::fputs("error: a failure happened, and reporting it failed too\n", stderr);
  }
  std::fflush(stderr);
}

}  // namespace

void throw_if_interrupted(const std::string& what, const std::filesystem::path& directory) {
  if (train::stop_requested()) {
    throw Interrupted(fmt::format("{} was interrupted; what finished is in {}", what, directory.string()));
  }
}

int exit_code_for(const std::exception& error) {
  if (dynamic_cast<const InfoRequested*>(&error) != nullptr) return exit_code::success;
  if (const auto* app_error = dynamic_cast<const AppError*>(&error)) return app_error->exit_code();
  return exit_code::failure;
}

std::string hint_for(const std::exception& error, const std::string& program) {
  if (dynamic_cast<const Diverged*>(&error) != nullptr) return hints::diverged(program);
  if (const auto* app_error = dynamic_cast<const AppError*>(&error)) {
    if (!app_error->hint().empty()) return app_error->hint();
    if (app_error->exit_code() == exit_code::bad_usage) {
      return fmt::format("run '{} --help' to see the flags and the values they allow", program);
    }
    if (app_error->exit_code() == exit_code::bad_data) {
      return "check --data DIR: it must hold the data set this app reads (README.md says how to get it)";
    }
  }
  if (dynamic_cast<const std::bad_alloc*>(&error) != nullptr) return hints::out_of_memory;
  if (dynamic_cast<const WriteError*>(&error) != nullptr) return hints::write_failed;
  return hints::other_failure;
}

std::optional<UsageError> run_directory_usage_error(const std::exception& error) {
  if (const auto* too_large = dynamic_cast<const train::ResourceLimitExceeded*>(&error)) {
    return UsageError(too_large->what(), too_large->advice());  // settings that cannot fit: name them, as they are
  }
  if (const auto* unusable = dynamic_cast<const train::RunDirectoryUnusable*>(&error)) {
    return UsageError(
        fmt::format("cannot use the --out directory '{}': {}", unusable->directory().string(), unusable->reason()),
        "choose a directory you can write to with --out");
  }
  const auto* locked = dynamic_cast<const train::RunDirectoryLocked*>(&error);
  if (locked == nullptr) return std::nullopt;
  // Only the shards of a search (--shard) take the shared lock.
  if (locked->held_shared()) {
    return UsageError(fmt::format("the run directory '{}' is in use by shards of a search (--shard) that still "
                                  "run; a run or a merge beside them would mix its files with theirs",
                                  locked->directory().string()),
                      "merge with --resume once every shard has ended (a Slurm job with "
                      "--dependency=afterany, say)");
  }
  return UsageError(locked->what(), "wait for that process to end (or stop it), or give another --out directory");
}

int run_app(int argc, char** argv, const AppMain& body) {
  try {
    configure_logging(Verbosity::normal);
    return body(argc, argv);
  } catch (const InfoRequested& info) {
    std::fputs(info.text().c_str(), stdout);
    std::fflush(stdout);
    return exit_code::success;
  } catch (const std::exception& error) {
    // The library's run-directory errors are bad usage of --out for the apps.
    const std::optional<UsageError> usage = run_directory_usage_error(error);
    const std::exception& reported = usage ? static_cast<const std::exception&>(*usage) : error;
    report_failure(&reported, argc, argv);
    return exit_code_for(reported);
  } catch (...) {
    report_failure(nullptr, argc, argv);
    return exit_code::failure;
  }
}

}  // namespace tapegrad::apps
