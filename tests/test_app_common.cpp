// The app infrastructure: the apps' config.json and run-directory errors, the command-line contract and its
// exit codes, progress formatting and reporting, logging, timing, threads and the run record.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <catch2/catch.hpp>
#include <tapegrad/nn/train/directory_run.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/bounds.h"
#include "apps/common/cli.h"
#include "apps/common/experiment.h"
#include "apps/common/settings_table.h"
#include "apps/common/logging.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_info.h"
#include "apps/common/shard.h"
#include "apps/common/threads.h"
#include <tapegrad/core/error.h>
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/build_record.h>
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using namespace tapegrad::apps;
using tapegrad::testing::read_bytes;
using tapegrad::testing::read_json;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
using tapegrad::testing::directory_entries;
using tapegrad::testing::error_message;

namespace {

// Sends everything written to a standard stream (stdout or stderr) into a temporary file while it lives.
class CapturedStream {
 public:
  explicit CapturedStream(std::FILE* stream) : stream_(stream), descriptor_(::fileno(stream)) {
    std::fflush(stream_);
    saved_ = ::dup(descriptor_);
    file_ = std::tmpfile();
    ::dup2(::fileno(file_), descriptor_);
  }
  CapturedStream(const CapturedStream&) = delete;
  CapturedStream& operator=(const CapturedStream&) = delete;
  ~CapturedStream() {
    std::fflush(stream_);
    ::dup2(saved_, descriptor_);
    ::close(saved_);
    std::fclose(file_);
  }
  std::string text() const {
    std::fflush(stream_);
    return tapegrad::testing::file_text(file_);
  }

 private:
  std::FILE* stream_;
  int descriptor_;
  int saved_ = -1;
  std::FILE* file_ = nullptr;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Run directories (train::RunDirectory, tests/test_run_directory.cpp): what the apps add

TEST_CASE("write_run_config writes config.json, keeps it on --resume, and lets one shard write it",
          "[app_common][run_dir]") {
  TempDir directory("run");
  const RunDirectory run(directory / "out");
  write_run_config(run, {{"seed", 7}, {"eta", 0.01}});
  CHECK(nlohmann::json::parse(read_bytes(run.config_path())) == nlohmann::json{{"seed", 7}, {"eta", 0.01}});
  write_run_config(run, {{"seed", 8}});
  CHECK(read_json(run.config_path()) == nlohmann::json{{"seed", 8}});

  set_resume_mode(true);
  write_run_config(run, {{"seed", 9}});
  const nlohmann::json kept = read_json(run.config_path());
  write_bytes(run.config_path(), "not json");  // a damaged record is written anew
  write_run_config(run, {{"seed", 10}});
  const nlohmann::json rewritten = read_json(run.config_path());
  set_resume_mode(false);
  CHECK(kept == nlohmann::json{{"seed", 8}});
  CHECK(rewritten == nlohmann::json{{"seed", 10}});

  const RunDirectory search = run.sub_run("grid");
  set_active_shard(Shard{.index = 1, .count = 2});
  write_run_config(search, {{"shard", 1}});
  write_run_config(search, {{"shard", 0}});
  set_active_shard(std::nullopt);
  CHECK(read_json(search.config_path()) == nlohmann::json{{"shard", 1}});
  CHECK(directory_entries(search.root()) == std::vector<std::string>{"config.json"});
}

// ---------------------------------------------------------------------------------------------------------------
// Command line

namespace {

AppDescription toy_description() {
  return {.name = "toy",
          .summary = "a toy app for the tests",
          .presets = {"default", "fast", "paper"},
          .default_preset = "",
          .default_data_directory = "data/toy",
          .default_output_directory = "runs/toy",
          .default_seed = 7};
}

struct ToySettings {
  double eta = 0.1;
  double lambda = 0.5;
  std::size_t batch_size = 100;
  int epochs = 20;
  std::string loss = "ce";
  std::string note = "none";
};

// A command line as an app builds one: the common flags plus the app's own settings.
struct ToyCommandLine {
  CommandLine line{toy_description()};
  SettingsTable<ToySettings>::Apply apply =
      SettingsTable<ToySettings>()
          .number("--eta", &ToySettings::eta, "learning rate", Bounds::above(0))
          .number("--lambda", &ToySettings::lambda, "L2 weight", Bounds::at_least(0))
          .number("--batch-size", &ToySettings::batch_size, "batch size", Bounds::at_least(1))
          .number("--epochs", &ToySettings::epochs, "epochs", Bounds::between(1, 1000))
          .choice("--loss", &ToySettings::loss, "loss", {{"ce", "ce"}, {"bce", "bce"}})
          .text(
              "--note", &ToySettings::note, "free text for the run", "TEXT", [](const std::string& t) { return t; },
              [](const std::string& t) { return t; })
          .add_flags(line, [](const std::string&) { return std::optional(ToySettings{}); });

  ToySettings settings() const {
    ToySettings s;
    apply(s);
    return s;
  }

  void parse(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), "toy");
    std::vector<const char*> argv;
    for (const auto& argument : arguments) argv.push_back(argument.c_str());
    line.parse(static_cast<int>(argv.size()), argv.data());
  }
};

struct AppOutcome {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs `body` under run_app with "toy" and `arguments` as its command line, capturing stdout and stderr.
AppOutcome run_toy_app(std::vector<std::string> arguments, const AppMain& body) {
  arguments.insert(arguments.begin(), "toy");
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  CapturedStream out(stdout);
  CapturedStream err(stderr);
  const int code = run_app(static_cast<int>(arguments.size()), argv.data(), body);
  return {code, out.text(), err.text()};
}

AppOutcome run_toy_command_line(const std::vector<std::string>& arguments) {
  return run_toy_app(arguments, [](int argc, char** argv) {
    ToyCommandLine command_line;
    command_line.line.parse(argc, argv);
    return exit_code::success;
  });
}

}  // namespace

TEST_CASE("CommandLine parses good flags and records which were given", "[app_common][cli]") {
  ToyCommandLine command_line;
  command_line.parse({"--data",     "/data/cifar",
                      "--out",      "/tmp/out",
                      "--preset",   "fast",
                      "--seed",     "18446744073709551615",
                      "--threads",  "3",
                      "--eta",      "0.5",
                      "--lambda",   "-1",  // overridden below: only the value that wins is checked
                      "--eta=0.25", "--batch-size",
                      "+64",        "--loss",
                      "bce",        "--overwrite",
                      "--verbose",  "--lambda",
                      "0"});
  const CommonOptions& common = command_line.line.common();
  CHECK(common.data_directory == "/data/cifar");
  CHECK(common.output_directory == "/tmp/out");
  CHECK(common.preset == "fast");
  CHECK(common.seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(common.threads == 3);
  CHECK(common.verbosity == Verbosity::verbose);
  CHECK(common.command_line.front() == "toy");
  CHECK(common.command_line.size() == 24);

  CHECK(common.overwrite);
  const ToySettings settings = command_line.settings();
  CHECK(settings.eta == 0.25);  // the last of repeated flags wins
  CHECK(settings.batch_size == 64);
  CHECK(settings.lambda == 0.0);
  CHECK(settings.loss == "bce");
  // A preset's value stands unless its flag was given.
  CHECK(settings.epochs == 20);
  CHECK(settings.note == "none");
  CHECK(command_line.line.was_given("--seed"));
  CHECK(command_line.line.was_given("--eta"));
  CHECK_FALSE(command_line.line.was_given("--epochs"));
  CHECK(command_line.line.text("--eta") == "0.25");
  CHECK_FALSE(command_line.line.text("--epochs"));
  CHECK_THROWS_AS(command_line.line.was_given("--no-such-flag"), tapegrad::Error);
}

TEST_CASE("CommandLine falls back to the app's defaults", "[app_common][cli]") {
  ToyCommandLine command_line;
  command_line.parse({"--overwrite=false"});
  const CommonOptions& common = command_line.line.common();
  CHECK(common.data_directory == "data/toy");
  CHECK(common.output_directory == "runs/toy");
  CHECK(common.preset == "default");
  CHECK(common.seed == 7);
  CHECK(common.threads == hardware_thread_count());
  CHECK(common.verbosity == Verbosity::normal);
  CHECK(common.command_line == std::vector<std::string>{"toy", "--overwrite=false"});
  CHECK_FALSE(common.overwrite);  // a switch given =false is off

  ToyCommandLine quiet;
  quiet.parse({"--quiet", "--preset", "paper"});
  CHECK(quiet.line.common().verbosity == Verbosity::quiet);
  CHECK(quiet.line.common().preset == "paper");
}

TEST_CASE("CommandLine rejects a description without a valid default preset", "[app_common][cli]") {
  AppDescription no_presets = toy_description();
  no_presets.presets.clear();
  CHECK_THROWS_AS(CommandLine(no_presets), tapegrad::Error);
  AppDescription wrong_default = toy_description();
  wrong_default.default_preset = "huge";
  CHECK_THROWS_AS(CommandLine(wrong_default), tapegrad::Error);
  CommandLine line(toy_description());
  CHECK_THROWS_AS(line.add_option("eta", "no dashes", "NUMBER"), tapegrad::Error);
  CHECK_THROWS_AS(line.add_option("--seed", "taken by the common flags", "N"), tapegrad::Error);
}

TEST_CASE("Each bad flag exits with code 2 and a message naming the flag, the value and what is allowed",
          "[app_common][cli]") {
  struct BadCase {
    std::vector<std::string> arguments;
    std::vector<std::string> expected_in_message;
  };
  const std::vector<BadCase> cases = {
      {{"--eta", "-0.1"}, {"--eta", "-0.1", "> 0"}},
      {{"--eta=0"}, {"--eta", "0", "> 0"}},
      {{"--eta", "fast"}, {"--eta", "'fast'", "not a number"}},
      {{"--eta", "nan"}, {"--eta", "nan", "finite"}},
      {{"--eta", "1e999"}, {"--eta", "1e999", "out of range"}},
      {{"--lambda", "-1"}, {"--lambda", "-1", ">= 0"}},
      {{"--batch-size", "0"}, {"--batch-size", "0", ">= 1"}},
      {{"--batch-size", "-5"}, {"--batch-size", "-5", ">= 1"}},
      {{"--batch-size", "ten"}, {"--batch-size", "'ten'", "integer"}},
      {{"--epochs", "2.5"}, {"--epochs", "2.5", "integer"}},
      {{"--epochs", "1001"}, {"--epochs", "1001", "from 1 to 1000"}},
      {{"--threads", "0"}, {"--threads", "0", "from 1 to"}},
      {{"--threads", "99999999999"}, {"--threads", "99999999999", "from 1 to"}},
      {{"--seed", "abc"}, {"--seed", "'abc'"}},
      {{"--seed", "-1"}, {"--seed", "-1", ">= 0"}},
      {{"--loss", "mse"}, {"--loss", "'mse'", "ce, bce"}},
      {{"--preset", "huge"}, {"--preset", "'huge'", "default, fast, paper"}},
      {{"--etaa", "1"}, {"--etaa"}},
      {{"--eta"}, {"--eta"}},
      {{"--overwrite=maybe"}, {"--overwrite"}},
      {{"--verbose", "--quiet"}, {"--verbose", "--quiet"}},
      {{"stray"}, {"stray"}},
  };
  for (const BadCase& bad : cases) {
    INFO("arguments: " << bad.arguments.front() << (bad.arguments.size() > 1 ? " " + bad.arguments[1] : ""));
    const AppOutcome outcome = run_toy_command_line(bad.arguments);
    CHECK(outcome.exit_code == exit_code::bad_usage);
    CHECK_THAT(outcome.err, Catch::StartsWith("error: "));
    // --threads' hint says why its bound is what it is (threads.h); the others point at --help.
    CHECK_THAT(outcome.err, Catch::Contains(bad.arguments.front() == "--threads" ? "hint: give --threads from 1 to"
                                                                                  : "hint: run 'toy --help'"));
    for (const std::string& expected : bad.expected_in_message) CHECK_THAT(outcome.err, Catch::Contains(expected));
    CHECK(outcome.out.empty());
  }
}

TEST_CASE("--help and --version print to stdout and exit with code 0", "[app_common][cli]") {
  const AppOutcome help = run_toy_command_line({"--help"});
  CHECK(help.exit_code == exit_code::success);
  CHECK(help.err.empty());
  for (const char* expected :
       {"a toy app for the tests", "--data", "--out", "--preset", "--seed", "--threads", "--eta", "allowed: > 0",
        "--loss", "{ce,bce}", "default, fast, paper", "Exit codes", "130 interrupted"}) {
    CHECK_THAT(help.out, Catch::Contains(expected));
  }
  // --help wins over bad values elsewhere on the line.
  CHECK(run_toy_command_line({"--eta", "-1", "--help"}).exit_code == exit_code::success);

  const AppOutcome version = run_toy_command_line({"--version"});
  CHECK(version.exit_code == exit_code::success);
  CHECK_THAT(version.out, Catch::Contains("toy"));
  CHECK_THAT(version.out, Catch::Contains(tapegrad::train::build_record().tapegrad));
}

TEST_CASE("Bounds describe themselves and read_number keeps values inside them and their type",
          "[app_common][cli]") {
  CHECK(Bounds::any().describe() == "any number");
  CHECK(Bounds::above(0).describe() == "> 0");
  CHECK(Bounds::at_least(1).describe() == ">= 1");
  CHECK(Bounds::any().below(0.5).describe() == "< 0.5");
  CHECK(Bounds::between(0, 1).describe() == "from 0 to 1");
  CHECK(Bounds::above(0).below(1).describe() == "> 0 and < 1");
  CHECK(Bounds::above(0).contains(1e-300));
  CHECK_FALSE(Bounds::above(0).contains(0.0));
  CHECK_FALSE(Bounds::at_least(0).below(1).contains(1.0));
  CHECK_FALSE(Bounds::any().contains(std::nan("")));

  const auto refusal = [](const auto& read) {
    return std::holds_alternative<std::string>(read) ? std::get<std::string>(read) : std::string("(allowed)");
  };
  CHECK(std::get<double>(read_number<double>("1e-3", Bounds::above(0))) == 1e-3);
  CHECK(std::get<double>(read_number<double>("+0.5", Bounds::above(0))) == 0.5);
  CHECK(std::get<int>(read_number<int>("-4", Bounds::any())) == -4);
  CHECK(std::get<int>(read_number<int>("010", Bounds::any())) == 10);  // decimal, not octal
  CHECK(std::get<std::uint8_t>(read_number<std::uint8_t>("255", Bounds::any())) == 255);
  CHECK(std::get<std::uint64_t>(read_number<std::uint64_t>("18446744073709551615", Bounds::any())) ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK(refusal(read_number<std::uint8_t>("256", Bounds::any())) == "256 is out of range; allowed: <= 255");
  CHECK(refusal(read_number<unsigned>("-1", Bounds::at_least(1))) == "-1 is out of range; allowed: >= 1");
  CHECK(refusal(read_number<float>("1e39", Bounds::any())) ==
        "1e39 is out of range; allowed: <= 3.4028234663852886e+38");
  CHECK(refusal(read_number<int>("", Bounds::any())) == "'' is not an integer; allowed: any number");
  CHECK(refusal(read_number<int>("3x", Bounds::at_least(1))) == "'3x' is not an integer; allowed: >= 1");
  CHECK(refusal(read_number<unsigned>("-x", Bounds::any())) == "'-x' is not a non-negative integer; allowed: >= 0");
  CHECK(refusal(read_number<double>("inf", Bounds::above(0))) == "'inf' is not a finite number; allowed: > 0");
  CHECK(refusal(read_number<double>("0", Bounds::above(0))) == "0 is out of range; allowed: > 0");
  CHECK(number_check<double>(Bounds::above(0))("0.5").empty());
  CHECK(choice_check({"ce", "bce"})("mse") == "'mse' is not one of the choices; allowed: ce, bce");
}

// ---------------------------------------------------------------------------------------------------------------
// run_app and the exit codes

TEST_CASE("run_app maps every failure to its exit code and never lets an exception escape",
          "[app_common][errors]") {
  struct Mapping {
    std::function<void()> fail;
    int expected_code;
    std::string expected_message;
  };
  const std::vector<Mapping> mappings = {
      {[] { throw UsageError("--eta: -1 is out of range"); }, exit_code::bad_usage,
       "error: --eta: -1 is out of range"},
      {[] { throw DataError("data_batch_1.bin: too short"); }, exit_code::bad_data,
       "error: data_batch_1.bin: too short"},
      {[] { throw DataError("no labels", "run scripts/get_data.sh"); }, exit_code::bad_data,
       "hint: run scripts/get_data.sh"},
      {[] { tapegrad::throw_error("matmul: inner sizes differ"); }, exit_code::failure,
       "error: matmul: inner sizes differ"},
      {[] { throw std::runtime_error("plain failure"); }, exit_code::failure, "error: plain failure"},
      {[] { throw std::bad_alloc(); }, exit_code::failure, "hint: the run ran out of memory"},
      // The library's write failures (checkpoint, safetensors, charts) say to make room and resume.
      {[] { throw tapegrad::WriteError("checkpoint: cannot save x: No space left on device"); }, exit_code::failure,
       "hint: make room on the disk"},
      {[] { throw 42; }, exit_code::failure, "error: unknown failure"},
      // The library's run-directory errors are bad usage of --out, in the apps' words and with their hints.
      {[] { throw tapegrad::train::RunDirectoryUnusable("/runs/x", "cannot create a file in it: Read-only"); },
       exit_code::bad_usage,
       "error: cannot use the --out directory '/runs/x': cannot create a file in it: Read-only"},
      {[] { throw tapegrad::train::RunDirectoryUnusable("/runs/x", "it exists but is not a directory"); },
       exit_code::bad_usage, "hint: choose a directory you can write to with --out"},
      {[] { throw tapegrad::train::RunDirectoryLocked("/runs/x", "4242", false); }, exit_code::bad_usage,
       "error: the run directory '/runs/x' is in use by another process (PID 4242)"},
      {[] { throw tapegrad::train::RunDirectoryLocked("/runs/x", "4242", false); }, exit_code::bad_usage,
       "hint: wait for that process to end (or stop it), or give another --out directory"},
      {[] { throw tapegrad::train::RunDirectoryLocked("/runs/x", "", true); }, exit_code::bad_usage,
       "error: the run directory '/runs/x' is in use by shards of a search (--shard) that still run"},
      {[] { throw tapegrad::train::RunDirectoryLocked("/runs/x", "", true); }, exit_code::bad_usage,
       "hint: merge with --resume once every shard has ended"},
      // Settings that cannot fit are bad usage too, with the library's advice as the hint.
      {[] { throw tapegrad::train::ResourceLimitExceeded("--n-s 9 makes 9 update steps", "give a smaller --n-s"); },
       exit_code::bad_usage, "error: --n-s 9 makes 9 update steps\nhint: give a smaller --n-s\n"},
      // A run directory's own refusals (train::DirectoryRun): in the apps' words, with the flags that help.
      {[] { throw tapegrad::train::RunSettingsDiffer("/runs/x", {{"eta", "0.2", "0.1"}}); }, exit_code::bad_usage,
       "error: cannot resume the run in '/runs/x': it was made with other settings (eta 0.2 here but 0.1 in the "
       "directory)\nhint: resume with the flags of the original run, or give a new --out directory"},
      {[] { throw tapegrad::train::RunFileUnusable(tapegrad::train::RunFile::summary, "/runs/x/summary.json",
                                                   "the file is not valid JSON"); },
       exit_code::bad_usage,
       "error: cannot resume from '/runs/x/summary.json': the file is not valid JSON; start the run again without "
       "--resume"},
      {[] { throw tapegrad::train::RunFileUnusable(tapegrad::train::RunFile::metrics, "/runs/x/metrics.csv",
                                                   "'/runs/x/metrics.csv' line 2 holds 'x'"); },
       exit_code::failure,
       "error: cannot read back the finished run in '/runs/x': '/runs/x/metrics.csv' line 2 holds 'x'\nhint: "
       "restore metrics.csv, or train the run again: the same command with --overwrite instead of --resume"},
      {[] { throw tapegrad::train::RunFileUnusable(tapegrad::train::RunFile::checkpoint, "/runs/x/checkpoint.bin",
                                                   "checkpoint: too short"); },
       exit_code::failure, "error: checkpoint: too short\nhint: the run's checkpoint cannot be used"},
      {[] { throw tapegrad::train::RunDiverged("run: training diverged at step 3", "/runs/x", "", false); },
       exit_code::failure, "error: run: training diverged at step 3\nhint: lower"},
      {[] { throw tapegrad::train::RunInterrupted("run: interrupted at step 3 of 9", "/runs/x", 3, 9); },
       exit_code::interrupted, "error: run: interrupted at step 3 of 9\nhint: run the same command with --resume"},
  };
  for (const Mapping& mapping : mappings) {
    INFO("expected message: " << mapping.expected_message);
    const AppOutcome outcome = run_toy_app({}, [&](int, char**) -> int {
      mapping.fail();
      return exit_code::success;
    });
    CHECK(outcome.exit_code == mapping.expected_code);
    CHECK_THAT(outcome.err, Catch::Contains(mapping.expected_message) && Catch::Contains("\nhint: "));
  }
  CHECK(run_toy_app({}, [](int, char**) { return 0; }).exit_code == 0);
  CHECK(run_toy_app({}, [](int, char**) { return 5; }).exit_code == 5);
  const AppOutcome data = run_toy_app({}, [](int, char**) -> int { throw DataError("missing file"); });
  CHECK_THAT(data.err, Catch::Contains("hint: check --data"));

  CHECK(exit_code_for(UsageError("x")) == 2);
  CHECK(exit_code_for(DataError("x")) == 3);
  CHECK(exit_code_for(tapegrad::Error("x")) == 1);
  CHECK(exit_code_for(InfoRequested("help")) == 0);
  // The same words where an app calls the library itself (in_app_terms), e.g. run_experiment in a test.
  CHECK_THROWS_AS(in_app_terms([]() -> int { throw tapegrad::train::RunSettingsDiffer("/x", {}); }), UsageError);
  CHECK_THROWS_AS(in_app_terms([]() -> int { throw tapegrad::Error("other"); }), tapegrad::Error);
  CHECK(in_app_terms([] { return 7; }) == 7);
}

TEST_CASE("check_disk_for_checkpoints refuses the largest need noted, naming --out and its flags",
          "[app_common][bounds]") {
  const fs::path here = fs::temp_directory_path();
  ::setenv("TAPEGRAD_DISK_LIMIT", "1000", 1);
  note_checkpoint_bytes(Amount(999), {{"--hidden", 7}});
  CHECK_NOTHROW(check_disk_for_checkpoints(here));
  note_checkpoint_bytes(Amount(2048), {{"--hidden", 50}, {"--cycles", 3}});
  note_checkpoint_bytes(Amount(1024), {{"--hidden", 8}});  // smaller: the larger need stays
  try {
    check_disk_for_checkpoints(here);
    FAIL("not refused");
  } catch (const tapegrad::train::ResourceLimitExceeded& error) {
    CHECK(std::string(error.what()) == "the run's checkpoints need about 2.0 KiB on the disk of --out '" +
                                           here.string() + "' at once (--hidden 50 --cycles 3), and it has 1000 "
                                                           "bytes free");
    CHECK(error.advice() == "make room on that disk, give --out a directory on a disk with more room, or give a "
                            "smaller --hidden or --cycles");
  }
  ::unsetenv("TAPEGRAD_DISK_LIMIT");
}

TEST_CASE("as_data_error turns a reader's Error into a DataError and passes results through",
          "[app_common][errors]") {
  CHECK(as_data_error([] { return 17; }) == 17);
  try {
    as_data_error([]() -> int { tapegrad::throw_error("labels.idx: byte offset 8: label 12 is not below 10"); });
    FAIL("expected a DataError");
  } catch (const DataError& error) {
    CHECK(std::string(error.what()) == "labels.idx: byte offset 8: label 12 is not below 10");
    CHECK(error.exit_code() == exit_code::bad_data);
  }
  // A usage error raised while loading stays a usage error.
  CHECK_THROWS_AS(as_data_error([]() -> int { throw UsageError("--data: empty"); }), UsageError);
}

// ---------------------------------------------------------------------------------------------------------------
// Logging, timing, threads, the run record

TEST_CASE("configure_logging writes 'time, level, message' lines to stderr at the chosen level",
          "[app_common][logging]") {
  std::string text;
  {
    CapturedStream err(stderr);
    configure_logging(Verbosity::normal);
    spdlog::info("visible {}", 1);
    spdlog::debug("hidden at normal");
    configure_logging(Verbosity::quiet);
    spdlog::info("hidden when quiet");
    spdlog::warn("warning shown");
    configure_logging(Verbosity::verbose);
    spdlog::debug("detail shown");
    text = err.text();
  }
  configure_logging(Verbosity::normal);
  CHECK_THAT(text, Catch::Matches(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[info\] visible 1\n)"
                                  R"(\[[^\]]+\] \[warning\] warning shown\n)"
                                  R"(\[[^\]]+\] \[debug\] detail shown\n)"));
}

TEST_CASE("set_thread_count sets the product threads and rejects fewer than one", "[app_common][threads]") {
  CHECK(hardware_thread_count() >= 1);
  const std::string message = error_message([] { set_thread_count(0); });
  CHECK_THAT(message, Catch::Contains("0"));
  set_thread_count(2);
  CHECK(tapegrad::product_threads() == 2);
  CHECK(Eigen::nbThreads() == 1);  // the kernels under the pool's split stay single-threaded
  set_thread_count(1);
  CHECK(tapegrad::product_threads() == 1);
}

TEST_CASE("CommandLine bounds --threads by the machine: the bound is taken, above it exit 2 naming it, with a hint",
          "[app_common][threads][cli]") {
  CHECK(max_thread_count() == kThreadsPerHardwareThread * hardware_thread_count());
  const std::string bound = std::to_string(max_thread_count());
  ToyCommandLine at_bound;
  at_bound.parse({"--threads", bound});
  CHECK(at_bound.line.common().threads == max_thread_count());

  for (const std::string& over : {std::to_string(max_thread_count() + 1), std::string("1000000")}) {
    const AppOutcome outcome = run_toy_command_line({"--threads", over});
    INFO(outcome.err);
    CHECK(outcome.exit_code == exit_code::bad_usage);
    CHECK_THAT(outcome.err, Catch::Contains("error: --threads: " + over + " is out of range; allowed: from 1 to " +
                                            bound));
    CHECK_THAT(outcome.err, Catch::Contains("hint: give --threads from 1 to " + bound) &&
                                Catch::Contains(std::to_string(kThreadsPerHardwareThread) + " per hardware thread"));
  }
  const AppOutcome help = run_toy_command_line({"--help"});
  CHECK_THAT(help.out, Catch::Contains("(allowed: from 1 to " + bound + ")"));
}

TEST_CASE("The run record holds the common settings, the build and the time", "[app_common][run_info]") {
  CommonOptions options;
  options.data_directory = "data/cifar";
  options.output_directory = "runs/x";
  options.preset = "fast";
  options.seed = 123456789012345ULL;
  options.threads = 2;
  options.verbosity = Verbosity::quiet;
  options.command_line = {"toy", "--preset", "fast"};

  const nlohmann::json json = options;
  CHECK(json["seed"] == 123456789012345ULL);
  CHECK(json["threads"] == 2);
  CHECK(json["verbosity"] == "quiet");
  CHECK(json["data"] == "data/cifar");
  CHECK(json["command_line"] == nlohmann::json{"toy", "--preset", "fast"});

  const nlohmann::json record = run_record_json(options);
  CHECK(record["common"] == json);
  CHECK(record["build"]["tapegrad"] == tapegrad::train::build_record().tapegrad);
  CHECK(record["build"]["compiler"] == tapegrad::train::build_record().compiler);
  CHECK(record["build"]["eigen"] == std::to_string(EIGEN_WORLD_VERSION) + "." +
                                        std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                        std::to_string(EIGEN_MINOR_VERSION));
  CHECK(record["build"]["gemm"] == tapegrad::gemm_backend());  // the rest of the library's record: test_resources
  for (const char* library : {"spdlog", "fmt", "nlohmann_json", "cli11"}) {
    CHECK_THAT(record["build"][library].get<std::string>(), Catch::Matches(R"(\d+\.\d+\.\d+)"));
  }
  CHECK(record["runtime"]["hardware_threads"] == hardware_thread_count());
  CHECK_THAT(record["written_at"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));

  CHECK(utc_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(86400 * 365 + 3725))) ==
        "1971-01-01T01:02:05Z");
}

TEST_CASE("resumed_arguments finds a preset's run in OUT/<preset>, in OUT alone, and refuses the older flat layout",
          "[app_common][cli][resume]") {
  TempDir temp("resume-layout");
  const fs::path out = temp.path() / "out";
  auto started = [&](const fs::path& directory, const std::string& preset) {
    fs::create_directories(directory);
    write_bytes(directory / "invocation.json",
                R"({"arguments": ["--preset", ")" + preset + R"(", "--eta", "0.5", "--out", "elsewhere"],
                    "preset": ")" + preset + "\"}");
  };
  const std::vector<std::string> expected = {"--preset", "setting1", "--eta", "0.5", "--threads", "2", "--out",
                                             out.string()};
  started(out / "setting1", "setting1");
  // Both the run's own directory and OUT, which holds that one run, continue it with --out OUT.
  CHECK(tapegrad::apps::resumed_arguments(out / "setting1", {"--threads", "2"}) == expected);
  CHECK(tapegrad::apps::resumed_arguments(out, {"--threads", "2"}) == expected);
  CHECK(tapegrad::apps::resumed_arguments(out / "setting1" / "", {"--threads", "2"}) == expected);

  started(out / "setting3", "setting3");
  const std::string several = error_message([&] { tapegrad::apps::resumed_arguments(out, {}); });
  CHECK_THAT(several, Catch::Contains("several presets") && Catch::Contains("setting1") &&
                          Catch::Contains("setting3"));

  // "all" keeps its invocation.json in OUT itself.
  const fs::path all = temp.path() / "all";
  started(all, "all");
  CHECK(tapegrad::apps::resumed_arguments(all, {}).back() == all.string());

  // Two apps once wrote OUT/invocation.json beside OUT/<preset>/: still continued with --out OUT.
  const fs::path old_nested = temp.path() / "old-nested";
  started(old_nested, "one-cycle");
  fs::create_directories(old_nested / "one-cycle");
  CHECK(tapegrad::apps::resumed_arguments(old_nested, {}).back() == old_nested.string());

  // The others kept one preset's files in OUT itself: refused, saying why and what to do.
  const fs::path flat = temp.path() / "flat";
  started(flat, "setting2");
  const std::string refused = error_message([&] { tapegrad::apps::resumed_arguments(flat, {}); });
  CHECK_THAT(refused, Catch::Contains("older version") && Catch::Contains("OUT/setting2/"));
}

TEST_CASE("SettingsTable: one declaration gives the flag, --help with each preset's value, the override, "
          "config.json and the bounds check",
          "[app_common][cli]") {
  struct Inner {
    int trials = 8;
  };
  struct Toy {
    std::string preset = "default";
    double eta = 0.01;
    int epochs = 40;
    bool double_precision = false;
    std::vector<int> sizes = {50, 50};
    Inner inner;
  };
  const auto table =
      SettingsTable<Toy>()
          .number("--eta", &Toy::eta, "learning rate", Bounds::above(0))
          .number("--epochs", &Toy::epochs, "epochs", Bounds::at_least(1))
          .choice("--dtype", &Toy::double_precision, "scalar type", {{"float", false}, {"double", true}})
          .text(
              "--sizes", &Toy::sizes, "layer sizes", "SIZES",
              [](const std::string& text) { return std::vector<int>{std::stoi(text)}; },
              [](const std::vector<int>& sizes) { return std::to_string(sizes.size()) + " layers"; })
          .number("--trials", nested(&Toy::inner, &Inner::trials), "trials", Bounds::at_least(1))
          .record("preset", &Toy::preset)
          .computed("steps", [](const Toy& toy) { return toy.epochs * 10; });
  CommandLine line(toy_description());
  const auto apply = table.add_flags(line, [](const std::string& preset) -> std::optional<Toy> {
    if (preset == "paper") return std::nullopt;  // a preset without these settings
    Toy toy;
    toy.preset = preset;
    if (preset == "fast") toy.eta = 0.1;
    return toy;
  });
  const std::string help = line.help();
  INFO(help);
  CHECK_THAT(help, Catch::Contains("learning rate (allowed: > 0) (default: 0.01; fast: 0.1)"));
  CHECK_THAT(help, Catch::Contains("epochs (allowed: >= 1) (default: 40)"));
  CHECK_THAT(help, Catch::Contains("scalar type (default: float)"));
  CHECK_THAT(help, Catch::Contains("layer sizes (default: 2 layers)"));
  CHECK(help.find("paper:") == std::string::npos);

  const char* argv[] = {"toy", "--eta", "0.5", "--dtype", "double", "--sizes", "7", "--trials", "3"};
  line.parse(9, argv);
  Toy toy;
  apply(toy);
  CHECK(toy.eta == 0.5);
  CHECK(toy.epochs == 40);
  CHECK(toy.double_precision);
  CHECK(toy.sizes == std::vector<int>{7});
  CHECK(toy.inner.trials == 3);

  // config.json: every setting under its flag's name, a choice by its name, and what is only recorded.
  const nlohmann::json json = table.to_json(toy);
  CHECK(json == nlohmann::json{{"eta", 0.5},         {"epochs", 40},        {"dtype", "double"}, {"sizes", {7}},
                               {"trials", 3},        {"preset", "default"}, {"steps", 400}});

  // The same bounds hold for settings that did not come from a flag (a preset's own values).
  CHECK_NOTHROW(table.validate(toy));
  toy.inner.trials = 0;
  CHECK_THAT(error_message([&] { table.validate(toy); }),
             Catch::Contains("--trials: 0 is out of range; allowed: >= 1"));
  toy.inner.trials = 1;
  toy.eta = 0;
  CHECK_THROWS_AS(table.validate(toy), tapegrad::apps::UsageError);
}
