// two_layer_cyclic end to end: every preset on small generated CIFAR-format data, the searches handing their
// results on through --out, the bad inputs, and one-cycle on the real data when it is present.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/nn/safetensors.h>

#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad::testing;
namespace fs = std::filesystem;

namespace {


std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  INFO(file);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Metrics {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  double at(std::size_t row, const std::string& column) const {
    for (std::size_t c = 0; c < columns.size(); ++c)
      if (columns[c] == column) return rows.at(row).at(c);
    FAIL("no column " << column);
    return 0;
  }
};

Metrics read_metrics(const fs::path& file) {
  std::ifstream in(file);
  INFO(file);
  REQUIRE(in.good());
  Metrics metrics;
  std::string line;
  std::getline(in, line);
  std::stringstream header(line);
  for (std::string cell; std::getline(header, cell, ',');) metrics.columns.push_back(cell);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) row.push_back(std::stod(cell));
    REQUIRE(row.size() == metrics.columns.size());
    metrics.rows.push_back(row);
  }
  return metrics;
}

bool is_png(const fs::path& file) {
  if (!fs::exists(file)) return false;
  return read_bytes(file).rfind("\x89PNG\r\n\x1a\n", 0) == 0;
}

// A temporary directory with generated CIFAR-10 files of `count` records per batch in data/, and the app's
// command line pointing --data there and --out at out/.
struct Workspace {
  explicit Workspace(int count, const std::string& tag) : dir(tag) { write_cifar_directory(dir / "data", count); }
  fs::path out() const { return dir / "out"; }
  // Two threads: the searches run two trials side by side, a single run uses two threads for its products.
  std::string command(const std::string& args, int threads = 2) const {
    return app_path("two_layer_cyclic") + " --data '" + (dir / "data").string() + "' --overwrite --out '" + out().string() +
           "' --threads " + std::to_string(threads) + " --quiet " + args;
  }
  TempDir dir;
};

// The eta_t of the course's triangular schedule.
double cyclic_rate(long t, long n_s, double eta_min = 1e-5, double eta_max = 0.1) {
  const long cycle = t / (2 * n_s);
  const long in_cycle = t - 2 * cycle * n_s;
  const double fraction = in_cycle <= n_s ? double(in_cycle) / n_s : double(2 * n_s - in_cycle) / n_s;
  return eta_min + fraction * (eta_max - eta_min);
}

void check_training_directory(const fs::path& run, long steps, std::size_t evaluations) {
  for (const char* file : {"config.json", "metrics.csv", "summary.json", "checkpoint.bin"}) {
    INFO(run / file);
    CHECK(fs::exists(run / file));
  }
  CHECK(fs::file_size(run / "checkpoint.bin") > 0);
  for (const char* plot : {"cost", "loss", "accuracy", "learning_rate", "learning_rate_schedule"}) {
    INFO(plot);
    CHECK(is_png(run / (std::string(plot) + ".png")));
  }
  const Metrics metrics = read_metrics(run / "metrics.csv");
  CHECK(metrics.columns == std::vector<std::string>{"step", "epoch", "learning_rate", "train_loss", "train_cost",
                                                    "train_accuracy", "val_loss", "val_cost", "val_accuracy"});
  CHECK(metrics.rows.size() == evaluations);
  CHECK(metrics.at(0, "step") == 0);
  CHECK(metrics.at(metrics.rows.size() - 1, "step") == steps);
  const auto summary = read_json(run / "summary.json");
  for (const char* key : {"train_accuracy", "val_accuracy", "test_accuracy"}) {
    INFO(key);
    REQUIRE(summary.contains(key));
    CHECK(summary[key].get<double>() >= 0.0);
    CHECK(summary[key].get<double>() <= 1.0);
  }
  CHECK(summary["steps"].get<long>() == steps);
  CHECK(summary["train_seconds"].get<double>() > 0);
  CHECK(summary.contains("lambda"));
  CHECK(summary["preset_wall_seconds"].get<double>() >= summary["train_seconds"].get<double>());
}

}  // namespace

TEST_CASE("two_layer_cyclic: --help names every preset and override", "[app][two_layer_cyclic]") {
  const auto run = run_command(app_path("two_layer_cyclic") + " --help");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  for (const char* text : {"one-cycle", "three-cycles", "gradcheck", "coarse", "fine", "final", "all", "--lambda",
                           "--n-s", "--cycles", "--batch-size", "--hidden", "--eta-min", "--eta-max",
                           "--eval-per-cycle", "--grad", "--dtype", "--count", "--limit-train"}) {
    INFO(text);
    CHECK(run.output.find(text) != std::string::npos);
  }
}

TEST_CASE("two_layer_cyclic: one-cycle trains, follows the cyclic rate and leaves a complete run directory",
          "[app][two_layer_cyclic]") {
  Workspace workspace(300, "two-layer-one-cycle");
  // One thread: a second one for products this small only waits for a busy core.
  const auto run = run_command(workspace.command("--preset one-cycle --n-s 40", 1));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path run_directory = workspace.out() / "one-cycle";
  // 2 n_s = 80 steps, evaluated before the first and every 80 / 10 = 8 steps.
  check_training_directory(run_directory, 80, 11);

  const auto config = read_json(run_directory / "config.json");
  CHECK(config["preset"] == "one-cycle");
  CHECK(config["n_s"] == 40);
  CHECK(config["cycles"] == 1);
  CHECK(config["lambda"] == 0.01);
  CHECK(config["hidden"] == 50);
  CHECK(config["train_examples"] == 300);  // data_batch_1
  CHECK(config["validation_examples"] == 300);  // data_batch_2

  // The rate recorded at step s is the one of the last update, eta_{s-1}, and eta_0 at the start.
  const Metrics metrics = read_metrics(run_directory / "metrics.csv");
  for (std::size_t row = 0; row < metrics.rows.size(); ++row) {
    const long step = static_cast<long>(metrics.at(row, "step"));
    INFO("step " << step);
    CHECK(metrics.at(row, "learning_rate") == Approx(cyclic_rate(std::max(0L, step - 1), 40)).epsilon(1e-9));
  }
  // Classes brighten their own stripes of pixels: a trained network is far better than chance (10%).
  const auto summary = read_json(run_directory / "summary.json");
  CHECK(summary["test_accuracy"].get<double>() > 0.5);
  CHECK(metrics.at(metrics.rows.size() - 1, "train_loss") < metrics.at(0, "train_loss"));
  CHECK(metrics.at(0, "train_cost") > metrics.at(0, "train_loss"));  // lambda > 0 adds the penalty

  // The trained network and the normaliser, by dotted name, d x 1 statistics.
  const auto model = tapegrad::nn::load_safetensors<double>(run_directory / "model.safetensors");
  CHECK(model.tensors.names() == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                                          "normalizer.mean", "normalizer.std"});
  CHECK(model.tensors.at("fc1.weight").rows() == 50);
  CHECK(model.tensors.at("fc1.weight").cols() == 3072);
  CHECK(model.tensors.at("fc2.weight").rows() == 10);
  CHECK(model.tensors.at("fc2.weight").cols() == 50);
  CHECK(model.tensors.at("normalizer.std").rows() == 3072);
  CHECK(model.tensors.at("normalizer.std").cols() == 1);
  CHECK(model.metadata.at("app") == "two_layer_cyclic");
  CHECK(model.metadata.at("model").find("two-layer network") != std::string::npos);
}

TEST_CASE("two_layer_cyclic: three-cycles and the overrides reach the training run", "[app][two_layer_cyclic]") {
  Workspace workspace(200, "two-layer-three-cycles");
  const auto run = run_command(workspace.command(
      "--preset three-cycles --n-s 10 --eval-per-cycle 4 --hidden 7 --batch-size 50 --eta-max 0.05 --eta-min 0.001 "
      "--lambda 0.002 --grad reference --dtype double --seed 5"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path run_directory = workspace.out() / "three-cycles";
  // 3 cycles of 2 x 10 steps, evaluated every 20 / 4 = 5 steps and at the start.
  check_training_directory(run_directory, 60, 13);
  const auto config = read_json(run_directory / "config.json");
  CHECK(config["cycles"] == 3);
  CHECK(config["hidden"] == 7);
  CHECK(config["batch_size"] == 50);
  CHECK(config["eta_max"] == 0.05);
  CHECK(config["eta_min"] == 0.001);
  CHECK(config["lambda"] == 0.002);
  CHECK(config["grad"] == "reference");
  CHECK(config["dtype"] == "double");
  CHECK(config["seed"] == 5);
  const Metrics metrics = read_metrics(run_directory / "metrics.csv");
  for (std::size_t row = 0; row < metrics.rows.size(); ++row) {
    const long step = static_cast<long>(metrics.at(row, "step"));
    CHECK(metrics.at(row, "learning_rate") ==
          Approx(cyclic_rate(std::max(0L, step - 1), 10, 0.001, 0.05)).epsilon(1e-9));
  }
}

TEST_CASE("two_layer_cyclic: the same seed gives the same run, tape and reference agree in double",
          "[app][two_layer_cyclic]") {
  Workspace workspace(200, "two-layer-repeat");
  auto final_row = [&](const std::string& args) {
    const auto run = run_command(workspace.command("--preset one-cycle --n-s 10 --dtype double " + args, 1));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const Metrics metrics = read_metrics(workspace.out() / "one-cycle" / "metrics.csv");
    return metrics.rows.back();
  };
  const auto tape = final_row("--grad tape");
  const auto tape_again = final_row("--grad tape");
  const auto reference = final_row("--grad reference");
  const auto other_seed = final_row("--grad tape --seed 7");
  CHECK(tape == tape_again);
  REQUIRE(tape.size() == reference.size());
  for (std::size_t i = 0; i < tape.size(); ++i) CHECK(reference[i] == Approx(tape[i]).epsilon(1e-9));
  CHECK(other_seed != tape);
}

TEST_CASE("two_layer_cyclic: gradcheck holds tape, reference and central differences together",
          "[app][two_layer_cyclic]") {
  Workspace workspace(120, "two-layer-gradcheck");
  const auto run = run_command(workspace.command("--preset gradcheck"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(run.output.find("tape-ref") != std::string::npos);
  const auto report = read_json(workspace.out() / "gradcheck" / "gradcheck.json");
  CHECK(report["passed"] == true);
  REQUIRE(report["cases"].size() == 4);
  const auto& cases = report["cases"];
  CHECK(cases[0]["features"] == 20);
  CHECK(cases[0]["examples"] == 2);
  CHECK(cases[0]["lambda"] == 0.0);
  CHECK(cases[1]["lambda"].get<double>() > 0);
  CHECK(cases[2]["examples"] == 100);
  CHECK(cases[3]["features"] == 3072);
  CHECK(cases[3]["numerical"] == false);
  for (const auto& c : cases) {
    INFO(c["name"]);
    REQUIRE(c["parameters"].size() == 4);
    for (const auto& p : c["parameters"]) {
      INFO(p["parameter"]);
      CHECK(p["max_abs_gradient"].get<double>() > 1e-4);
      CHECK(p["tape_vs_reference"].get<double>() < 1e-8);
      if (c["numerical"] == true) {
        CHECK(p["tape_vs_numerical"].get<double>() < 1e-5);
        CHECK(p["reference_vs_numerical"].get<double>() < 1e-5);
      } else {
        CHECK(p["tape_vs_numerical"].is_null());
      }
    }
  }
  CHECK(cases[0]["parameters"][0]["rows"] == 50);
  CHECK(cases[0]["parameters"][0]["cols"] == 20);
  CHECK(fs::exists(workspace.out() / "gradcheck" / "summary.json"));
  CHECK(fs::exists(workspace.out() / "gradcheck" / "config.json"));
}

TEST_CASE("two_layer_cyclic: coarse, then fine and final read the earlier results from --out",
          "[app][two_layer_cyclic]") {
  Workspace workspace(100, "two-layer-searches");
  const std::string small = "--validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2 ";
  auto run = run_command(workspace.command(
      "--preset coarse --count 3 --search grid --log-lambda-min -4 --log-lambda-max -2 " + small));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path coarse = workspace.out() / "coarse";
  const auto coarse_results = read_json(coarse / "results.json");
  REQUIRE(coarse_results["trials"].size() == 3);
  check_results_files(coarse, 3);
  std::vector<double> grid;
  double previous = 2.0;
  for (const auto& trial : coarse_results["trials"]) {
    grid.push_back(trial["log10_lambda"].get<double>());
    CHECK(trial["lambda"].get<double>() == Approx(std::pow(10.0, trial["log10_lambda"].get<double>())));
    CHECK(trial["val_accuracy"].get<double>() <= previous);  // best first
    previous = trial["val_accuracy"].get<double>();
    CHECK(fs::exists(coarse / trial["name"].get<std::string>() / "metrics.csv"));
    CHECK(is_png(coarse / trial["name"].get<std::string>() / "learning_rate_schedule.png"));
  }
  std::sort(grid.begin(), grid.end());
  CHECK(grid == std::vector<double>{-4.0, -3.0, -2.0});
  CHECK(coarse_results["train_examples"] == 400);  // 5 x 100 less the 100 that validate
  CHECK(coarse_results["n_s"] == 5);
  const auto coarse_summary = read_json(coarse / "summary.json");
  CHECK(coarse_summary["workers"] == 2);
  CHECK(coarse_summary["trial_seconds_sum"].get<double>() > 0);
  CHECK(coarse_summary["best_lambda"] == coarse_results["trials"][0]["lambda"]);
  CHECK(coarse_summary["val_accuracy"] == coarse_results["trials"][0]["val_accuracy"]);
  CHECK(is_png(coarse / "validation_accuracy.png"));

  run = run_command(workspace.command("--preset fine --count 2 --fine-width 1 " + small));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto fine_results = read_json(workspace.out() / "fine" / "results.json");
  const double best_coarse = coarse_results["trials"][0]["log10_lambda"].get<double>();
  CHECK(fine_results["log_lambda_min"].get<double>() == Approx(best_coarse - 0.5));
  CHECK(fine_results["log_lambda_max"].get<double>() == Approx(best_coarse + 0.5));
  REQUIRE(fine_results["trials"].size() == 2);
  for (const auto& trial : fine_results["trials"]) {
    CHECK(trial["log10_lambda"].get<double>() >= best_coarse - 0.5);
    CHECK(trial["log10_lambda"].get<double>() <= best_coarse + 0.5);
  }
  const auto fine_config = read_json(workspace.out() / "fine" / "config.json");
  CHECK(fine_config["range_source"].get<std::string>().find("coarse") != std::string::npos);

  run = run_command(workspace.command("--preset final " + small));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto final_summary = read_json(workspace.out() / "final" / "summary.json");
  CHECK(final_summary["lambda"] == fine_results["trials"][0]["lambda"]);
  CHECK(final_summary["lambda_source"].get<std::string>().find("fine") != std::string::npos);
  CHECK(read_json(workspace.out() / "final" / "config.json")["train_examples"] == 400);
  check_training_directory(workspace.out() / "final", 10, 3);
}

// results.csv of a search without its timing columns (train_seconds, wall_seconds, the 11th and 12th).
std::string results_without_timings(const fs::path& search) {
  std::ifstream in(search / "results.csv");
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::stringstream parts(line);
    for (std::string cell; std::getline(parts, cell, ',');) cells.push_back(cell);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i != 10 && i != 11) kept += cells[i] + ",";
    }
    kept += "\n";
  }
  return kept;
}

TEST_CASE("two_layer_cyclic: coarse, merge, fine, merge as shards equal one process, and fine waits for the merge",
          "[app][two_layer_cyclic][shard]") {
  Workspace workspace(100, "two-layer-shards");
  const auto command = [&](const fs::path& out, const std::string& args) {
    return app_path("two_layer_cyclic") + " --data '" + (workspace.dir / "data").string() + "' --out '" +
           out.string() + "' --threads 1 --quiet --validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2 " +
           args;
  };
  // Up to lambda 10, which holds the weights near zero: the trials differ, so the ranking is a real check.
  const std::string coarse = "--preset coarse --count 4 --log-lambda-min -2 --log-lambda-max 1 ";
  const std::string fine = "--preset fine --count 3 --fine-width 3 ";
  const fs::path one = workspace.dir / "one";
  const fs::path sharded = workspace.dir / "sharded";
  for (const auto& search : {coarse, fine}) REQUIRE(run_command(command(one, search)).exit_code == 0);

  const auto run_two_shards = [&](const std::string& search) {
    BackgroundCommand first(command(sharded, search + "--shard 0/2"), workspace.dir / "s0.txt");
    BackgroundCommand second(command(sharded, search + "--shard 1/2"), workspace.dir / "s1.txt");
    const int code0 = first.wait();
    const int code1 = second.wait();
    INFO(read_text(workspace.dir / "s0.txt") << read_text(workspace.dir / "s1.txt"));
    REQUIRE(code0 == 0);
    REQUIRE(code1 == 0);
  };
  run_two_shards(coarse);
  CHECK_FALSE(fs::exists(sharded / "coarse" / "results.json"));
  // Every fine shard must centre on the same coarse result: the merged one, so none starts before the merge.
  const auto early = run_command(command(sharded, fine + "--shard 0/2"));
  INFO(early.output);
  CHECK(early.exit_code == 2);
  CHECK_THAT(early.output, Catch::Contains("has no results.json yet") &&
                               Catch::Contains("--resume " + (sharded / "coarse").string()));
  CHECK_FALSE(fs::exists(sharded / "fine"));

  const auto merge_command = [&](const char* search) {
    return app_path("two_layer_cyclic") + " --resume '" + (sharded / search).string() + "' --quiet";
  };
  auto merge = run_command(merge_command("coarse"));
  INFO(merge.output);
  REQUIRE(merge.exit_code == 0);
  run_two_shards(fine);
  CHECK_FALSE(fs::exists(sharded / "fine" / "results.json"));
  merge = run_command(merge_command("fine"));
  INFO(merge.output);
  REQUIRE(merge.exit_code == 0);

  for (const char* search : {"coarse", "fine"}) {
    INFO(search);
    check_results_files(sharded / search, std::string(search) == "coarse" ? 4 : 3);
    CHECK(results_without_timings(sharded / search) == results_without_timings(one / search));
    if (std::string(search) == "coarse") {  // the ranking is a check only when the trials differ
      std::set<double> accuracies;
      const auto trials = read_json(one / search / "results.json")["trials"];
      for (const auto& trial : trials) accuracies.insert(trial["val_accuracy"].get<double>());
      CHECK(accuracies.size() >= 2);
    }
    const auto expected = read_json(one / search / "summary.json");
    const auto merged = read_json(sharded / search / "summary.json");
    CHECK(merged["best_lambda"] == expected["best_lambda"]);
    CHECK(merged["val_accuracy"] == expected["val_accuracy"]);
    CHECK(read_json(sharded / search / "results.json")["log_lambda_min"] ==
          read_json(one / search / "results.json")["log_lambda_min"]);
    CHECK(is_png(sharded / search / "validation_accuracy.png"));
  }
}

TEST_CASE("two_layer_cyclic: fine and final need an earlier search or --lambda", "[app][two_layer_cyclic]") {
  Workspace workspace(100, "two-layer-missing");
  for (const char* preset : {"fine", "final"}) {
    INFO(preset);
    const auto run = run_command(workspace.command(std::string("--preset ") + preset + " --validation-size 100"));
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK(run.output.find("--lambda") != std::string::npos);
    CHECK_FALSE(fs::exists(workspace.out() / preset / "metrics.csv"));
  }
  const auto run = run_command(
      workspace.command("--preset final --lambda 0.003 --validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto summary = read_json(workspace.out() / "final" / "summary.json");
  CHECK(summary["lambda"] == 0.003);
  CHECK(summary["lambda_source"] == "--lambda");

  // Without a coarse search, fine centres a range 1 wide on --lambda.
  const auto fine = run_command(workspace.command(
      "--preset fine --lambda 0.001 --count 2 --validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2"));
  INFO(fine.output);
  REQUIRE(fine.exit_code == 0);
  const auto fine_results = read_json(workspace.out() / "fine" / "results.json");
  CHECK(fine_results["log_lambda_min"].get<double>() == Approx(-3.5));
  CHECK(fine_results["log_lambda_max"].get<double>() == Approx(-2.5));

  // A results.json that is not one is bad data, named, not a crash.
  fs::create_directories(workspace.out() / "coarse");
  write_bytes(workspace.out() / "coarse" / "results.json", "{\"trials\": [");
  const auto broken = run_command(workspace.command("--preset fine --validation-size 100"));
  INFO(broken.output);
  CHECK(broken.exit_code == 3);
  CHECK(broken.output.find("results.json") != std::string::npos);
}

TEST_CASE("two_layer_cyclic: all runs every preset and links its plots from report.md", "[app][two_layer_cyclic]") {
  Workspace workspace(100, "two-layer-all");
  const auto run = run_command(workspace.command(
      "--preset all --validation-size 100 --n-s 5 --cycles 1 --eval-per-cycle 2 --count 2 --gradcheck-examples 2"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const std::string report = read_text(workspace.out() / "report.md");
  for (const char* preset : {"gradcheck", "one-cycle", "three-cycles", "coarse", "fine", "final"}) {
    INFO(preset);
    CHECK(report.find(std::string("| ") + preset + " ") != std::string::npos);
    CHECK(fs::exists(workspace.out() / preset / "summary.json"));
  }
  // Every link in the report points at a file that is there.
  const std::regex link(R"(\]\(([^)]+)\))");
  int links = 0;
  for (auto it = std::sregex_iterator(report.begin(), report.end(), link); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    INFO(target);
    CHECK(fs::exists(workspace.out() / target));
    ++links;
  }
  CHECK(links >= 5 * 4);
  CHECK(report.find("one-cycle/accuracy.png") != std::string::npos);
  CHECK(report.find("coarse/validation_accuracy.png") != std::string::npos);

  const auto summary = read_json(workspace.out() / "summary.json");
  CHECK(summary["complete"] == true);
  REQUIRE(summary["presets"].size() == 6);
  double preset_seconds = 0;
  for (const auto& p : summary["presets"]) preset_seconds += p["wall_seconds"].get<double>();
  CHECK(summary["wall_seconds"].get<double>() >= preset_seconds);
  // fine around coarse's best, narrower than coarse; final trained with fine's best.
  const auto coarse = read_json(workspace.out() / "coarse" / "results.json");
  const auto fine = read_json(workspace.out() / "fine" / "results.json");
  const double best_coarse = coarse["trials"][0]["log10_lambda"].get<double>();
  const double low = fine["log_lambda_min"].get<double>();
  const double high = fine["log_lambda_max"].get<double>();
  CHECK(low <= best_coarse);
  CHECK(high >= best_coarse);
  CHECK(high - low >= 0.5 - 1e-12);
  CHECK(high - low <= (coarse["log_lambda_max"].get<double>() - coarse["log_lambda_min"].get<double>()) / 2 + 1e-12);
  CHECK(read_json(workspace.out() / "final" / "summary.json")["lambda"] == fine["trials"][0]["lambda"]);
}

TEST_CASE("two_layer_cyclic: bad input gives the contract's exit codes", "[app][two_layer_cyclic]") {
  Workspace workspace(100, "two-layer-bad");
  const std::string app = app_path("two_layer_cyclic");
  const std::string out = " --overwrite --out '" + workspace.out().string() + "'";

  auto missing = run_command(app + " --data '" + (workspace.dir / "nowhere").string() + "'" + out);
  INFO(missing.output);
  CHECK(missing.exit_code == 3);
  CHECK(missing.output.find("nowhere") != std::string::npos);

  // A batch cut off in the middle of a record.
  const fs::path truncated = workspace.dir / "truncated";
  write_cifar_directory(truncated, 100);
  const std::string bytes = read_bytes(truncated / "data_batch_1.bin");
  write_bytes(truncated / "data_batch_1.bin", bytes.substr(0, bytes.size() - 1000));
  auto cut = run_command(app + " --data '" + truncated.string() + "'" + out);
  INFO(cut.output);
  CHECK(cut.exit_code == 3);
  CHECK(cut.output.find("data_batch_1.bin") != std::string::npos);

  for (const char* args : {"--eta-max -1", "--eta-max 0", "--lambda -0.1", "--preset none", "--n-s -1",
                           "--cycles 0", "--grad magic", "--dtype half", "--eta-min 0.5 --eta-max 0.1",
                           "--log-lambda-min -1 --log-lambda-max -3", "--count 0", "--no-such-flag",
                           "--batch-size x"}) {
    INFO(args);
    const auto run = run_command(workspace.command(args));
    INFO(run.output);
    CHECK(run.exit_code == 2);
    CHECK(run.output.find("error:") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(workspace.out() / "one-cycle" / "metrics.csv"));
}

TEST_CASE("two_layer_cyclic: one-cycle on the real CIFAR-10 reaches the reports' accuracy",
          "[app][two_layer_cyclic][integration]") {
  const auto data = real_cifar10();
  if (!data) return;
  TempDir dir("two-layer-real");
  // One thread: batches of 100 gain little from a second, and lose much when the other core is busy.
  const auto run = run_command(app_path("two_layer_cyclic") + " --preset one-cycle --data '" + data->string() +
                               "' --out '" + dir.path().string() + "' --threads 1 --quiet");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto summary = read_json(dir.path() / "one-cycle" / "summary.json");
  CHECK(summary["steps"] == 1000);
  // The reports get about 46% test accuracy after one cycle of n_s = 500 with lambda = 0.01.
  CHECK(summary["test_accuracy"].get<double>() > 0.43);
  CHECK(summary["test_accuracy"].get<double>() < 0.50);
  CHECK(summary["train_accuracy"].get<double>() > summary["test_accuracy"].get<double>());
}
