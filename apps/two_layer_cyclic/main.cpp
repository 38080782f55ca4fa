// two_layer_cyclic: a two-layer ReLU network (d -> 50 -> 10) trained by mini-batch SGD with the triangular
// cyclical learning rate, on CIFAR-10 (or Fashion-MNIST when CIFAR-10 is absent): gradient checks, one and three
// cycles, coarse and fine searches for lambda, and a final run with the best lambda.
//
//   two_layer_cyclic --preset one-cycle --out runs/two_layer_cyclic
//   two_layer_cyclic --preset coarse --out runs/two_layer_cyclic --threads 2
//   two_layer_cyclic --preset fine --out runs/two_layer_cyclic      (reads coarse/results.json there)
//   two_layer_cyclic --preset final --out runs/two_layer_cyclic     (reads fine/results.json there)
//   two_layer_cyclic --preset all --out runs/two_layer_cyclic       (all of them, and report.md)

#include <spdlog/spdlog.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/cli.h"
#include "apps/common/experiment.h"
#include "apps/common/logging.h"
#include "apps/common/threads.h"
#include "apps/two_layer_cyclic/presets.h"
#include "apps/two_layer_cyclic/settings.h"
#include <tapegrad/nn/train/stop_signal.h>

namespace tapegrad::apps::two_layer_cyclic {
namespace {

int run(int argc, char** argv) {
  std::vector<std::string> presets = {"one-cycle"};
  for (const auto& name : kPresetNames)
    if (name != "one-cycle") presets.push_back(name);
  presets.push_back("all");
  CommandLine command_line({.name = "two_layer_cyclic",
                            .summary = "A two-layer ReLU network trained with cyclical learning rates on CIFAR-10 "
                                       "(Fashion-MNIST when CIFAR-10 is absent). Each preset writes its run "
                                       "directory to OUT/<preset>/; all writes every preset and OUT/report.md.",
                            .presets = presets,
                            .default_preset = "one-cycle",
                            .default_data_directory = "data/cifar-10-batches-bin",
                            .default_output_directory = "runs/two_layer_cyclic",
                            .preset_descriptions = {
                                {"gradcheck", "tape vs reference vs central differences"},
                                {"one-cycle", "one cycle, n_s 500, lambda 0.01, data_batch_1 and 2 (the default)"},
                                {"three-cycles", "three cycles, n_s 800"},
                                {"coarse", "lambda search, 45,000 images: 8 values of log10 lambda in [-5, -1]"},
                                {"fine", "10 values around the best coarse lambda"},
                                {"final", "the best lambda on 49,000 images, 3 cycles"},
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
  RunContext context;
  context.common = common;
  if (command_line.was_given("--data")) context.data_flag = common.data_directory;
  context.output = common.output_directory;
  context.lambda_given = command_line.was_given("--lambda");

  auto settings_for = [&](const std::string& preset) {
    CyclicSettings settings = preset_settings(preset);
    apply_flags(settings);
    settings.seed = common.seed;
    settings.threads = common.threads;
    return settings;
  };
  // Settings (and what they would allocate) are refused before anything is written in --out.
  if (common.preset == "all") {
    for (const auto& preset : kPresetNames) validate(settings_for(preset));
  } else {
    validate(settings_for(common.preset));
    // fine and final find what they start from (a fine shard: the merged coarse search) before --out is touched.
    check_inputs_available(settings_for(common.preset), context);
  }
  // Before any data is read: an unusable --out fails at once. Held to the end: the lock on --out lives with it.
  // The data is loaded once before anything goes into --out, so that a run refused for its data writes nothing.
  const RunDirectory output = prepare_output_directory(common, [&] {
    std::set<std::pair<CifarSplit, int>> loaded;
    for (const auto& preset : kPresetNames) {
      if (common.preset != "all" && preset != common.preset) continue;
      const CyclicSettings settings = settings_for(preset);
      if (loaded.insert({settings.split, settings.validation_size}).second) {
        load_preset_data(context.data_flag, settings);
      }
    }
  });
  set_resume_mode(common.resume);
  if (common.preset == "all") {
    run_all(settings_for, context);
  } else {
    run_preset(settings_for(common.preset), context);
  }
  return exit_code::success;
}

}  // namespace
}  // namespace tapegrad::apps::two_layer_cyclic

int main(int argc, char** argv) { return tapegrad::apps::run_app(argc, argv, tapegrad::apps::two_layer_cyclic::run); }
