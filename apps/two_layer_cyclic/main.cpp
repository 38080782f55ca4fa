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

// The flags that override single settings of whichever preset runs (of every preset, for `all`).
// The flags that override single settings of whichever preset runs (of every preset, for `all`), each bound once
// to its setting: applied when given, and each preset's value shown in --help.
struct Overrides {
  explicit Overrides(CommandLine& c)
      : settings(c, [](const std::string& preset) { return std::optional(preset_settings(preset)); }),
        lambda(settings.bind(c.add_number<double>("--lambda",
                                                  "L2 regularisation strength; for final the lambda to train with "
                                                  "instead of the searches' best, for fine the centre of its range",
                                                  Bounds::at_least(0)),
                             &S::lambda)),
        n_s(settings.bind(
            c.add_number<long>("--n-s", "steps per half cycle", Bounds::at_least(1)), &S::n_s,
            [](const long& n_s) { return n_s; },
            [](const long& n_s) { return n_s == 0 ? std::string("2 floor(n / batch size)") : std::to_string(n_s); })),
        cycles(settings.bind(c.add_number<int>("--cycles", "cycles of the learning rate", Bounds::at_least(1)),
                             &S::cycles)),
        batch_size(settings.bind(c.add_number<int>("--batch-size", "examples per update step", Bounds::at_least(1)),
                                 &S::batch_size)),
        hidden(settings.bind(c.add_number<int>("--hidden", "hidden ReLU units m", Bounds::at_least(1)), &S::hidden)),
        eta_min(settings.bind(
            c.add_number<double>("--eta-min", "lowest learning rate of a cycle", Bounds::at_least(0)), &S::eta_min)),
        eta_max(settings.bind(c.add_number<double>("--eta-max", "highest learning rate of a cycle", Bounds::above(0)),
                              &S::eta_max)),
        eval_per_cycle(settings.bind(c.add_number<int>("--eval-per-cycle",
                                                       "evaluation points per cycle, each on the training and "
                                                       "validation sets",
                                                       Bounds::at_least(1)),
                                     &S::evaluations_per_cycle)),
        grad(settings.bind(
            c.add_choice("--grad", "gradient path: the tape or the reports' hand-derived formulas",
                         {"tape", "reference"}),
            &S::path, [](const std::string& v) { return v == "tape" ? GradientPath::tape : GradientPath::reference; },
            [](const GradientPath& path) { return std::string(to_string(path)); })),
        dtype(settings.bind(c.add_choice("--dtype", "scalar type of training", {"float", "double"}), &S::use_double,
                            [](const std::string& v) { return v == "double"; },
                            [](const bool& use_double) { return std::string(use_double ? "double" : "float"); })),
        search(c, "trials of a search (default 8 coarse, 10 fine)"),
        validation_size(settings.bind(c.add_number<int>("--validation-size",
                                                        "validation images held out of the training batches for "
                                                        "coarse, fine and final",
                                                        Bounds::at_least(1)),
                                      &S::validation_size)),
        limit_train(c.add_number<int>("--limit-train", "train on the first N training images only",
                                      Bounds::at_least(1))),
        gradcheck_features(settings.bind(
            c.add_number<int>("--gradcheck-features", "gradcheck: features of the small slice", Bounds::at_least(1)),
            &S::gradcheck_features)),
        gradcheck_examples(settings.bind(
            c.add_number<int>("--gradcheck-examples", "gradcheck: images of the small slice", Bounds::at_least(1)),
            &S::gradcheck_examples)) {}

  void apply_to(CyclicSettings& s, const CommonOptions& common) const {
    settings.apply(s);
    search.apply_to(s.search);
    limit_train.apply_to(s.train_size);
    s.seed = common.seed;
    s.threads = common.threads;
  }

  using S = CyclicSettings;
  SettingFlags<CyclicSettings> settings;
  Override<double>& lambda;
  Override<long>& n_s;
  Override<int>& cycles;
  Override<int>& batch_size;
  Override<int>& hidden;
  Override<double>& eta_min;
  Override<double>& eta_max;
  Override<int>& eval_per_cycle;
  Override<std::string>& grad;
  Override<std::string>& dtype;
  SearchFlags search;
  Override<int>& validation_size;
  Override<int>& limit_train;
  Override<int>& gradcheck_features;
  Override<int>& gradcheck_examples;
};

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
  const Overrides overrides(command_line);
  command_line.parse(argc, argv);
  configure_logging(command_line.common().verbosity);
  train::install_stop_handlers();

  const CommonOptions& common = command_line.common();
  set_thread_count(common.threads);
  RunContext context;
  context.common = common;
  if (command_line.was_given("--data")) context.data_flag = common.data_directory;
  context.output = common.output_directory;
  context.lambda_given = overrides.lambda.given();

  auto settings_for = [&](const std::string& preset) {
    CyclicSettings settings = preset_settings(preset);
    overrides.apply_to(settings, common);
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
