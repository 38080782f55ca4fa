// The mnist_logistic app, run as a program on small MNIST-format files written here: every preset's outputs, the
// study's settings (classes, scaling, bias, shuffling, validation split and interval, early stopping), the exit
// codes for bad usage and bad data, and, when Debian's Fashion-MNIST is installed, a short run on it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/safetensors.h>

#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using nlohmann::json;
using tapegrad::Generator;
using tapegrad::testing::read_bytes;
using tapegrad::testing::read_json;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
using tapegrad::testing::all_classes;
using tapegrad::testing::Images;
using tapegrad::testing::synthetic_images;
using tapegrad::testing::write_mnist;
using tapegrad::testing::check_results_files;
using tapegrad::testing::write_split;

namespace {

const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

// Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about "'" + text + "'".
std::string quoted(const std::string& text) {
  std::string result = "'";
  result += text;
  result += '\'';
  return result;
}
std::string quoted(const fs::path& path) { return quoted(path.string()); }

using Outcome = tapegrad::testing::CommandResult;

Outcome run_app(const TempDir& temp, const std::string& arguments) {
  return tapegrad::testing::run_command(quoted(tapegrad::testing::app_path("mnist_logistic")) + " " + arguments,
                                        temp.path());
}


// metrics.csv as columns by name.
std::map<std::string, std::vector<double>> read_metrics(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  std::stringstream header(line);
  for (std::string name; std::getline(header, name, ',');) names.push_back(name);
  std::map<std::string, std::vector<double>> columns;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::size_t i = 0;
    for (std::string cell; std::getline(row, cell, ','); ++i) columns[names.at(i)].push_back(std::stod(cell));
  }
  return columns;
}

bool is_png(const fs::path& file) {
  if (!fs::exists(file) || fs::file_size(file) < 100) return false;
  return read_bytes(file).substr(0, 8) == "\x89PNG\r\n\x1a\n";
}

void require_run_files(const fs::path& run) {
  for (const char* file : {"config.json", "metrics.csv", "summary.json", "checkpoint.bin"}) {
    INFO(run / file);
    CHECK(fs::exists(run / file));
  }
  for (const char* plot : {"loss.png", "cost.png", "accuracy.png", "templates.png"}) {
    INFO(run / plot);
    CHECK(is_png(run / plot));
  }
}

}  // namespace

TEST_CASE("mnist_logistic --help lists the presets and the study's flags", "[app][mnist_logistic]") {
  TempDir temp("mnist_help");
  const Outcome outcome = run_app(temp, "--help");
  REQUIRE(outcome.exit_code == 0);
  for (const char* text :
       {"binary-shuffle-vs-not", "lambda-sweep", "multiclass", "--classes", "--scaling", "--bias", "--shuffle",
        "--patience", "--validation-fraction", "--eval-every", "--grad"}) {
    INFO(text);
    CHECK(outcome.output.find(text) != std::string::npos);
  }
}

TEST_CASE("mnist_logistic binary: logistic regression on two chosen classes of MNIST-format data",
          "[app][mnist_logistic]") {
  TempDir temp("mnist_binary");
  write_mnist(temp / "data", 1000, 300, 11);
  const fs::path out = temp / "out" / "binary";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out.parent_path()) +
                                            " --preset binary --epochs 4 --eta 0.05 "
                                            "--threads 2 --seed 5");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  require_run_files(out);
  CHECK(is_png(out / "true_class_probability.png"));

  const json summary = read_json(out / "summary.json");
  for (const char* key : {"train_accuracy", "val_accuracy", "test_accuracy", "stopped_epoch"}) {
    INFO(key);
    REQUIRE(summary.contains(key));
  }
  // The bars of classes 2 and 3 do not overlap: a trained logistic regression separates them.
  CHECK(summary["train_accuracy"].get<double>() > 0.95);
  CHECK(summary["test_accuracy"].get<double>() > 0.95);
  CHECK(summary["dataset"] == "MNIST");
  CHECK(summary["classes"] == json({"2", "3"}));
  CHECK(summary["gradient_check"]["worst_relative_error"].get<double>() < 1e-8);
  CHECK(summary["gradient_check"]["parameters"]["linear.weight"]["max_abs_gradient"].get<double>() > 1e-3);

  // Only the images of classes 2 and 3, with 10% of the training ones held out to validate.
  const json config = read_json(out / "config.json");
  const int train = config["train_examples"];
  const int validation = config["validation_examples"];
  CHECK(config["loss"] == "binary");
  CHECK(validation == static_cast<int>(std::lround(0.1 * (train + validation))));
  CHECK(train + validation < 400);  // about a fifth of 1000
  CHECK(train + validation > 100);
  CHECK(config["study"]["scaling"] == "unit");
  CHECK(config["study"]["pixel_range"] == "[0, 1]");
  CHECK(config["study"]["fallback"] == false);

  // Validation every 20% of an epoch.
  const auto metrics = read_metrics(out / "metrics.csv");
  const long steps_per_epoch = config["steps_per_epoch"];
  const long interval = config["evaluate_every_steps"];
  CHECK(interval == std::max(1L, std::lround(0.2 * static_cast<double>(steps_per_epoch))));
  REQUIRE(metrics.at("step").size() >= 3);
  CHECK(metrics.at("step")[0] == 0);
  CHECK(metrics.at("step")[1] == interval);
  CHECK(metrics.at("step")[2] == 2 * interval);
  CHECK(outcome.output.find("MNIST") != std::string::npos);

  // One sigmoid output over 784 pixels, with the [0, 1] scaling stored as mean 0 and std 1.
  const auto model = tapegrad::nn::load_safetensors<double>(out / "model.safetensors");
  CHECK(model.tensors.names() ==
        std::vector<std::string>{"linear.weight", "linear.bias", "normalizer.mean", "normalizer.std"});
  CHECK(model.tensors.at("linear.weight").rows() == 1);
  CHECK(model.tensors.at("linear.weight").cols() == 784);
  CHECK(model.tensors.at("normalizer.mean").rows() == 784);
  CHECK(model.tensors.at("normalizer.mean").isZero());
  CHECK(model.tensors.at("normalizer.std").isOnes());
  CHECK(model.metadata.at("app") == "mnist_logistic");
  CHECK(model.metadata.at("classes") == R"(["2","3"])");
}

TEST_CASE("mnist_logistic stops early, restores the best weights and reports the epoch", "[app][mnist_logistic]") {
  TempDir temp("mnist_early");
  // Only classes 2 and 3; the last tenth of the training file (the validation split) has its labels swapped, so
  // the better the model fits the training images, the worse its validation loss: the best is at the start.
  fs::create_directories(temp / "data");
  Generator generator(3);
  Images train = synthetic_images(500, generator, {2, 3});
  for (std::size_t i = 450; i < 500; ++i) train.labels[i] = 5 - train.labels[i];
  write_split(temp / "data", "train", train);
  write_split(temp / "data", "t10k", synthetic_images(100, generator, {2, 3}));

  const fs::path out = temp / "out" / "binary";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out.parent_path()) +
                                            " --preset binary --epochs 50 --patience 3 --eta 0.05 --threads 1");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  const json summary = read_json(out / "summary.json");
  const json config = read_json(out / "config.json");
  CHECK(config["validation_examples"] == 50);
  REQUIRE(summary["early_stopped"] == true);
  const double stopped_epoch = summary["stopped_epoch"];
  CHECK(stopped_epoch < 50);

  const auto metrics = read_metrics(out / "metrics.csv");
  const auto& validation_loss = metrics.at("val_loss");
  const auto best = std::min_element(validation_loss.begin(), validation_loss.end()) - validation_loss.begin();
  // Three validations without improvement after the best one, then the stop.
  CHECK(validation_loss.size() - 1 - static_cast<std::size_t>(best) == 3);
  CHECK(metrics.at("epoch").back() == Approx(stopped_epoch));
  CHECK(summary["best_epoch"].get<double>() == Approx(metrics.at("epoch")[static_cast<std::size_t>(best)]));
  // The weights kept are the best ones: the final validation loss is the smallest seen, not the last.
  CHECK(summary["validation"]["loss"].get<double>() ==
        Approx(validation_loss[static_cast<std::size_t>(best)]).epsilon(1e-5));
  CHECK(validation_loss.back() > validation_loss[static_cast<std::size_t>(best)]);
  CHECK(outcome.output.find("early stopping at epoch") != std::string::npos);
}

TEST_CASE("mnist_logistic --bias off holds b at 0 while --scaling symmetric and --grad reference train as well",
          "[app][mnist_logistic]") {
  TempDir temp("mnist_bias");
  write_mnist(temp / "data", 600, 200, 21);
  const std::string data =
      " --data " + quoted(temp / "data") + " --preset binary --epochs 3 --eta 0.05 --threads 1";

  const Outcome with_bias = run_app(temp, "--out " + quoted(temp / "with") + data);
  REQUIRE(with_bias.exit_code == 0);
  const Outcome without_bias = run_app(temp, "--out " + quoted(temp / "without") + data + " --bias off");
  INFO(without_bias.output);
  REQUIRE(without_bias.exit_code == 0);
  auto bias_of = [](const fs::path& run) {
    const auto checkpoint = tapegrad::train::load_checkpoint<float>(run / "checkpoint.bin");
    for (const auto& entry : checkpoint.module_state)
      if (entry.name == "linear.bias") return static_cast<double>(entry.value(0, 0));
    FAIL("no linear.bias in " << run);
    return 0.0;
  };
  CHECK(bias_of(temp / "with" / "binary") != 0.0);
  CHECK(bias_of(temp / "without" / "binary") == 0.0);
  CHECK(read_json(temp / "without" / "binary" / "config.json")["bias"] == false);
  CHECK(read_json(temp / "without" / "binary" / "summary.json")["test_accuracy"].get<double>() > 0.9);

  const Outcome symmetric = run_app(temp, "--out " + quoted(temp / "symmetric") + data + " --scaling symmetric");
  REQUIRE(symmetric.exit_code == 0);
  CHECK(read_json(temp / "symmetric" / "binary" / "config.json")["study"]["pixel_range"] == "[-1, 1]");
  CHECK(read_json(temp / "symmetric" / "binary" / "summary.json")["test_accuracy"].get<double>() > 0.9);

  // The reference formulas give the tape's numbers: in double, the same training to rounding.
  const Outcome tape = run_app(temp, "--out " + quoted(temp / "tape") + data + " --dtype double --grad tape");
  REQUIRE(tape.exit_code == 0);
  const Outcome reference =
      run_app(temp, "--out " + quoted(temp / "reference") + data + " --dtype double --grad reference");
  REQUIRE(reference.exit_code == 0);
  CHECK(read_json(temp / "reference" / "binary" / "config.json")["grad"] == "reference");
  const auto tape_metrics = read_metrics(temp / "tape" / "binary" / "metrics.csv");
  const auto reference_metrics = read_metrics(temp / "reference" / "binary" / "metrics.csv");
  REQUIRE(tape_metrics.at("val_loss").size() == reference_metrics.at("val_loss").size());
  REQUIRE(tape_metrics.at("val_loss").size() > 3);
  for (const char* column : {"train_loss", "val_loss", "val_accuracy"}) {
    for (std::size_t i = 0; i < tape_metrics.at(column).size(); ++i) {
      INFO(column << " row " << i);
      CHECK(reference_metrics.at(column)[i] == Approx(tape_metrics.at(column)[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("mnist_logistic binary-shuffle-vs-not runs both orders side by side and draws both curves",
          "[app][mnist_logistic]") {
  TempDir temp("mnist_shuffle");
  write_mnist(temp / "data", 800, 200, 31);
  const fs::path out = temp / "out" / "binary-shuffle-vs-not";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out.parent_path()) +
                                            " --preset binary-shuffle-vs-not --epochs 3 --threads 2");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  require_run_files(out / "shuffle");
  require_run_files(out / "no-shuffle");
  CHECK(is_png(out / "validation_loss.png"));
  CHECK(is_png(out / "validation_accuracy.png"));
  CHECK(read_json(out / "shuffle" / "config.json")["shuffle"] == true);
  CHECK(read_json(out / "no-shuffle" / "config.json")["shuffle"] == false);

  const json summary = read_json(out / "summary.json");
  REQUIRE(summary["runs"].size() == 2);
  CHECK(summary["workers"] == 2);
  CHECK(summary["wall_seconds"].get<double>() > 0);
  CHECK(summary.contains("speedup"));
  CHECK(summary.contains("test_accuracy"));
  // Same start, different batches: the curves agree at step 0 and part afterwards.
  const auto shuffled = read_metrics(out / "shuffle" / "metrics.csv");
  const auto in_order = read_metrics(out / "no-shuffle" / "metrics.csv");
  CHECK(shuffled.at("val_loss").front() == in_order.at("val_loss").front());
  CHECK(shuffled.at("val_loss").back() != in_order.at("val_loss").back());
}

TEST_CASE("mnist_logistic multiclass: softmax regression over ten classes with L2", "[app][mnist_logistic]") {
  TempDir temp("mnist_multiclass");
  write_mnist(temp / "data", 1500, 300, 41);
  const fs::path out = temp / "out" / "multiclass";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out.parent_path()) +
                                            " --preset multiclass --epochs 3 --eta 0.05 --limit-train 1000");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  require_run_files(out);
  const json config = read_json(out / "config.json");
  CHECK(config["loss"] == "ce");
  CHECK(config["train_examples"] == 900);  // the first 1000 images, the last 100 of them validate
  CHECK(config["validation_examples"] == 100);
  CHECK(config["lambda"].get<double>() > 0);
  const json summary = read_json(out / "summary.json");
  CHECK(summary["classes"].size() == 10);
  CHECK(summary["test_accuracy"].get<double>() > 0.8);
  CHECK(summary["gradient_check"]["worst_relative_error"].get<double>() < 1e-8);
  // The cost is the loss plus lambda ||W||^2.
  CHECK(summary["train"]["cost"].get<double>() > summary["train"]["loss"].get<double>());
}

TEST_CASE("mnist_logistic lambda-sweep: six lambdas side by side, weights drawn, norms shrinking",
          "[app][mnist_logistic]") {
  TempDir temp("mnist_sweep");
  write_mnist(temp / "data", 700, 200, 51);
  const fs::path out = temp / "out" / "lambda-sweep";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out.parent_path()) +
                                            " --preset lambda-sweep --epochs 3 --eta 0.05 --threads 2");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  for (const char* plot : {"validation_accuracy.png", "weight_norm.png", "weights.png"}) {
    INFO(plot);
    CHECK(is_png(out / plot));
  }
  const json summary = read_json(out / "summary.json");
  REQUIRE(summary["runs"].size() == 6);
  std::map<double, double> norm_of;
  for (const json& run : summary["runs"]) {
    REQUIRE_FALSE(run.contains("error"));
    norm_of[run["lambda"].get<double>()] = run["weight_norm"].get<double>();
    CHECK(fs::exists(out / run["name"].get<std::string>() / "templates.png"));
  }
  CHECK(norm_of.size() == 6);
  CHECK(norm_of.count(0.0) == 1);
  CHECK(norm_of.count(2.0) == 1);
  // The L2 term pulls the weights in: the largest lambda ends with the smallest norm.
  CHECK(norm_of.at(2.0) < norm_of.at(0.1));
  CHECK(norm_of.at(0.1) < norm_of.at(0.0));
  CHECK(summary["workers"] == 2);
  CHECK(summary["trial_seconds_sum"].get<double>() > 0);
  check_results_files(out, 6);
  CHECK(read_json(out / "results.json")["best"] == summary["best_run"]);
}

TEST_CASE("mnist_logistic all runs every preset and writes report.md", "[app][mnist_logistic]") {
  TempDir temp("mnist_all");
  write_mnist(temp / "data", 500, 100, 61);
  const fs::path out = temp / "out";
  const Outcome outcome = run_app(temp, "--data " + quoted(temp / "data") + " --out " + quoted(out) +
                                            " --preset all --epochs 2 --eta 0.05 --threads 2");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  const json summary = read_json(out / "summary.json");
  const std::string report = read_bytes(out / "report.md");
  for (const char* preset : {"binary", "binary-shuffle-vs-not", "multiclass", "lambda-sweep"}) {
    INFO(preset);
    CHECK(fs::exists(out / preset / "summary.json"));
    CHECK(summary["presets"].contains(preset));
    CHECK(report.find(std::string("--preset ") + preset) != std::string::npos);
  }
  CHECK(summary.contains("test_accuracy"));
  CHECK(report.find("stopped at epoch") != std::string::npos);
  CHECK(report.find("binary/loss.png") != std::string::npos);
  // The sweep varies lambda: its settings line sends the reader to the table.
  CHECK(report.find("lambda per run (see the table)") != std::string::npos);
  // The closing table on stdout has a row per run of every preset.
  for (const char* run : {"no-shuffle", "lambda0.001", "multiclass"}) {
    INFO(run);
    CHECK(outcome.output.find(std::string("  ") + run + " ") != std::string::npos);
  }
}

TEST_CASE("mnist_logistic exit codes: bad usage is 2, missing or bad data is 3", "[app][mnist_logistic]") {
  TempDir temp("mnist_errors");
  write_mnist(temp / "data", 300, 100, 71);
  const std::string data = " --data " + quoted(temp / "data") + " --out " + quoted(temp / "out");

  SECTION("bad usage") {
    for (const std::string arguments :
         {"--eta -1", "--eta 0", "--preset nonsense", "--classes 3,3", "--classes 2,x", "--classes 12,3",
          "--classes 2", "--validation-fraction 1.5", "--batch-size 0", "--scaling other", "--bias maybe",
          "--lambda -0.1", "--eval-every 0", "--no-such-flag"}) {
      INFO(arguments);
      const Outcome outcome = run_app(temp, arguments + data);
      CHECK(outcome.exit_code == 2);
      CHECK(outcome.output.find("error:") != std::string::npos);
    }
  }
  SECTION("too few images for the validation split") {
    const Outcome outcome = run_app(temp, "--limit-train 2 --validation-fraction 0.1" + data);
    CHECK(outcome.exit_code == 2);
  }
  SECTION("missing data directory") {
    const Outcome outcome = run_app(temp, "--data " + quoted(temp / "nowhere") + " --out " + quoted(temp / "out"));
    CHECK(outcome.exit_code == 3);
    CHECK(outcome.output.find("nowhere") != std::string::npos);
  }
  SECTION("truncated images file") {
    const std::string images = read_bytes(temp / "data" / "train-images-idx3-ubyte");
    write_bytes(temp / "data" / "train-images-idx3-ubyte", images.substr(0, images.size() / 2));
    const Outcome outcome = run_app(temp, data);
    CHECK(outcome.exit_code == 3);
    CHECK(outcome.output.find("train-images-idx3-ubyte") != std::string::npos);
  }
  SECTION("a chosen class with no training image") {
    write_mnist(temp / "few", 300, 100, 72, {0, 1, 2, 3, 4});
    const Outcome outcome =
        run_app(temp, "--classes 8,9 --data " + quoted(temp / "few") + " --out " + quoted(temp / "out"));
    CHECK(outcome.exit_code == 3);
    CHECK(outcome.output.find("class 8") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(temp / "out" / "binary" / "summary.json"));
  CHECK_FALSE(fs::exists(temp / "out" / "summary.json"));
}

TEST_CASE("mnist_logistic on Debian's Fashion-MNIST when --data is not given", "[app][mnist_logistic][real]") {
  if (!fs::exists(kFashionMnist / "train-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST is not in " << kFashionMnist << " (Debian's dataset-fashion-mnist package): skipped");
    return;
  }
  TempDir temp("mnist_fashion");
  const fs::path out = temp / "out" / "binary";  // the run's directory, OUT/<preset>
  const Outcome outcome = run_app(temp, "--out " + quoted(out.parent_path()) + " --preset binary --epochs 2 --threads 2");
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  CHECK(outcome.output.find("Fashion-MNIST from /usr/share/datasets/fashion-mnist") != std::string::npos);
  const json summary = read_json(out / "summary.json");
  CHECK(summary["dataset"] == "Fashion-MNIST");
  CHECK(summary["classes"] == json({"T-shirt/top", "Shirt"}));
  const json config = read_json(out / "config.json");
  CHECK(config["train_examples"] == 10800);  // 6000 T-shirts and 6000 shirts, less a tenth to validate
  CHECK(config["test_examples"] == 2000);
  CHECK(config["study"]["fallback"] == true);
  // T-shirt against shirt is the hardest pair for a linear model: well above chance, well below perfect.
  const double test_accuracy = summary["test_accuracy"];
  CHECK(test_accuracy > 0.72);
  CHECK(test_accuracy < 0.95);
}
