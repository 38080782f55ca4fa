// Reliability of the apps as a user meets it: Ctrl-C and SIGTERM save and --resume continues to the very same
// bytes, the same seed gives the same files, an unusable or full output directory is reported with its path, and
// every bad input in README.md's table gets the exit code and message the table promises.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad::testing;
namespace fs = std::filesystem;

namespace {



std::string quoted(const fs::path& path) {
  std::string text = "'";
  text += path.string();
  text += '\'';
  return text;
}

// A cifar_softmax run long enough to be interrupted: 20,000 steps of 10 examples on 1,000 generated images, one
// evaluation per epoch of 100 steps (so that a signal lands as often inside an epoch as at its end).
std::string long_cifar_run(const fs::path& data, const fs::path& out) {
  return app_path("cifar_softmax") + " --data " + quoted(data) + " --out " + quoted(out) +
         " --preset setting2 --batch-size 10 --epochs 200 --threads 1 --quiet";
}

// Waits until `file` holds at least `lines` lines (or the program ends).
void wait_for_lines(BackgroundCommand& program, const fs::path& file, int lines) {
  for (int i = 0; i < 60000 && program.running(); ++i) {
    if (fs::exists(file) && count_lines(file) >= lines) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void check_same_bytes(const fs::path& expected, const fs::path& actual) {
  INFO(expected.string() << " vs " << actual.string());
  REQUIRE(fs::exists(actual));
  CHECK(read_bytes(expected) == read_bytes(actual));
}

}  // namespace

TEST_CASE("apps: SIGINT or SIGTERM saves a checkpoint, and --resume ends bit-identical to an uninterrupted run",
          "[apps][reliability][resume]") {
  TempDir dir("resume");
  write_cifar_directory(dir.path() / "cifar", 1000);
  const fs::path reference = dir.path() / "reference";
  const auto whole = run_command(long_cifar_run(dir.path() / "cifar", reference));
  INFO(whole.output);
  REQUIRE(whole.exit_code == 0);

  for (int signal_number : {SIGINT, SIGTERM}) {
    INFO("signal " << signal_number);
    const fs::path out = dir.path() / ("interrupted" + std::to_string(signal_number));
    BackgroundCommand program(long_cifar_run(dir.path() / "cifar", out), dir.path() / "log.txt");
    wait_for_lines(program, out / "metrics.csv", 12);
    program.send(signal_number);
    const int code = program.wait();
    const std::string log = read_bytes(dir.path() / "log.txt");
    INFO(log);
    REQUIRE(code == 130);  // it was still training: the run is long
    CHECK_THAT(log, Catch::Contains("interrupted at step") && Catch::Contains("--resume"));
    const auto interrupted = read_json(out / "summary.json");
    CHECK(interrupted["status"] == "interrupted");
    const long stopped_at = interrupted["steps"].get<long>();
    CHECK(stopped_at > 0);
    CHECK(stopped_at < 20000);
    CHECK(fs::exists(out / "checkpoint.bin"));
    CHECK_FALSE(fs::exists(out / "checkpoint.bin.tmp"));
    UNSCOPED_INFO("stopped at step " << stopped_at << " (epoch " << stopped_at / 100.0 << ")");

    const auto resumed = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    const auto summary = read_json(out / "summary.json");
    CHECK(summary["status"] == "completed");
    CHECK(summary["resumed"] == true);
    CHECK(summary["steps"] == 20000);
    check_same_bytes(reference / "metrics.csv", out / "metrics.csv");
    check_same_bytes(reference / "checkpoint.bin", out / "checkpoint.bin");
    CHECK(summary["test_accuracy"] == read_json(reference / "summary.json")["test_accuracy"]);
  }
}

TEST_CASE("apps: a run killed outright resumes from its last evaluation checkpoint, a finished run is kept",
          "[apps][reliability][resume]") {
  TempDir dir("killed");
  write_cifar_directory(dir.path() / "cifar", 1000);
  const fs::path reference = dir.path() / "reference";
  REQUIRE(run_command(long_cifar_run(dir.path() / "cifar", reference)).exit_code == 0);

  const fs::path out = dir.path() / "killed";
  BackgroundCommand program(long_cifar_run(dir.path() / "cifar", out), dir.path() / "log.txt");
  wait_for_lines(program, out / "metrics.csv", 20);
  program.send(SIGKILL);
  REQUIRE(program.wait() == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(out / "summary.json"));  // nothing claims the run finished

  const auto resumed = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  check_same_bytes(reference / "metrics.csv", out / "metrics.csv");
  check_same_bytes(reference / "checkpoint.bin", out / "checkpoint.bin");

  // Resuming a finished run trains nothing and changes nothing.
  const std::string metrics = read_bytes(out / "metrics.csv");
  const auto again = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("already finished"));
  CHECK(read_bytes(out / "metrics.csv") == metrics);
}

TEST_CASE("apps: --resume continues a sweep, keeping its finished trials", "[apps][reliability][resume]") {
  TempDir dir("resume-sweep");
  write_mnist(dir.path() / "mnist", 600, 200, 5);
  const std::string command = app_path("mnist_logistic") + " --data " + quoted(dir.path() / "mnist") +
                              " --dataset mnist --preset lambda-sweep --epochs 15 --threads 1 --quiet --out ";
  const fs::path reference = dir.path() / "reference";
  const auto whole = run_command(command + quoted(reference));
  INFO(whole.output);
  REQUIRE(whole.exit_code == 0);

  // Interrupted once some trials have finished and others are under way.
  const fs::path out = dir.path() / "interrupted";
  BackgroundCommand program(command + quoted(out), dir.path() / "log.txt");
  bool some_finished = false;
  for (int i = 0; i < 60000 && program.running() && !some_finished; ++i) {
    if (fs::exists(out)) {
      for (const auto& entry : fs::recursive_directory_iterator(out)) {
        some_finished = some_finished || entry.path().filename() == "summary.json";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  program.send(SIGINT);
  const int code = program.wait();
  INFO(read_bytes(dir.path() / "log.txt"));
  CHECK((code == 130 || code == 0));  // 0 only if the sweep ended before the signal arrived
  const auto resumed = run_command(app_path("mnist_logistic") + " --resume " + quoted(out) + " --quiet");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  int compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(reference)) {
    if (entry.path().filename() != "metrics.csv" && entry.path().filename() != "checkpoint.bin") continue;
    check_same_bytes(entry.path(), out / fs::relative(entry.path(), reference));
    ++compared;
  }
  CHECK(compared >= 12);  // six trials, each with both files
}

TEST_CASE("apps: the same seed on one thread gives byte-identical metrics and checkpoints", "[apps][reliability]") {
  TempDir dir("determinism");
  write_cifar_directory(dir.path() / "cifar", 300);
  write_mnist(dir.path() / "mnist", 400, 100, 3);
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"cifar_softmax", "--data " + quoted(dir.path() / "cifar") + " --preset augment --epochs 3"},
      {"two_layer_cyclic", "--data " + quoted(dir.path() / "cifar") + " --preset one-cycle --n-s 30"},
      {"mnist_logistic", "--data " + quoted(dir.path() / "mnist") + " --dataset mnist --preset binary --epochs 8"},
  };
  for (const auto& [app, args] : runs) {
    INFO(app << " " << args);
    for (const char* name : {"first", "second"}) {
      const auto run = run_command(app_path(app) + " " + args + " --seed 7 --threads 1 --quiet --out " +
                                   quoted(dir.path() / app / name));
      INFO(run.output);
      REQUIRE(run.exit_code == 0);
    }
    int compared = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir.path() / app / "first")) {
      const auto file = entry.path().filename();
      if (file != "metrics.csv" && file != "checkpoint.bin" && file != "best.bin") continue;
      check_same_bytes(entry.path(), dir.path() / app / "second" / fs::relative(entry.path(), dir.path() / app / "first"));
      ++compared;
    }
    CHECK(compared >= 2);
    // summary.json says how the numbers were made.
    for (const auto& entry : fs::recursive_directory_iterator(dir.path() / app / "first")) {
      if (entry.path().filename() != "summary.json") continue;
      const auto summary = read_json(entry.path());
      if (!summary.contains("steps")) continue;  // a preset's overview, not a training run
      CHECK(summary["seed"] == 7);
      CHECK(summary["threads"] == 1);
      CHECK(summary["build"]["compiler"].get<std::string>().size() > 0);
      CHECK(summary["build"].contains("eigen"));
      CHECK(summary["build"].contains("tapegrad"));
    }
  }
}

TEST_CASE("apps: a full disk is reported at the first failed write with the file's path, keeping what was written",
          "[apps][reliability][output]") {
  TempDir dir("full-disk");
  write_cifar_directory(dir.path() / "cifar", 300);
  const fs::path out = dir.path() / "out";
  // ulimit -f stands in for a full disk: writes past 64 KiB fail (the checkpoint is 123 KB).
  const auto run = run_command("bash -c \"ulimit -f 64; exec " + app_path("cifar_softmax") + " --data " +
                               quoted(dir.path() / "cifar") + " --out " + quoted(out) +
                               " --preset setting2 --epochs 2 --threads 1 --quiet\"");
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("checkpoint.bin") && Catch::Contains("File too large"));
  CHECK(count_lines(out / "metrics.csv") == 2);  // the header and the evaluation at step 0, complete
  CHECK_FALSE(fs::exists(out / "checkpoint.bin"));
  CHECK_FALSE(fs::exists(out / "checkpoint.bin.tmp"));
  CHECK_FALSE(fs::exists(out / "summary.json"));  // no file claims a finished run
}

// ---- The bad-input table of README.md: every row is one of these cases, with its exit code and message. ----

namespace {

struct BadInput {
  std::string id;
  int exit_code;
  std::string message;  // a part of what the app prints, as README.md quotes it
  // Prepares `dir` (which holds generated CIFAR-10 in cifar/ and MNIST in mnist/) and returns the command.
  std::function<std::string(const fs::path& dir)> command;
};

std::string cifar_command(const fs::path& dir, const std::string& args) {
  return app_path("cifar_softmax") + " --data " + quoted(dir / "cifar") + " --out " + quoted(dir / "out") +
         " --threads 1 --quiet --epochs 2 " + args;
}

std::string mnist_command(const fs::path& dir, const std::string& args) {
  return app_path("mnist_logistic") + " --data " + quoted(dir / "mnist") + " --out " + quoted(dir / "out") +
         " --dataset mnist --threads 1 --quiet --epochs 2 " + args;
}

void corrupt_byte(const fs::path& file, std::size_t offset, char value) {
  std::string bytes = read_bytes(file);
  bytes.at(offset) = value;
  write_bytes(file, bytes);
}

const std::vector<BadInput>& bad_inputs() {
  static const std::vector<BadInput> cases = {
      {"missing-directory", 3, "the directory does not exist", [](const fs::path& dir) {
         return app_path("cifar_softmax") + " --data " + quoted(dir / "nowhere") + " --out " + quoted(dir / "out");
       }},
      {"missing-file", 3, "data_batch_2.bin", [](const fs::path& dir) {
         fs::remove(dir / "cifar" / "data_batch_2.bin");
         return cifar_command(dir, "--preset setting2");
       }},
      {"truncated-file", 3, "data_batch_1.bin", [](const fs::path& dir) {
         fs::resize_file(dir / "cifar" / "data_batch_1.bin", 3073 * 40 + 1000);
         return cifar_command(dir, "--preset setting2");
       }},
      {"label-out-of-range", 3, "label 12", [](const fs::path& dir) {
         corrupt_byte(dir / "cifar" / "data_batch_1.bin", 3073 * 7, 12);
         return cifar_command(dir, "--preset setting2");
       }},
      {"wrong-magic", 3, "magic", [](const fs::path& dir) {
         corrupt_byte(dir / "mnist" / "train-images-idx3-ubyte", 3, 4);
         return mnist_command(dir, "--preset binary");
       }},
      {"gzip-corruption", 3, "train-images-idx3-ubyte.gz", [](const fs::path& dir) {
         const fs::path images = dir / "mnist" / "train-images-idx3-ubyte";
         REQUIRE(run_command("gzip " + quoted(images)).exit_code == 0);
         const fs::path gz = images.string() + ".gz";
         const auto size = fs::file_size(gz);
         for (std::size_t i = size / 3; i < size / 3 + 64; ++i) corrupt_byte(gz, i, 0x55);
         return mnist_command(dir, "--preset binary");
       }},
      {"gzip-truncated", 3, "train-labels-idx1-ubyte.gz", [](const fs::path& dir) {
         const fs::path labels = dir / "mnist" / "train-labels-idx1-ubyte";
         REQUIRE(run_command("gzip " + quoted(labels)).exit_code == 0);
         const fs::path gz = labels.string() + ".gz";
         fs::resize_file(gz, fs::file_size(gz) / 2);
         return mnist_command(dir, "--preset binary");
       }},
      {"flag-out-of-range", 2, "--eta: -0.5 is out of range", [](const fs::path& dir) {
         return cifar_command(dir, "--eta -0.5");
       }},
      {"flag-not-a-number", 2, "--batch-size: 'ten' is not", [](const fs::path& dir) {
         return cifar_command(dir, "--batch-size ten");
       }},
      {"unknown-flag", 2, "--etaa", [](const fs::path& dir) { return cifar_command(dir, "--etaa 0.1"); }},
      {"unknown-preset", 2, "unknown preset 'setting9'", [](const fs::path& dir) {
         return cifar_command(dir, "--preset setting9");
       }},
      {"unwritable-output", 2, "cannot use the --out directory", [](const fs::path& dir) {
         write_bytes(dir / "a-file", "not a directory");
         return app_path("cifar_softmax") + " --data " + quoted(dir / "cifar") + " --out " +
                quoted(dir / "a-file" / "run");
       }},
      {"nan-during-training", 1, "diverged at step", [](const fs::path& dir) {
         return cifar_command(dir, "--preset setting1 --eta 1e38");
       }},
      {"resume-without-run", 2, "holds no run to continue", [](const fs::path& dir) {
         fs::create_directories(dir / "empty");
         return app_path("cifar_softmax") + " --resume " + quoted(dir / "empty");
       }},
      {"resume-with-other-settings", 2, "cannot be given with it", [](const fs::path& dir) {
         REQUIRE(run_command(cifar_command(dir, "--preset setting2")).exit_code == 0);
         return app_path("cifar_softmax") + " --resume " + quoted(dir / "out") + " --eta 0.5";
       }},
      {"damaged-checkpoint", 1, "checkpoint.bin", [](const fs::path& dir) {
         REQUIRE(run_command(cifar_command(dir, "--preset setting2")).exit_code == 0);
         fs::remove(dir / "out" / "summary.json");  // as if the run had been killed
         corrupt_byte(dir / "out" / "checkpoint.bin", 200, 0x7f);
         return app_path("cifar_softmax") + " --resume " + quoted(dir / "out") + " --quiet";
       }},
      {"out-holds-a-run", 2, "already holds a run", [](const fs::path& dir) {
         REQUIRE(run_command(cifar_command(dir, "--preset setting2")).exit_code == 0);
         return cifar_command(dir, "--preset setting2 --eta 0.01");
       }},
      {"threads-refused", 1, "cannot start", [](const fs::path& dir) {
         return "ulimit -v 3000000; " + app_path("cifar_softmax") + " --data " + quoted(dir / "cifar") + " --out " +
                quoted(dir / "out") + " --quiet --epochs 1 --threads 1000";
       }},
  };
  return cases;
}

struct ReadmeRow {
  int exit_code = -1;
  std::string message;
};

// The rows of README.md's table between <!-- bad-input-table --> and <!-- /bad-input-table -->:
// | `id` | what was wrong | exit code | `message part` | ...
std::map<std::string, ReadmeRow> readme_bad_input_rows() {
  const std::string readme = read_bytes(fs::path(TAPEGRAD_SOURCE_DIR) / "README.md");
  const auto begin = readme.find("<!-- bad-input-table -->");
  const auto end = readme.find("<!-- /bad-input-table -->");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  std::map<std::string, ReadmeRow> rows;
  std::istringstream table(readme.substr(begin, end - begin));
  // The text between the first pair of backticks in `cell`, or empty.
  auto quoted_part = [](const std::string& cell) {
    const auto open = cell.find('`');
    const auto close = open == std::string::npos ? open : cell.find('`', open + 1);
    return close == std::string::npos ? std::string() : cell.substr(open + 1, close - open - 1);
  };
  for (std::string line; std::getline(table, line);) {
    std::vector<std::string> cells;
    std::istringstream parts(line);
    for (std::string cell; std::getline(parts, cell, '|');) cells.push_back(cell);
    // "| `id` | what | exit | `message` |" splits into "", id, what, exit, message.
    if (cells.size() < 5 || quoted_part(cells[1]).empty()) continue;
    rows[quoted_part(cells[1])] = {std::atoi(cells[3].c_str()), quoted_part(cells[4])};
  }
  return rows;
}

}  // namespace

TEST_CASE("apps: every bad input in README.md's table gets the exit code and the message it shows",
          "[apps][reliability][errors]") {
  const auto readme = readme_bad_input_rows();
  CHECK(readme.size() == bad_inputs().size());
  for (const BadInput& bad : bad_inputs()) {
    DYNAMIC_SECTION(bad.id) {
      const auto row = readme.find(bad.id);
      INFO("README.md's bad-input table needs a row for " << bad.id);
      REQUIRE(row != readme.end());
      CHECK(row->second.exit_code == bad.exit_code);
      CHECK(row->second.message == bad.message);

      TempDir dir("bad-input");
      write_cifar_directory(dir.path() / "cifar", 100);
      write_mnist(dir.path() / "mnist", 300, 100, 1);
      const auto run = run_command(bad.command(dir.path()));
      INFO(run.output);
      CHECK(run.exit_code == bad.exit_code);
      CHECK_THAT(run.output, Catch::Contains(bad.message) && Catch::Contains("error: "));
      CHECK(count_lines(dir.path() / "out" / "metrics.csv") <= 4);  // nothing ran on past the problem
    }
  }
}

TEST_CASE("apps: a second process on a run directory exits 2 at once naming the holder, and a finished run is "
          "not overwritten without --overwrite",
          "[apps][reliability][lock]") {
  TempDir dir("lock");
  write_cifar_directory(dir.path() / "cifar", 1000);
  const fs::path out = dir.path() / "out";
  BackgroundCommand first(long_cifar_run(dir.path() / "cifar", out), dir.path() / "first.txt");
  wait_for_lines(first, out / "metrics.csv", 3);
  REQUIRE(first.running());
  const auto second = run_command(long_cifar_run(dir.path() / "cifar", out));
  INFO(second.output);
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.output, Catch::Contains("is in use by another process (PID") && Catch::Contains("hint:"));
  const auto resumed = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet");
  CHECK(resumed.exit_code == 2);
  first.send(SIGKILL);  // a killed holder does not block: the kernel drops its flock
  first.wait();
  const auto again = run_command(long_cifar_run(dir.path() / "cifar", out));
  INFO(again.output);
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.output, Catch::Contains("already holds a run") && Catch::Contains("--overwrite"));
}

TEST_CASE("apps: threads that cannot be created end the run at once with exit 1 and a hint",
          "[apps][reliability][threads]") {
  TempDir dir("threads");
  write_cifar_directory(dir.path() / "cifar", 200);
  const auto run = run_command("ulimit -v 3000000; timeout 60 " + app_path("cifar_softmax") + " --data " +
                               quoted(dir.path() / "cifar") + " --out " + quoted(dir.path() / "out") +
                               " --epochs 1 --threads 1000 --quiet");
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("cannot start") && Catch::Contains("hint:") && Catch::Contains("--threads"));
  CHECK_FALSE(fs::exists(dir.path() / "out" / "invocation.json"));
}
