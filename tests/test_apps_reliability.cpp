// Reliability of the apps as a user meets it: Ctrl-C and SIGTERM save and --resume continues to the very same
// bytes, the same seed gives the same files, an unusable or full output directory is reported with its path, and
// every bad input in README.md's table gets the exit code and message the table promises.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/hints.h"
#include "apps/common/threads.h"
#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad::testing;
namespace fs = std::filesystem;

namespace {

// Thread creation that fails for real, part-way, within --threads' bound (4 per hardware thread, so at least 4
// everywhere): each thread's stack is 1 GiB (glibc sizes them from ulimit -s) and the address space 2.9 GB, so the
// app itself and at most two product threads fit, and the third is refused.
constexpr const char* kThreadsCannotStart = "ulimit -s 1048576; ulimit -v 3000000; ";
constexpr const char* kThreadsThatCannotStart = " --threads 4";

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
    wait_for_lines(program, out / "setting2" / "metrics.csv", 12);
    program.send(signal_number);
    const int code = program.wait();
    const std::string log = read_bytes(dir.path() / "log.txt");
    INFO(log);
    REQUIRE(code == 130);  // it was still training: the run is long
    CHECK_THAT(log, Catch::Contains("interrupted at step") && Catch::Contains("--resume"));
    const auto interrupted = read_json(out / "setting2" / "summary.json");
    CHECK(interrupted["status"] == "interrupted");
    const long stopped_at = interrupted["steps"].get<long>();
    CHECK(stopped_at > 0);
    CHECK(stopped_at < 20000);
    CHECK(fs::exists(out / "setting2" / "checkpoint.bin"));
    CHECK_FALSE(fs::exists(out / "setting2" / "checkpoint.bin.tmp"));
    UNSCOPED_INFO("stopped at step " << stopped_at << " (epoch " << stopped_at / 100.0 << ")");

    const auto resumed = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    const auto summary = read_json(out / "setting2" / "summary.json");
    CHECK(summary["status"] == "completed");
    CHECK(summary["resumed"] == true);
    CHECK(summary["steps"] == 20000);
    check_same_bytes(reference / "setting2" / "metrics.csv", out / "setting2" / "metrics.csv");
    check_same_bytes(reference / "setting2" / "checkpoint.bin", out / "setting2" / "checkpoint.bin");
    CHECK(summary["test_accuracy"] == read_json(reference / "setting2" / "summary.json")["test_accuracy"]);
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
  wait_for_lines(program, out / "setting2" / "metrics.csv", 20);
  program.send(SIGKILL);
  REQUIRE(program.wait() == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(out / "setting2" / "summary.json"));  // nothing claims the run finished
  // A damaged metrics.csv is no loss: the resumed run rewrites it from the checkpoint's record of the evaluations.
  std::string damaged = read_bytes(out / "setting2" / "metrics.csv");
  damaged.at(damaged.find('\n', damaged.find('\n') + 1) + 1) = 'x';
  write_bytes(out / "setting2" / "metrics.csv", damaged);

  const auto resumed = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  check_same_bytes(reference / "setting2" / "metrics.csv", out / "setting2" / "metrics.csv");
  check_same_bytes(reference / "setting2" / "checkpoint.bin", out / "setting2" / "checkpoint.bin");

  // Resuming a finished run trains nothing and changes nothing.
  const std::string metrics = read_bytes(out / "setting2" / "metrics.csv");
  const auto again = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("already finished"));
  CHECK(read_bytes(out / "setting2" / "metrics.csv") == metrics);

  // A finished run is read back from summary.json and metrics.csv: its checkpoint may be gone (to save disk).
  fs::remove(out / "setting2" / "checkpoint.bin");
  const auto without_checkpoint =
      run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1");
  INFO(without_checkpoint.output);
  CHECK(without_checkpoint.exit_code == 0);
  CHECK_THAT(without_checkpoint.output, Catch::Contains("already finished"));
  CHECK_FALSE(fs::exists(out / "setting2" / "checkpoint.bin"));
  // A damaged metrics.csv of a finished run is refused, naming the file and line.
  write_bytes(out / "setting2" / "metrics.csv", metrics.substr(0, metrics.find('\n') + 1) + "1,x\n");
  const auto damaged_finished = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1");
  INFO(damaged_finished.output);
  CHECK(damaged_finished.exit_code == 1);
  CHECK_THAT(damaged_finished.output, Catch::Contains("metrics.csv' line 2") && Catch::Contains("--overwrite"));
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
  CHECK(count_lines(out / "setting2" / "metrics.csv") == 2);  // the header and the evaluation at step 0, complete
  CHECK_FALSE(fs::exists(out / "setting2" / "checkpoint.bin"));
  CHECK_FALSE(fs::exists(out / "setting2" / "checkpoint.bin.tmp"));
  CHECK_FALSE(fs::exists(out / "setting2" / "summary.json"));  // no file claims a finished run
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
         fs::remove(dir / "out" / "setting2" / "summary.json");  // as if the run had been killed
         corrupt_byte(dir / "out" / "setting2" / "checkpoint.bin", 200, 0x7f);
         return app_path("cifar_softmax") + " --resume " + quoted(dir / "out") + " --quiet";
       }},
      {"out-holds-a-run", 2, "already holds a run", [](const fs::path& dir) {
         REQUIRE(run_command(cifar_command(dir, "--preset setting2")).exit_code == 0);
         return cifar_command(dir, "--preset setting2 --eta 0.01");
       }},
      {"inconsistent-image-shapes", 3, "has 812 values per image (1 x 28 x 29) but", [](const fs::path& dir) {
         // A valid IDX images file alone, but of 28 x 29 images while the training images are 28 x 28.
         write_bytes(dir / "mnist" / "t10k-images-idx3-ubyte",
                     big_endian(0x00000803) + big_endian(100) + big_endian(28) + big_endian(29) +
                         std::string(100 * 28 * 29, '\x20'));
         return mnist_command(dir, "--preset binary");
       }},
      {"inconsistent-class-counts", 3, "has labels of 10 classes (0..9) but", [](const fs::path& dir) {
         // The training labels only 0..4, the test labels 0..9: each file valid alone.
         const fs::path labels = dir / "mnist" / "train-labels-idx1-ubyte";
         std::string bytes = read_bytes(labels);
         for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = static_cast<char>(bytes[i] % 5);
         write_bytes(labels, bytes);
         return mnist_command(dir, "--preset multiclass");
       }},
      {"absurd-schedule", 2, "--n-s 1000000000 --cycles 1000000000 make 2e+18 update steps", [](const fs::path& dir) {
         return app_path("two_layer_cyclic") + " --data " + quoted(dir / "cifar") + " --out " + quoted(dir / "out") +
                " --quiet --n-s 1000000000 --cycles 1000000000";
       }},
      {"threads-refused", 1, "cannot start", [](const fs::path& dir) {
         return kThreadsCannotStart + app_path("cifar_softmax") + " --data " + quoted(dir / "cifar") + " --out " +
                quoted(dir / "out") + " --quiet --epochs 1" + kThreadsThatCannotStart;
       }},
      {"disk-too-small", 2, "checkpoints need about", [](const fs::path& dir) {
         return "TAPEGRAD_DISK_LIMIT=1000 " + cifar_command(dir, "--preset setting2");
       }},
      {"threads-over-bound", 2, "--threads: 100000 is out of range; allowed: from 1 to", [](const fs::path& dir) {
         return cifar_command(dir, "--preset setting2 --threads 100000");
       }},
      {"shard-out-of-range", 2, "--shard: 3/2 is out of range", [](const fs::path& dir) {
         return cifar_command(dir, "--preset grid --shard 3/2");
       }},
      {"shard-of-no-shards", 2, "--shard: 1/0 is out of range", [](const fs::path& dir) {
         return cifar_command(dir, "--preset grid --shard 1/0");
       }},
      {"shard-without-search", 2, "runs no search, so it has no trials to split", [](const fs::path& dir) {
         return cifar_command(dir, "--preset setting2 --shard 0/2");
       }},
      {"shards-with-other-seeds", 2, "other settings: --seed 2 here but 1 there", [](const fs::path& dir) {
         REQUIRE(run_command(cifar_command(dir, "--preset grid --shard 0/2 --seed 1")).exit_code == 0);
         return cifar_command(dir, "--preset grid --shard 1/2 --seed 2");
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

      if (kUnderShadowSanitizer && bad.id == "threads-refused") {
        WARN(bad.id << ": left out under AddressSanitizer and ThreadSanitizer, which cannot start under ulimit -v");
        return;
      }
      TempDir dir("bad-input");
      write_cifar_directory(dir.path() / "cifar", 100);
      write_mnist(dir.path() / "mnist", 300, 100, 1);
      const auto run = run_command(bad.command(dir.path()));
      INFO(run.output);
      CHECK(run.exit_code == bad.exit_code);
      // Every failure says what went wrong and what to do.
      CHECK_THAT(run.output, Catch::Contains(bad.message) && Catch::Contains("error: ") && Catch::Contains("hint: "));
      // Nothing ran on past the problem.
      std::error_code no_out;
      for (const auto& entry : fs::recursive_directory_iterator(dir.path() / "out", no_out)) {
        if (entry.path().filename() == "metrics.csv") CHECK(count_lines(entry.path()) <= 4);
      }
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
  wait_for_lines(first, out / "setting2" / "metrics.csv", 3);
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

TEST_CASE("apps: --threads above the machine's bound exits 2 in every app, naming the bound, writing nothing",
          "[apps][reliability][threads]") {
  const unsigned hardware = std::max(1U, std::thread::hardware_concurrency());
  const std::string bound = std::to_string(4 * hardware);  // kThreadsPerHardwareThread, apps/common/threads.h
  for (const char* app : {"cifar_softmax", "mnist_logistic", "two_layer_cyclic", "k_layer_batchnorm"}) {
    DYNAMIC_SECTION(app) {
      TempDir dir("threads-bound");
      const auto start = std::chrono::steady_clock::now();
      const auto run = run_command("timeout 60 " + app_path(app) + " --out " + quoted(dir.path() / "out") +
                                   " --threads " + std::to_string(4 * hardware + 1));
      INFO(run.output);
      CHECK(run.exit_code == 2);
      CHECK_THAT(run.output, Catch::Contains("error: --threads: " + std::to_string(4 * hardware + 1) +
                                             " is out of range; allowed: from 1 to " + bound) &&
                                 Catch::Contains("hint: give --threads from 1 to " + bound));
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
      CHECK_FALSE(fs::exists(dir.path() / "out"));
      // --help shows the bound too.
      CHECK_THAT(run_command(app_path(app) + " --help").output, Catch::Contains("from 1 to " + bound));
    }
  }
}

TEST_CASE("apps: threads that cannot be created end the run at once with exit 1 and a hint",
          "[apps][reliability][threads]") {
  if (kUnderShadowSanitizer) {
    WARN("left out under AddressSanitizer and ThreadSanitizer, which cannot start under ulimit -v");
    return;
  }
  TempDir dir("threads");
  write_cifar_directory(dir.path() / "cifar", 200);
  const auto run = run_command(std::string(kThreadsCannotStart) + "timeout 60 " + app_path("cifar_softmax") +
                               " --data " + quoted(dir.path() / "cifar") + " --out " + quoted(dir.path() / "out") +
                               " --epochs 1 --quiet" + kThreadsThatCannotStart);
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("cannot start") && Catch::Contains("hint:") && Catch::Contains("--threads"));
  CHECK_FALSE(holds_a_run(dir.path() / "out"));
}

TEST_CASE("apps: memory that cannot be had ends the run within seconds with exit 1, naming memory, and a hint",
          "[apps][reliability][memory]") {
  if (kUnderShadowSanitizer) {
    WARN("left out under AddressSanitizer and ThreadSanitizer, which cannot start under ulimit -v");
    return;
  }
  TempDir dir("memory");
  write_cifar_directory(dir.path() / "cifar", 60);
  // Two hidden layers of 30,000 units: 3.6 GB of weights in float, past ulimit -v's 2.9 GB. The estimate of
  // bounds.h would refuse them first; TAPEGRAD_MEMORY_LIMIT lifts it, so that the allocation itself fails.
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_command("ulimit -v 3000000; TAPEGRAD_MEMORY_LIMIT=1000000000000000 timeout 60 " +
                               app_path("k_layer_batchnorm") + " --preset three-layer --layers 30000,30000 --n-s 2 " +
                               "--cycles 1 --validation-size 50 --threads 1 --quiet --data " +
                               quoted(dir.path() / "cifar") + " --out " + quoted(dir.path() / "out"));
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("error: out of memory: an allocation failed") &&
                             Catch::Contains("hint: the run ran out of memory"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("apps: a run refused for its data writes nothing in --out, and the corrected command then runs",
          "[apps][reliability][data]") {
  TempDir dir("data-before-write");
  write_cifar_directory(dir.path() / "cifar", 120);
  fs::create_directories(dir.path() / "broken");
  for (const auto& file : fs::directory_iterator(dir.path() / "cifar")) {
    if (file.path().filename() != "data_batch_2.bin") fs::copy(file.path(), dir.path() / "broken");
  }
  const std::map<std::string, std::string> apps = {
      {"cifar_softmax", "--preset setting2 --epochs 1"},
      {"two_layer_cyclic", "--preset one-cycle --n-s 3 --cycles 1 --eval-per-cycle 1 --validation-size 100"},
      {"k_layer_batchnorm",
       "--preset three-layer --layers 6,5 --n-s 3 --cycles 1 --eval-per-cycle 1 --validation-size 100"}};
  for (const auto& [app, args] : apps) {
    DYNAMIC_SECTION(app) {
      const fs::path out = dir.path() / (app + "-out");
      const std::string command = app_path(app) + " " + args + " --threads 1 --quiet --out " + quoted(out);
      const auto refused = run_command(command + " --data " + quoted(dir.path() / "broken"));
      INFO(refused.output);
      CHECK(refused.exit_code == 3);
      CHECK_THAT(refused.output, Catch::Contains("data_batch_2.bin"));
      // The lock file alone: no invocation.json, so the same --out is still free for the corrected command.
      std::vector<std::string> left;
      for (const auto& file : fs::recursive_directory_iterator(out)) left.push_back(file.path().filename().string());
      CHECK(left == std::vector<std::string>{".tapegrad.lock"});

      const auto corrected = run_command(command + " --data " + quoted(dir.path() / "cifar"));
      INFO(corrected.output);
      CHECK(corrected.exit_code == 0);
    }
  }
}

TEST_CASE("apps: a disk without room for the checkpoints is refused before anything is written, in every app",
          "[apps][reliability][disk]") {
  TempDir dir("disk");
  write_cifar_directory(dir.path() / "cifar", 120);
  write_mnist(dir.path() / "mnist", 300, 100, 1);
  const std::map<std::string, std::string> apps = {
      {"cifar_softmax", "--preset setting2 --epochs 1"},
      {"mnist_logistic", "--dataset mnist --preset binary --epochs 1"},
      {"two_layer_cyclic", "--preset one-cycle --n-s 3 --cycles 1 --validation-size 100"},
      {"k_layer_batchnorm", "--preset three-layer --layers 6,5 --n-s 3 --cycles 1 --validation-size 100"}};
  for (const auto& [app, args] : apps) {
    DYNAMIC_SECTION(app) {
      const fs::path out = dir.path() / (app + "-out");
      const std::string data = quoted(dir.path() / (app == "mnist_logistic" ? "mnist" : "cifar"));
      // 4 KiB free: less than any of these runs' checkpoints need (binary MNIST has the fewest weights, 785).
      const auto run = run_command("TAPEGRAD_DISK_LIMIT=4096 " + app_path(app) + " " + args + " --data " + data +
                                   " --threads 1 --quiet --out " + quoted(out));
      INFO(run.output);
      CHECK(run.exit_code == 2);
      CHECK_THAT(run.output, Catch::Contains("checkpoints need about") && Catch::Contains(out.string()) &&
                                 Catch::Contains("4.0 KiB free") && Catch::Contains("hint: make room"));
      std::vector<std::string> left;
      for (const auto& file : fs::recursive_directory_iterator(out)) left.push_back(file.path().filename().string());
      CHECK(left == std::vector<std::string>{".tapegrad.lock"});
    }
  }
}

TEST_CASE("apps: training and test files that each load but disagree exit 3 naming both files",
          "[apps][reliability][data]") {
  TempDir dir("inconsistent");
  const fs::path data = dir.path() / "mnist";
  const std::string command = app_path("mnist_logistic") + " --data " + quoted(data) + " --out " +
                              quoted(dir.path() / "out") + " --dataset mnist --threads 1 --quiet --epochs 1";
  SECTION("test images of 28 x 29 pixels, training images of 28 x 28") {
    write_mnist(data, 300, 100, 1);
    write_bytes(data / "t10k-images-idx3-ubyte", big_endian(0x00000803) + big_endian(100) + big_endian(28) +
                                                     big_endian(29) + std::string(100 * 28 * 29, '\x20'));
    const auto run = run_command(command);
    INFO(run.output);
    CHECK(run.exit_code == 3);
    CHECK_THAT(run.output, Catch::Contains("t10k-images-idx3-ubyte has 812 values per image") &&
                               Catch::Contains("train-images-idx3-ubyte has 784 (1 x 28 x 28)") &&
                               Catch::Contains("hint: "));
  }
  SECTION("training labels of five classes, test labels of ten") {
    write_mnist(data, 300, 100, 2);
    Generator generator(3);
    write_split(data, "train", synthetic_images(300, generator, {0, 1, 2, 3, 4}));
    const auto run = run_command(command + " --preset multiclass");
    INFO(run.output);
    CHECK(run.exit_code == 3);
    CHECK_THAT(run.output, Catch::Contains("t10k-labels-idx1-ubyte has labels of 10 classes (0..9)") &&
                               Catch::Contains("train-labels-idx1-ubyte has labels of 5 (0..4)"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "out" / "binary" / "metrics.csv"));  // refused before training
  CHECK_FALSE(fs::exists(dir.path() / "out" / "multiclass" / "metrics.csv"));
}

TEST_CASE("apps: settings that cannot fit the machine exit 2 at once naming the flags, writing nothing",
          "[apps][reliability][bounds]") {
  TempDir dir("bounds");
  write_cifar_directory(dir.path() / "cifar", 100);
  write_mnist(dir.path() / "mnist", 300, 100, 1);
  const std::string cifar = " --data " + quoted(dir.path() / "cifar") + " --threads 1 --quiet";
  const std::string mnist = " --data " + quoted(dir.path() / "mnist") + " --dataset mnist --threads 1 --quiet";
  struct Case {
    std::string command;
    std::vector<std::string> flags;  // each named in the message
  };
  const std::vector<Case> cases = {
      {app_path("two_layer_cyclic") + cifar + " --n-s 1000000000 --cycles 1000000000", {"--n-s", "--cycles"}},
      {app_path("two_layer_cyclic") + cifar + " --n-s 2000000000 --eval-per-cycle 2000000000",
       {"--cycles", "--eval-per-cycle", "evaluation points"}},
      {app_path("two_layer_cyclic") + cifar + " --hidden 2000000000", {"--hidden", "of memory"}},
      {app_path("two_layer_cyclic") + cifar + " --preset coarse --count 2000000000", {"--count", "trials"}},
      {app_path("two_layer_cyclic") + cifar + " --preset all --n-s 9000000000000000000", {"--n-s", "--cycles"}},
      {app_path("k_layer_batchnorm") + cifar + " --n-s 1000000000 --cycles 1000000000", {"--n-s", "--cycles"}},
      {app_path("k_layer_batchnorm") + cifar + " --layers 50,2000000000", {"--layers", "of memory"}},
      {app_path("mnist_logistic") + mnist + " --epochs 2000000000 --batch-size 1", {"--epochs", "--batch-size"}},
      {app_path("mnist_logistic") + mnist + " --epochs 10000000 --eval-every 0.0001", {"--epochs", "--eval-every"}},
      // cifar_softmax's flags have ranges that fit a large machine; on a small one its batch would not.
      {"TAPEGRAD_MEMORY_LIMIT=100000000 " + app_path("cifar_softmax") + cifar + " --batch-size 1000000",
       {"--batch-size", "of memory"}},
      {"TAPEGRAD_MEMORY_LIMIT=100000000 " + app_path("cifar_softmax") + cifar + " --preset all --batch-size 1000000",
       {"--batch-size", "of memory"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const fs::path out = dir.path() / ("out" + std::to_string(i));
    const std::string command = cases[i].command + " --out " + quoted(out);
    INFO(command);
    const auto started = std::chrono::steady_clock::now();
    const auto run = run_command("timeout 60 env " + command);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK(seconds < 10);
    CHECK_THAT(run.output, Catch::Contains("error: ") && Catch::Contains("hint: give a smaller"));
    for (const auto& flag : cases[i].flags) CHECK_THAT(run.output, Catch::Contains(flag));
    CHECK_FALSE(holds_a_run(out));
  }
  // The same apps with sane settings still run: the bounds are far from what the course uses.
  const auto sane = run_command("TAPEGRAD_MEMORY_LIMIT=100000000 " + app_path("cifar_softmax") + cifar +
                                " --epochs 1 --out " + quoted(dir.path() / "sane"));
  INFO(sane.output);
  CHECK(sane.exit_code == 0);
}

namespace {

// Every --flag named in `text`.
std::vector<std::string> flags_named(const std::string& text) {
  std::vector<std::string> flags;
  for (std::size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
    std::size_t end = at + 2;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-')) ++end;
    if (end > at + 2) flags.push_back(text.substr(at, end - at));
  }
  return flags;
}

// Whether `help` lists `flag` as one of the program's options (not as part of a longer flag).
bool lists_flag(const std::string& help, const std::string& flag) {
  for (std::size_t at = help.find(flag); at != std::string::npos; at = help.find(flag, at + 1)) {
    const std::size_t end = at + flag.size();
    if (end == help.size() || !(std::isalnum(static_cast<unsigned char>(help[end])) || help[end] == '-')) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("apps: every hint an app can print names only flags that its --help lists", "[apps][reliability][hints]") {
  for (const std::string app : {"cifar_softmax", "two_layer_cyclic", "mnist_logistic", "k_layer_batchnorm"}) {
    INFO(app);
    const auto help = run_command(app_path(app) + " --help");
    REQUIRE(help.exit_code == 0);
    // The exit-1 hints of hints.h, and what hint_for gives every other kind of failure.
    std::vector<std::string> texts = tapegrad::apps::hints::all_hints(app);
    texts.push_back(tapegrad::apps::thread_count_hint());
    const tapegrad::apps::UsageError usage("x");
    const tapegrad::apps::DataError data("x");
    const tapegrad::apps::Interrupted interrupted("x");
    const tapegrad::apps::Diverged diverged("x");
    const tapegrad::apps::Failure failure("x");
    const tapegrad::Error plain("x");
    const std::bad_alloc no_memory;
    for (const std::exception* error : std::initializer_list<const std::exception*>{
             &usage, &data, &interrupted, &diverged, &failure, &plain, &no_memory}) {
      const std::string hint = tapegrad::apps::hint_for(*error, app);
      CHECK_FALSE(hint.empty());
      texts.push_back(hint);
    }
    int named = 0;
    for (const auto& text : texts) {
      for (const auto& flag : flags_named(text)) {
        INFO("hint: " << text);
        CHECK(lists_flag(help.output, flag));
        ++named;
      }
    }
    CHECK(named >= 10);
  }
}

TEST_CASE("apps: a diverging run says so and its hint names the app's own learning-rate flag",
          "[apps][reliability][hints]") {
  TempDir dir("diverged");
  write_cifar_directory(dir.path() / "cifar", 100);
  const auto run = run_command(app_path("two_layer_cyclic") + " --data " + quoted(dir.path() / "cifar") + " --out " +
                               quoted(dir.path() / "out") +
                               " --threads 1 --quiet --n-s 20 --eta-min 1e38 --eta-max 1e38");
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("diverged at step") && Catch::Contains("hint: lower --eta-max"));
  CHECK_THAT(run.output, !Catch::Contains("(--eta)") && !Catch::Contains("--eta "));  // two_layer_cyclic has no --eta
}

namespace {

// Every file below `root` (but the lock file, which holds the PID of whoever took the lock last) with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.path().filename() == ".tapegrad.lock") continue;
    files[fs::relative(entry.path(), root).string()] = read_bytes(entry.path());
  }
  return files;
}

}  // namespace

TEST_CASE("apps: two --resume of one run started at once: one exits 2 naming the holder, the run ends right",
          "[apps][reliability][lock][resume]") {
  TempDir dir("resume-race");
  write_cifar_directory(dir.path() / "cifar", 1000);
  const fs::path reference = dir.path() / "reference";
  REQUIRE(run_command(long_cifar_run(dir.path() / "cifar", reference)).exit_code == 0);

  const fs::path out = dir.path() / "out";
  {
    BackgroundCommand program(long_cifar_run(dir.path() / "cifar", out), dir.path() / "first.txt");
    wait_for_lines(program, out / "setting2" / "metrics.csv", 20);
    program.send(SIGKILL);
    REQUIRE(program.wait() == 128 + SIGKILL);
  }
  const std::string resume = app_path("cifar_softmax") + " --resume " + quoted(out) + " --threads 1 --quiet";
  BackgroundCommand first(resume, dir.path() / "a.txt");
  BackgroundCommand second(resume, dir.path() / "b.txt");
  const int a = first.wait();
  const int b = second.wait();
  const std::string a_log = read_bytes(dir.path() / "a.txt");
  const std::string b_log = read_bytes(dir.path() / "b.txt");
  INFO("first: " << a << "\n" << a_log << "\nsecond: " << b << "\n" << b_log);
  REQUIRE(std::min(a, b) == 0);
  REQUIRE(std::max(a, b) == 2);
  CHECK_THAT(a == 2 ? a_log : b_log,
             Catch::Contains("is in use by another process (PID") && Catch::Contains("hint:"));
  // Exactly the rows of the uninterrupted run: 201 evaluations, in order, none twice.
  check_same_bytes(reference / "setting2" / "metrics.csv", out / "setting2" / "metrics.csv");
  check_same_bytes(reference / "setting2" / "checkpoint.bin", out / "setting2" / "checkpoint.bin");
  CHECK(count_lines(out / "setting2" / "metrics.csv") == 202);
}

TEST_CASE("apps: a refused --resume leaves every file of the run byte-identical", "[apps][reliability][resume]") {
  TempDir dir("refused-resume");
  write_cifar_directory(dir.path() / "cifar", 200);
  write_cifar_directory(dir.path() / "other", 300);
  const fs::path out = dir.path() / "out";
  const auto run = run_command(app_path("cifar_softmax") + " --data " + quoted(dir.path() / "cifar") + " --out " +
                               quoted(out) + " --preset setting2 --epochs 3 --threads 1 --quiet");
  REQUIRE(run.exit_code == 0);
  fs::remove(out / "setting2" / "summary.json");  // as if it had been killed: a resume would train
  const auto before = snapshot(out);
  REQUIRE(before.size() >= 5);
  for (const std::string& refused :
       std::vector<std::string>{" --eta 0.5", " --epochs 4", " --data " + quoted(dir.path() / "other")}) {
    const auto again = run_command(app_path("cifar_softmax") + " --resume " + quoted(out) + " --quiet" + refused);
    INFO(refused << ": " << again.output);
    CHECK(again.exit_code == 2);
    CHECK_THAT(again.output, Catch::Contains("hint: "));
    CHECK(snapshot(out) == before);
  }
}
