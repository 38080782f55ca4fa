// cifar_softmax end to end: every preset on small generated CIFAR-format data, the bad inputs, and setting2 on
// the real data when it is present.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/safetensors.h>

#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad::testing;
namespace fs = std::filesystem;

namespace {



std::string cifar(const TempDir& dir, const std::string& args) {
  return app_path("cifar_softmax") + " --data '" + (dir.path() / "cifar").string() + "' --out '" +
         (dir.path() / "out").string() + "' --overwrite --threads 1 --quiet " + args;
}

void check_run_directory(const fs::path& out, int epochs) {
  for (const char* file : {"config.json", "metrics.csv", "summary.json", "checkpoint.bin", "loss.png", "cost.png",
                           "accuracy.png", "templates.png"}) {
    INFO(out / file);
    CHECK(fs::exists(out / file));
  }
  CHECK(count_lines(out / "metrics.csv") == epochs + 2);  // header, epoch 0, then one row per epoch
  const auto summary = read_json(out / "summary.json");
  for (const char* key : {"train_accuracy", "val_accuracy", "test_accuracy"}) {
    INFO(key);
    REQUIRE(summary.contains(key));
    CHECK(summary[key].get<double>() >= 0.0);
    CHECK(summary[key].get<double>() <= 1.0);
  }
  CHECK(summary["steps"].get<long>() > 0);
  CHECK(summary.contains("train_seconds"));
  CHECK(summary["seed"].get<long>() == 42);
}

}  // namespace

TEST_CASE("cifar_softmax: every single-run preset on generated data", "[app][cifar_softmax]") {
  TempDir dir("cifar-app");
  write_cifar_directory(dir.path() / "cifar", 300);
  for (const std::string preset : {"setting1", "setting2", "setting3", "setting4", "all-data", "augment",
                                   "step-decay", "bce"}) {
    INFO(preset);
    const auto run = run_command(cifar(dir, "--preset " + preset + " --epochs 3"));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    // One layout for every preset: the run in OUT/<preset>/, nothing of it in OUT itself.
    const fs::path run_directory = dir.path() / "out" / preset;
    check_run_directory(run_directory, 3);
    CHECK_FALSE(fs::exists(dir.path() / "out" / "summary.json"));
    const auto config = read_json(run_directory / "config.json");
    CHECK(config["name"] == preset);
    if (preset == "bce" || preset == "setting2") CHECK(fs::exists(run_directory / "true_class_probability.png"));
    if (preset == "step-decay") CHECK(fs::exists(run_directory / "learning_rate.png"));
    if (preset == "all-data") CHECK(config["train_examples"] == 5 * 300 - 1000);
    fs::remove_all(dir.path() / "out");
  }
}

TEST_CASE("cifar_softmax: model.safetensors alone reproduces the test accuracy from raw pixels",
          "[app][cifar_softmax]") {
  TempDir dir("cifar-model-file");
  write_cifar_directory(dir.path() / "cifar", 300);
  const auto run = run_command(cifar(dir, "--preset setting1 --epochs 1 --eta 0.006 --dtype double"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto file = tapegrad::nn::load_safetensors<double>(dir.path() / "out" / "setting1" / "model.safetensors");
  CHECK(file.tensors.names() ==
        std::vector<std::string>{"linear.weight", "linear.bias", "normalizer.mean", "normalizer.std"});
  const auto& weight = file.tensors.at("linear.weight");
  const auto& bias = file.tensors.at("linear.bias");
  const auto& mean = file.tensors.at("normalizer.mean");
  const auto& deviation = file.tensors.at("normalizer.std");
  REQUIRE(weight.rows() == 10);
  REQUIRE(weight.cols() == 3072);
  REQUIRE(bias.rows() == 10);
  REQUIRE(bias.cols() == 1);
  REQUIRE(mean.rows() == 3072);
  REQUIRE(mean.cols() == 1);
  REQUIRE(deviation.rows() == 3072);
  REQUIRE(deviation.cols() == 1);
  CHECK(file.metadata.at("app") == "cifar_softmax");
  CHECK(file.metadata.at("preset") == "setting1");
  CHECK(nlohmann::json::parse(file.metadata.at("classes")).size() == 10);
  CHECK(file.metadata.at("model").find("softmax regression") != std::string::npos);
  CHECK(file.metadata.contains("normalizer"));

  // The test images, as the file's metadata says: pixel / 255, standardised, then W x + b and the largest score.
  const auto test = tapegrad::data::load_cifar10_batch(dir.path() / "cifar" / "test_batch.bin");
  const Eigen::MatrixXd inputs =
      ((test.pixels.cast<double>() / 255.0).colwise() - mean.col(0)).array().colwise() / deviation.col(0).array();
  const Eigen::MatrixXd scores = (weight * inputs).colwise() + bias.col(0);
  long correct = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    Eigen::Index best = 0;
    scores.col(j).maxCoeff(&best);
    correct += best == test.labels[static_cast<std::size_t>(j)];
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(scores.cols());
  const auto summary = read_json(dir.path() / "out" / "setting1" / "summary.json");
  CHECK(accuracy == summary["test_accuracy"].get<double>());
  // Trained (chance is 10%) but not perfect, so that a wrong W, b or normaliser would change the count.
  CHECK(accuracy > 0.3);
  CHECK(accuracy < 0.9);
}

TEST_CASE("cifar_softmax: grid ranks 36 trials run side by side", "[app][cifar_softmax]") {
  TempDir dir("cifar-grid");
  write_cifar_directory(dir.path() / "cifar", 100);
  const auto run = run_command(cifar(dir, "--preset grid --epochs 1 --threads 2"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const fs::path grid = dir.path() / "out" / "grid";
  check_results_files(grid, 36);
  CHECK(fs::exists(grid / "top10.md"));
  const auto summary = read_json(grid / "summary.json");
  CHECK(summary["trials"] == 36);
  CHECK(summary["speedup"].get<double>() > 0);
  CHECK(fs::exists(grid / "eta0.01_lambda1_batch200" / "summary.json"));
}

TEST_CASE("cifar_softmax: gradcheck preset agrees to 1e-6", "[app][cifar_softmax]") {
  TempDir dir("cifar-gradcheck");
  write_cifar_directory(dir.path() / "cifar", 100);
  const auto run = run_command(cifar(dir, "--preset gradcheck"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto report = read_json(dir.path() / "out" / "gradcheck" / "gradcheck.json");
  REQUIRE(report["cases"].size() >= 6);
  for (const auto& c : report["cases"]) {
    CHECK(c["tape_vs_reference"]["W"].get<double>() < 1e-10);
    CHECK(c["tape_vs_numerical"]["W"].get<double>() < 1e-6);
    CHECK(c["tape_vs_numerical"]["b"].get<double>() < 1e-6);
  }
}

TEST_CASE("cifar_softmax: all writes report.md with every preset", "[app][cifar_softmax]") {
  TempDir dir("cifar-all");
  write_cifar_directory(dir.path() / "cifar", 300);
  const auto run = run_command(cifar(dir, "--preset all --epochs 1"));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  std::ifstream in(dir.path() / "out" / "report.md");
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* preset : {"setting1", "setting4", "all-data", "augment", "grid", "step-decay", "bce", "gradcheck"}) {
    INFO(preset);
    CHECK(report.find(std::string("| ") + preset + " |") != std::string::npos);
  }
  CHECK(report.find("setting2/loss.png") != std::string::npos);
}

TEST_CASE("cifar_softmax: tape and reference gradients give the same curves in double", "[app][cifar_softmax]") {
  TempDir dir("cifar-paths");
  write_cifar_directory(dir.path() / "cifar", 200);
  auto metrics = [&](const std::string& grad) {
    const auto run = run_command(cifar(dir, "--preset setting3 --epochs 3 --dtype double --grad " + grad));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    std::ifstream in(dir.path() / "out" / "setting3" / "metrics.csv");
    std::vector<std::vector<double>> rows;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::vector<double> row;
      std::stringstream cells(line);
      for (std::string cell; std::getline(cells, cell, ',');) row.push_back(std::stod(cell));
      rows.push_back(row);
    }
    return rows;
  };
  const auto tape = metrics("tape");
  const auto reference = metrics("reference");
  REQUIRE(tape.size() == 4);
  REQUIRE(tape.size() == reference.size());
  double worst = 0;
  for (std::size_t i = 0; i < tape.size(); ++i)
    for (std::size_t j = 0; j < tape[i].size(); ++j) worst = std::max(worst, std::abs(tape[i][j] - reference[i][j]));
  CHECK(worst < 1e-6);
  CHECK(tape.back()[3] < tape.front()[3]);  // the training loss went down
}

TEST_CASE("cifar_softmax: bad input gets one clear message and the right exit code", "[app][cifar_softmax][errors]") {
  TempDir dir("cifar-bad");
  write_cifar_directory(dir.path() / "cifar", 100);
  const std::string app = app_path("cifar_softmax");
  const std::string out = " --out '" + (dir.path() / "out").string() + "'";

  auto missing = run_command(app + " --data '" + (dir.path() / "nowhere").string() + "'" + out);
  CHECK(missing.exit_code == 3);
  CHECK_THAT(missing.output, Catch::Contains("nowhere") && Catch::Contains("get-cifar10.sh"));

  auto negative_eta = run_command(cifar(dir, "--eta -0.1"));
  CHECK(negative_eta.exit_code == 2);
  CHECK_THAT(negative_eta.output, Catch::Contains("--eta"));
  auto zero_batch = run_command(cifar(dir, "--batch-size 0"));
  CHECK(zero_batch.exit_code == 2);
  CHECK_THAT(zero_batch.output, Catch::Contains("--batch-size"));
  auto preset = run_command(cifar(dir, "--preset huge"));
  CHECK(preset.exit_code == 2);
  CHECK_THAT(preset.output, Catch::Contains("huge") && Catch::Contains("setting1"));
  auto help = run_command(app + " --help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Catch::Contains("--lambda") && Catch::Contains("--grad"));
  // Each flag's help shows the presets' values, read from the presets themselves.
  CHECK_THAT(help.output, Catch::Contains("(default: 0.001; setting1: 0.1, step-decay: 0.01, bce: 0.01)") &&
                              Catch::Contains("(default: 0; setting3: 0.1, setting4: 1)") &&
                              Catch::Contains("(default: 0; augment: 0.5)") && Catch::Contains("(default: ce; bce: bce)"));

  // A truncated batch file names the file.
  fs::resize_file(dir.path() / "cifar" / "data_batch_2.bin", 3073 * 50 + 17);
  auto truncated = run_command(cifar(dir, "--preset setting2 --epochs 1"));
  CHECK(truncated.exit_code == 3);
  CHECK_THAT(truncated.output, Catch::Contains("data_batch_2.bin"));
  write_cifar_batch(dir.path() / "cifar" / "data_batch_2.bin", 100, 2);

  // Divergence: stops at once, names the step, keeps what was written.
  auto diverging = run_command(cifar(dir, "--preset setting1 --eta 1e38 --epochs 5"));
  INFO(diverging.output);
  CHECK(diverging.exit_code == 1);
  CHECK_THAT(diverging.output, Catch::Contains("diverged at step") && Catch::Contains("smaller learning rate"));
  CHECK(fs::exists(dir.path() / "out" / "setting1" / "metrics.csv"));
  CHECK(read_json(dir.path() / "out" / "setting1" / "summary.json")["status"] == "diverged");
}

TEST_CASE("cifar_softmax: setting2 on the real CIFAR-10 lands in the reports' band", "[app][cifar_softmax][real]") {
  const auto cifar = real_cifar10();
  if (!cifar) return;
  TempDir dir("cifar-real");
  const auto run = run_command(app_path("cifar_softmax") + " --preset setting2 --threads 1 --quiet --data '" +
                               cifar->string() + "' --out '" + (dir.path() / "out").string() + "'");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const double test = read_json(dir.path() / "out" / "setting2" / "summary.json")["test_accuracy"].get<double>();
  WARN("setting2 test accuracy on CIFAR-10: " << test);
  CHECK(test > 0.37);
  CHECK(test < 0.42);
}
