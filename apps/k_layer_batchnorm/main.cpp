// k_layer_batchnorm: the course's k-layer ReLU network with batch normalisation, trained with the triangular
// cyclical learning rate on all of CIFAR-10 (45,000 training images, 5,000 validating), written on the public
// library: nn::Sequential of nn::Linear, nn::BatchNorm and nn::ReLU, the library's training loop, safetensors.
//
//   k_layer_batchnorm --preset three-layer-bn --out runs/k_layer_batchnorm
//   k_layer_batchnorm --preset nine-layer-bn --layers 50,30,20,20,10,10,10,10 --out runs/k_layer_batchnorm
//   k_layer_batchnorm --preset all --out runs/k_layer_batchnorm      (every preset and report.md)

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/cli.h"
#include "apps/common/experiment.h"
#include "apps/common/logging.h"
#include "apps/common/threads.h"
#include "apps/k_layer_batchnorm/presets.h"
#include "apps/k_layer_batchnorm/settings.h"
#include "apps/k_layer_batchnorm/training.h"
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps::k_layer_batchnorm {
namespace {

int run(int argc, char** argv) {
  std::vector<std::string> presets = {"three-layer-bn"};
  for (const auto& name : kPresetNames)
    if (name != "three-layer-bn") presets.push_back(name);
  presets.push_back("all");
  CommandLine command_line({.name = "k_layer_batchnorm",
                            .summary = "A k-layer ReLU network with batch normalisation, trained with cyclical "
                                       "learning rates on CIFAR-10 (Fashion-MNIST when CIFAR-10 is absent). Each "
                                       "preset writes OUT/<preset>/; all writes every preset and OUT/report.md.",
                            .presets = presets,
                            .default_preset = "three-layer-bn",
                            .default_data_directory = "data/cifar-10-batches-bin",
                            .default_output_directory = "runs/k_layer_batchnorm",
                            .preset_descriptions = {
                                {"gradcheck", "tape vs reference vs central differences, 2-4 layers, with and "
                                              "without batch norm"},
                                {"three-layer", "[50, 50] without batch normalisation"},
                                {"three-layer-bn", "[50, 50] with batch normalisation (the default)"},
                                {"nine-layer", "[50, 30, 20, 20, 10, 10, 10, 10] without batch normalisation"},
                                {"nine-layer-bn", "the same with batch normalisation"},
                                {"coarse", "lambda search, 8 values of log10 lambda in [-5, -1], 1 cycle each"},
                                {"fine", "lambda search around the best coarse value, 2 cycles each"},
                                {"final", "the best lambda of fine (or coarse, or --lambda), 3 cycles"},
                                {"sensitivity", "sigma in {1e-1, 1e-3, 1e-4}, with and without batch norm"},
                                {"all", "every preset above in order, and report.md"}},
                            .search_presets = {"coarse", "fine"}});
  // The flags that override single settings of whichever preset runs (of every preset, for `all`).
  const auto apply_flags = settings_table().add_flags(
      command_line, [](const std::string& preset) { return std::optional(preset_settings(preset)); });
  command_line.parse(argc, argv);
  configure_logging(command_line.common().verbosity);
  train::install_stop_handlers();
  const CommonOptions& common = command_line.common();
  set_thread_count(common.threads);
  PresetContext context;
  if (command_line.was_given("--data")) context.data_flag = common.data_directory;
  context.output = common.output_directory;
  context.lambda_given = command_line.was_given("--lambda");
  const auto settings_for = [&](const std::string& preset) {
    KLayerSettings settings = preset_settings(preset);
    apply_flags(settings);
    settings.seed = common.seed;
    settings.threads = common.threads;
    validate(settings);
    return settings;
  };
  // Every setting the run will use is checked before anything is written into --out, so that a refused run
  // leaves the directory as it was.
  if (common.preset == "all") {
    for (const auto& preset : kPresetNames) settings_for(preset);
  } else {
    check_inputs_available(settings_for(common.preset), context);
  }
  // Held to the end: the lock on --out lives with it.
  // The data is loaded once before anything goes into --out, so that a run refused for its data writes nothing.
  const RunDirectory output = prepare_output_directory(common, [&] {
    std::set<int> loaded;  // every preset trains on all batches; only the validation size can differ
    for (const auto& preset : kPresetNames) {
      if (common.preset != "all" && preset != common.preset) continue;
      const KLayerSettings settings = settings_for(preset);
      if (loaded.insert(settings.validation_size).second) load_preset_data(context.data_flag, settings);
    }
  });
  set_resume_mode(common.resume);

  std::vector<PresetRecord> records;
  if (common.preset == "all") {
    records = run_all(settings_for, context);
  } else {
    records.push_back(run_preset(settings_for(common.preset), context));
  }
  for (const auto& r : records) {
    if (r.summary.contains("passed") && !r.summary["passed"].get<bool>()) return exit_code::failure;
  }
  return exit_code::success;
}

}  // namespace
}  // namespace tapegrad::apps::k_layer_batchnorm

int main(int argc, char** argv) {
  return tapegrad::apps::run_app(argc, argv, tapegrad::apps::k_layer_batchnorm::run);
}
