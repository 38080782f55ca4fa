// A search spread over several processes with --shard K/N, merged by --resume: the shards run at once into one
// --out and write no results, the merge equals one process bit for bit (one thread per trial), a killed shard
// costs only its unfinished trials, and the locks keep a merge or a second copy of a shard away from running
// shards.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/nn/train/run_directory.h>
#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad::testing;
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& path) {
  std::string text = "'";  // built up, not "'" + ... + "'": GCC 12 warns falsely (-Wrestrict) on that
  text += path.string();
  text += '\'';
  return text;
}

// cifar_softmax's grid (36 trials) on generated data, one thread per trial.
std::string grid_command(const fs::path& data, const fs::path& out, int epochs) {
  return app_path("cifar_softmax") + " --data " + quoted(data) + " --out " + quoted(out) +
         " --preset grid --threads 1 --quiet --epochs " + std::to_string(epochs);
}

// The grid's trial directories in the order of its trial list, which shard K/N splits by index mod N.
std::vector<std::string> grid_trial_names() {
  std::vector<std::string> names;
  for (const char* eta : {"0.001", "0.005", "0.01"}) {
    for (const char* lambda : {"0", "0.001", "0.1", "1"}) {
      for (const char* batch : {"50", "100", "200"}) {
        names.push_back(std::string("eta") + eta + "_lambda" + lambda + "_batch" + batch);
      }
    }
  }
  return names;
}

// results.csv without its timing columns (train_seconds, wall_seconds), which no two runs share.
std::vector<std::string> results_without_timings(const fs::path& search) {
  std::ifstream in(search / "results.csv");
  std::vector<std::string> rows;
  std::vector<bool> keep;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::stringstream parts(line);
    for (std::string cell; std::getline(parts, cell, ',');) cells.push_back(cell);
    if (keep.empty()) {
      for (const auto& cell : cells) keep.push_back(cell != "train_seconds" && cell != "wall_seconds");
    }
    std::string row;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i >= keep.size() || keep[i]) row += cells[i] + ",";
    }
    rows.push_back(row);
  }
  return rows;
}

// The trials of results.json without their timings, and the best trial's name.
nlohmann::json trials_without_timings(const fs::path& search) {
  nlohmann::json results = read_json(search / "results.json");
  nlohmann::json trials = results["trials"];
  for (auto& trial : trials) {
    trial.erase("train_seconds");
    trial.erase("wall_seconds");
  }
  return {{"best", results["best"]}, {"trials", trials}};
}

// The merged search equals the one-process search: the table, the best setting and every trial's metrics.csv.
void check_same_search(const fs::path& reference, const fs::path& merged, std::size_t distinct_accuracies = 3) {
  INFO(reference.string() << " vs " << merged.string());
  const auto expected = results_without_timings(reference);
  REQUIRE(expected.size() > 1);
  CHECK(results_without_timings(merged) == expected);
  const nlohmann::json trials = trials_without_timings(reference);
  CHECK(trials_without_timings(merged) == trials);
  std::set<double> accuracies;  // the ranking is a check only when the trials differ
  for (const auto& trial : trials["trials"]) accuracies.insert(trial["val_accuracy"].get<double>());
  CHECK(accuracies.size() >= distinct_accuracies);
  int compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(reference)) {
    if (entry.path().filename() != "metrics.csv") continue;
    INFO(entry.path().string());
    CHECK(read_bytes(merged / fs::relative(entry.path(), reference)) == read_bytes(entry.path()));
    ++compared;
  }
  CHECK(compared == static_cast<int>(expected.size()) - 1);
}

// What only the merge may write: the search's results, report and plots.
void check_no_aggregate_files(const fs::path& search) {
  for (const char* file : {"results.csv", "results.json", "summary.json", "top10.md", "report.md"}) {
    INFO(file);
    CHECK_FALSE(fs::exists(search / file));
  }
  for (const auto& entry : fs::directory_iterator(search)) {
    INFO(entry.path().string());
    CHECK(entry.path().extension() != ".png");
  }
}

bool completed(const fs::path& trial) {
  return fs::exists(trial / "summary.json") && read_json(trial / "summary.json")["status"] == "completed";
}

}  // namespace

TEST_CASE("apps: two shards started at once into one --out, then the merge, equal one process bit for bit",
          "[apps][shard]") {
  TempDir dir("shards");
  write_cifar_directory(dir.path() / "cifar", 100);
  const fs::path reference = dir.path() / "one";
  const auto one = run_command(grid_command(dir.path() / "cifar", reference, 2));
  INFO(one.output);
  REQUIRE(one.exit_code == 0);

  const fs::path out = dir.path() / "sharded";
  {
    BackgroundCommand shard0(grid_command(dir.path() / "cifar", out, 2) + " --shard 0/2", dir.path() / "s0.txt");
    BackgroundCommand shard1(grid_command(dir.path() / "cifar", out, 2) + " --shard 1/2", dir.path() / "s1.txt");
    const int code0 = shard0.wait();
    const int code1 = shard1.wait();
    INFO(read_bytes(dir.path() / "s0.txt") << read_bytes(dir.path() / "s1.txt"));
    REQUIRE(code0 == 0);
    REQUIRE(code1 == 0);
    CHECK_THAT(read_bytes(dir.path() / "s1.txt"), Catch::Contains("18 of its 18 trials completed") &&
                                                      Catch::Contains("--resume " + (out / "grid").string()));
  }
  const fs::path search = out / "grid";
  check_no_aggregate_files(search);
  for (const auto& name : grid_trial_names()) {
    INFO(name);
    CHECK(completed(search / name));
  }
  // The record the merge runs from has every setting and no --shard.
  const auto invocation = read_json(search / "invocation.json");
  CHECK(invocation["settings"]["--epochs"] == "2");
  for (const auto& argument : invocation["arguments"])
    CHECK(argument.get<std::string>().find("--shard") == std::string::npos);

  // While a shard holds the search's --out, the merge is refused, naming the shards; then it runs.
  {
    tapegrad::train::RunDirectory shard_running(out);  // the test process stands in for a running shard
    shard_running.lock_shared();
    const auto early = run_command(app_path("cifar_softmax") + " --resume " + quoted(search) + " --quiet");
    INFO(early.output);
    CHECK(early.exit_code == 2);
    CHECK_THAT(early.output, Catch::Contains("in use by shards of a search"));
    check_no_aggregate_files(search);
  }
  const auto merge =
      run_command(app_path("cifar_softmax") + " --resume " + quoted(search) + " --threads 1 --quiet");
  INFO(merge.output);
  REQUIRE(merge.exit_code == 0);
  check_results_files(search, 36);
  check_same_search(reference / "grid", search);
  CHECK(read_json(search / "summary.json")["best"] == read_json(reference / "grid" / "summary.json")["best"]);

  // The same search with GNU parallel, through the project's script (which merges at the end).
  if (run_command("command -v parallel").exit_code != 0) {
    WARN(
        "GNU parallel is not installed (scripts/install-deps.sh installs it): scripts/shard-parallel.sh untested");
    return;
  }
  const fs::path with_parallel = dir.path() / "parallel";
  const auto script = run_command(fs::path(TAPEGRAD_SOURCE_DIR).string() + "/scripts/shard-parallel.sh 2 " +
                                  grid_command(dir.path() / "cifar", with_parallel, 2));
  INFO(script.output);
  REQUIRE(script.exit_code == 0);
  CHECK_THAT(script.output, Catch::Contains("shard 0/2") && Catch::Contains("shard 1/2"));
  check_same_search(reference / "grid", with_parallel / "grid");
}

TEST_CASE("apps: a merge after a shard was killed reruns only that shard's unfinished trials", "[apps][shard]") {
  TempDir dir("shard-killed");
  write_cifar_directory(dir.path() / "cifar", 100);
  const fs::path out = dir.path() / "out";
  const std::string command = grid_command(dir.path() / "cifar", out, 30);
  const auto first = run_command(command + " --shard 0/2");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);

  const fs::path search = out / "grid";
  const auto names = grid_trial_names();
  const auto finished_of_shard1 = [&] {
    int count = 0;
    for (std::size_t i = 1; i < names.size(); i += 2) count += completed(search / names[i]) ? 1 : 0;
    return count;
  };
  {
    BackgroundCommand shard1(command + " --shard 1/2", dir.path() / "s1.txt");
    for (int i = 0; i < 60000 && shard1.running() && finished_of_shard1() < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    shard1.send(SIGKILL);
    INFO(read_bytes(dir.path() / "s1.txt"));
    REQUIRE(shard1.wait() == 128 + SIGKILL);
  }
  check_no_aggregate_files(search);

  // What the kill left: every trial of shard 0 and a few of shard 1 finished, the rest of shard 1 not.
  std::set<std::string> unfinished;
  std::map<std::string, std::pair<fs::file_time_type, std::string>> finished;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const fs::path trial = search / names[i];
    if (completed(trial)) {
      finished[names[i]] = {fs::last_write_time(trial / "summary.json"), read_bytes(trial / "metrics.csv")};
    } else {
      INFO(names[i] << " is unfinished but belongs to shard 0");
      CHECK(i % 2 == 1);
      unfinished.insert(names[i]);
    }
  }
  REQUIRE(finished.size() >= 18 + 3);
  REQUIRE_FALSE(unfinished.empty());
  UNSCOPED_INFO(unfinished.size() << " trials of shard 1 unfinished after the kill");

  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a rewrite would show in the files' times
  const auto merge = run_command(app_path("cifar_softmax") + " --resume " + quoted(search) + " --threads 1");
  INFO(merge.output);
  REQUIRE(merge.exit_code == 0);
  check_results_files(search, 36);
  for (const auto& name : names) {
    INFO(name);
    CHECK(completed(search / name));
    const auto kept = finished.find(name);
    if (kept == finished.end()) continue;
    // A finished trial is read back, not run again: its files are as the shard left them.
    CHECK(fs::last_write_time(search / name / "summary.json") == kept->second.first);
    CHECK(read_bytes(search / name / "metrics.csv") == kept->second.second);
  }
  // The merge's log names the trials it ran; those read back say so.
  for (const auto& name : unfinished) CHECK_THAT(merge.output, Catch::Contains(name + ": train"));
  for (const auto& [name, kept] : finished) {
    CHECK_THAT(merge.output, Catch::Contains(name + ": already finished") && !Catch::Contains(name + ": train"));
  }
}

TEST_CASE("apps: a second copy of a shard is refused before it writes, naming the trial directory in use",
          "[apps][shard][lock]") {
  TempDir dir("shard-twice");
  write_cifar_directory(dir.path() / "cifar", 100);
  const fs::path out = dir.path() / "out";
  const fs::path trial = out / "grid" / grid_trial_names()[1];  // a trial of shard 1/2
  tapegrad::train::RunDirectory running(trial);  // the test process stands in for the first copy
  running.lock();
  const auto second = run_command(grid_command(dir.path() / "cifar", out, 2) + " --shard 1/2");
  INFO(second.output);
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.output, Catch::Contains(trial.string()) && Catch::Contains("in use by another process"));
  for (const auto& name : grid_trial_names()) CHECK_FALSE(fs::exists(out / "grid" / name / "metrics.csv"));
}

TEST_CASE(
    "apps: the searches of mnist_logistic and k_layer_batchnorm split into shards whose merge equals one process",
    "[apps][shard]") {
  TempDir dir("shards-apps");
  write_mnist(dir.path() / "mnist", 600, 200, 5);
  write_cifar_directory(dir.path() / "cifar", 100);
  struct Search {
    std::string app, preset, data, flags;
    std::size_t distinct_accuracies;
  };
  const std::vector<Search> searches = {
      {"mnist_logistic", "lambda-sweep", "mnist", "--dataset mnist --epochs 3", 2},
      {"k_layer_batchnorm", "coarse", "cifar",
       "--validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2 --count 4 --log-lambda-min -2 "
       "--log-lambda-max 1",
       2},
  };
  for (const auto& search : searches) {
    INFO(search.app);
    const auto command = [&](const fs::path& out) {
      return app_path(search.app) + " --data " + quoted(dir.path() / search.data) + " --out " + quoted(out) +
             " --preset " + search.preset + " --threads 1 --quiet " + search.flags;
    };
    const fs::path one = dir.path() / (search.app + "-one");
    const fs::path sharded = dir.path() / (search.app + "-sharded");
    REQUIRE(run_command(command(one)).exit_code == 0);
    {
      BackgroundCommand shard0(command(sharded) + " --shard 0/2", dir.path() / "s0.txt");
      BackgroundCommand shard1(command(sharded) + " --shard 1/2", dir.path() / "s1.txt");
      const int code0 = shard0.wait();
      const int code1 = shard1.wait();
      INFO(read_bytes(dir.path() / "s0.txt") << read_bytes(dir.path() / "s1.txt"));
      REQUIRE(code0 == 0);
      REQUIRE(code1 == 0);
    }
    check_no_aggregate_files(sharded / search.preset);
    const auto merge =
        run_command(app_path(search.app) + " --resume " + quoted(sharded / search.preset) + " --quiet");
    INFO(merge.output);
    REQUIRE(merge.exit_code == 0);
    check_same_search(one / search.preset, sharded / search.preset, search.distinct_accuracies);
  }
}
