// mnist_logistic: logistic regression (two classes) and softmax regression (ten classes) on 28 x 28 grey images
// in IDX format, trained by mini-batch SGD with early stopping on a validation split. MNIST when --data names
// its directory, otherwise Fashion-MNIST from Debian's dataset-fashion-mnist package.
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "apps/common/app_error.h"
#include "apps/common/cli.h"
#include "apps/common/datasets.h"
#include "apps/common/experiment.h"
#include "apps/common/logging.h"
#include "apps/common/run_dir.h"
#include "apps/common/settings_table.h"
#include "apps/mnist_logistic/presets.h"
#include "apps/mnist_logistic/report.h"
#include "apps/mnist_logistic/study.h"
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps::mnist_logistic {
namespace {

bool same_directory(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  const bool same = std::filesystem::equivalent(a, b, error);
  return !error && same;
}

// The overrides of single settings, each declared once: applied to every run of a preset, and each preset's value
// shown in --help. config.json records the whole ExperimentSettings of each run.
const SettingsTable<ExperimentSettings>& settings_table() {
  using S = ExperimentSettings;
  static const auto table =
      SettingsTable<S>()
          .number("--eta", &S::eta, "learning rate", Bounds::above(0))
          .number("--lambda", &S::lambda, "L2 weight: J = C + lambda ||W||^2", Bounds::at_least(0))
          .number("--epochs", &S::epochs, "most epochs to train (early stopping may end sooner)", Bounds::at_least(1))
          .number("--batch-size", &S::batch_size, "examples per update step", Bounds::at_least(1))
          .choice("--grad", &S::path, "gradients through the tape or the reference formulas",
                  {{"tape", GradientPath::tape}, {"reference", GradientPath::reference}})
          .number("--patience", &S::patience,
                  "early stopping: validations in a row without a lower validation loss (0: off)", Bounds::at_least(0))
          .choice("--bias", &S::use_bias, "the bias term b; off holds it at 0", {{"on", true}, {"off", false}})
          .choice("--shuffle", &S::shuffle, "reshuffle the training set every epoch", {{"on", true}, {"off", false}})
          .choice("--dtype", &S::use_double, "scalar type of training", {{"float", false}, {"double", true}});
  return table;
}

int run(int argc, char** argv) {
  CommandLine command_line({.name = "mnist_logistic",
                            .summary = "Logistic regression (two classes) and softmax regression (ten classes) on "
                                       "MNIST-format images, with early stopping",
                            .presets = kPresets,
                            .default_preset = "binary",
                            .default_data_directory = kFashionMnistDirectory,
                            .default_output_directory = "runs/mnist_logistic",
                            .preset_descriptions = {
                                {"binary", "logistic regression on two classes, early stopping"},
                                {"binary-shuffle-vs-not", "binary with and without reshuffling every epoch"},
                                {"multiclass", "softmax regression over ten classes, lambda 0.001"},
                                {"lambda-sweep", "multiclass for lambda in {0, 0.001, 0.01, 0.1, 1, 2}"},
                                {"all", "every preset above, and report.md"}},
                            .search_presets = {"lambda-sweep"}});
  command_line.add_option("--dataset",
                          "what the IDX files are, for class names and the default --classes (default: mnist with "
                          "--data, fashion-mnist without)",
                          "{mnist,fashion-mnist}", choice_check({"mnist", "fashion-mnist"}));
  command_line.add_option(
      "--classes",
      "the two classes of the binary task (default: 2,3 for MNIST, 0,6 T-shirt/top vs Shirt for "
      "Fashion-MNIST)",
      "A,B");
  const auto apply_flags = settings_table().add_flags(
      command_line, [](const std::string& preset) { return std::optional(preset_settings(preset)); });
  const auto apply_study_flags =
      study_settings_table().add_flags(command_line, [](const std::string&) { return std::optional(StudyOptions{}); });
  command_line.parse(argc, argv);
  const CommonOptions& common = command_line.common();
  configure_logging(common.verbosity);
  train::install_stop_handlers();

  StudyOptions options;
  options.common = common;
  options.fallback = !command_line.was_given("--data");
  options.data_directory = options.fallback ? kFashionMnistDirectory : common.data_directory;
  if (const auto dataset = command_line.text("--dataset")) {
    options.dataset = *dataset == "mnist" ? DatasetKind::mnist : DatasetKind::fashion_mnist;
  } else {
    options.dataset = options.fallback || same_directory(options.data_directory, kFashionMnistDirectory)
                          ? DatasetKind::fashion_mnist
                          : DatasetKind::mnist;
  }
  const auto classes = command_line.text("--classes");
  options.binary_classes = classes ? parse_class_pair(*classes) : default_binary_classes(options.dataset);
  apply_study_flags(options);
  options.threads = common.threads;
  options.seed = common.seed;

  options.apply_overrides = apply_flags;
  options.flag_given = [&command_line](const std::string& flag) { return command_line.was_given(flag); };

  Study study(std::move(options));
  study.check_resource_bounds(common.preset);
  const RunDirectory out = prepare_output_directory(common);
  set_resume_mode(common.resume);
  const RunDirectory directory = common.preset == "all" ? out : out.sub_run(common.preset);
  const nlohmann::json summary = study.run(common.preset, directory);
  fmt::print("{}\nresults in {}\n", results_text(summary), directory.root().string());
  return exit_code::success;
}

}  // namespace
}  // namespace tapegrad::apps::mnist_logistic

int main(int argc, char** argv) {
  return tapegrad::apps::run_app(argc, argv, tapegrad::apps::mnist_logistic::run);
}
