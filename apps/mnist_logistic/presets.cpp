#include "apps/mnist_logistic/presets.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "apps/common/app_error.h"
#include "apps/common/run_dir.h"
#include <tapegrad/nn/data/idx.h>

namespace tapegrad::apps::mnist_logistic {

const char* to_string(DatasetKind kind) { return kind == DatasetKind::mnist ? "mnist" : "fashion-mnist"; }

const char* display_name(DatasetKind kind) { return kind == DatasetKind::mnist ? "MNIST" : "Fashion-MNIST"; }

std::vector<std::string> class_names(DatasetKind kind) {
  return kind == DatasetKind::mnist ? data::digit_class_names() : data::fashion_mnist_class_names();
}

std::vector<int> default_binary_classes(DatasetKind kind) {
  return kind == DatasetKind::mnist ? std::vector<int>{2, 3} : std::vector<int>{0, 6};
}

std::vector<int> parse_class_pair(const std::string& text) {
  const auto fail = [&] {
    throw UsageError(fmt::format("--classes: '{}' is not two different classes A,B, e.g. --classes 2,3", text));
  };
  const auto comma = text.find(',');
  if (comma == std::string::npos) fail();
  std::vector<int> classes;
  for (const std::string& part : {text.substr(0, comma), text.substr(comma + 1)}) {
    int value = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || error != std::errc() || end != part.data() + part.size()) fail();
    classes.push_back(value);
  }
  if (classes[0] == classes[1]) fail();
  for (int c : classes) {
    if (c < 0 || c > 9) {
      throw UsageError(
          fmt::format("--classes: class {} is outside 0..9 (the ten classes of MNIST-format data)", c));
    }
  }
  return classes;
}

bool is_binary_preset(const std::string& preset) {
  return preset == "binary" || preset == "binary-shuffle-vs-not";
}

namespace {

// What both tasks share: W and b from N(0, 0.01^2), mini-batches of 100 reshuffled every epoch, validation
// every 20% of an epoch and early stopping after 10 validations without a lower validation loss.
ExperimentSettings common_settings() {
  ExperimentSettings s;
  s.model = ModelKind::linear;
  s.init_std = 0.01;
  s.batch_size = 100;
  s.shuffle = true;
  s.patience = 10;
  s.evaluate_at_start = true;
  s.plot_templates = true;
  return s;
}

}  // namespace

ExperimentSettings binary_settings() {
  ExperimentSettings s = common_settings();
  s.name = "binary";
  s.loss = LossKind::binary_cross_entropy;
  // On T-shirt against shirt, eta 0.05 stops early after about 20 of the 50 epochs; eta 0.01 needs 45.
  s.eta = 0.05;
  s.lambda = 0;
  s.epochs = 50;
  s.plot_histogram = true;
  return s;
}

ExperimentSettings multiclass_settings() {
  ExperimentSettings s = common_settings();
  s.name = "multiclass";
  s.loss = LossKind::cross_entropy;
  s.eta = 0.05;
  s.lambda = 0.001;  // the smallest non-zero lambda of the sweep
  s.epochs = 50;
  return s;
}

ExperimentSettings preset_settings(const std::string& preset) {
  if (preset == "binary" || preset == "binary-shuffle-vs-not") {
    ExperimentSettings s = binary_settings();
    s.name = preset;
    return s;
  }
  if (preset == "multiclass" || preset == "lambda-sweep") {
    ExperimentSettings s = multiclass_settings();
    s.name = preset;
    return s;
  }
  throw UsageError(fmt::format("preset '{}' has no single settings", preset));
}

long evaluation_interval(long steps_per_epoch, double fraction) {
  // Past a trillion steps the interval means "never before the end"; lround would overflow.
  return std::max<long>(1, std::lround(std::min(static_cast<double>(steps_per_epoch) * fraction, 1e12)));
}

std::vector<ExperimentSettings> shuffle_trials(const ExperimentSettings& base) {
  ExperimentSettings shuffled = base;
  shuffled.name = "shuffle";
  shuffled.shuffle = true;
  ExperimentSettings in_order = base;
  in_order.name = "no-shuffle";
  in_order.shuffle = false;
  return {shuffled, in_order};
}

std::vector<ExperimentSettings> lambda_trials(const ExperimentSettings& base, const std::vector<double>& lambdas) {
  std::vector<ExperimentSettings> trials;
  for (double lambda : lambdas) {
    ExperimentSettings s = base;
    s.lambda = lambda;
    s.name = train::sub_run_name({{"lambda", lambda}});
    trials.push_back(s);
  }
  return trials;
}

}  // namespace tapegrad::apps::mnist_logistic
