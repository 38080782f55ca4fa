#include "apps/common/app_error.h"

#include <fmt/format.h>
#include <tapegrad/nn/train/directory_run.h>
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

void rethrow_in_app_terms() {
  try {
    throw;
  } catch (const train::ResourceLimitExceeded& too_large) {
    throw UsageError(too_large.what(), too_large.advice());  // settings that cannot fit: name them, as they are
  } catch (const train::RunDirectoryUnusable& unusable) {
    throw UsageError(
        fmt::format("cannot use the --out directory '{}': {}", unusable.directory().string(), unusable.reason()),
        "choose a directory you can write to with --out");
  } catch (const train::RunDirectoryLocked& locked) {
    if (!locked.held_shared()) {
      throw UsageError(locked.what(), "wait for that process to end (or stop it), or give another --out directory");
    }
    // Only the shards of a search (--shard) take the shared lock.
    throw UsageError(fmt::format("the run directory '{}' is in use by shards of a search (--shard) that still run; "
                                 "a run or a merge beside them would mix its files with theirs",
                                 locked.directory().string()),
                     "merge with --resume once every shard has ended (a Slurm job with --dependency=afterany, say)");
  } catch (const train::RunSettingsDiffer& differ) {
    throw UsageError(differ.what(), "resume with the flags of the original run, or give a new --out directory");
  } catch (const train::RunFileUnusable& unusable) {
    if (unusable.kind == train::RunFile::checkpoint) throw Failure(unusable.reason, hints::damaged_checkpoint);
    if (unusable.kind != train::RunFile::metrics) {
      throw UsageError(fmt::format("{}; start the run again without --resume", unusable.what()));
    }
    throw Failure(fmt::format("cannot read back the finished run in '{}': {}", unusable.file.parent_path().string(),
                              unusable.reason),
                  "restore metrics.csv, or train the run again: the same command with --overwrite instead of --resume");
  } catch (const train::RunDiverged& diverged) {
    throw Diverged(diverged.what());
  } catch (const train::RunInterrupted& interrupted) {
    throw Interrupted(interrupted.what());
  }
}

int run_app(int argc, char** argv, const AppMain& body) {
  try {
    configure_logging(Verbosity::normal);
    return body(argc, argv);
  } catch (const InfoRequested& info) {
    std::fputs(info.text().c_str(), stdout);
    std::fflush(stdout);
    return exit_code::success;
  } catch (const std::exception&) {
    try {
      rethrow_in_app_terms();  // the library's errors in the apps' words
    } catch (const std::exception& reported) {
      report_failure(&reported, argc, argv);
      return exit_code_for(reported);
    }
  } catch (...) {
    report_failure(nullptr, argc, argv);
    return exit_code::failure;
  }
}

}  // namespace tapegrad::apps
