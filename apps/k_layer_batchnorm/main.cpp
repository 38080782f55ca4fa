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

// The flags that override single settings of whichever preset runs, each bound once to its setting: applied when
// given, and each preset's value shown in --help.
struct Overrides {
  explicit Overrides(CommandLine& c)
      : settings(c, [](const std::string& preset) { return std::optional(preset_settings(preset)); }),
        layers(settings.bind(
            c.add_text("--layers", "hidden layer sizes, e.g. 50,50 (the 3-layer network)", "SIZES"),
            &S::hidden_layers, [](const std::string& text) { return parse_layers(text); },
            [](const std::vector<int>& sizes) { return fmt::format("{}", fmt::join(sizes, ",")); })),
        bn(settings.bind(c.add_choice("--bn", "batch normalisation of every hidden layer", {"on", "off"}),
                         &S::batch_norm, [](const std::string& v) { return v == "on"; })),
        lambda(settings.bind(c.add_number<double>("--lambda",
                                                  "L2 strength on every W; for final the lambda to train with "
                                                  "instead of the searches' best, for fine the centre of its range",
                                                  Bounds::at_least(0)),
                             &S::lambda)),
        sigma(c.add_number<double>("--sigma", "draw every W from N(0, sigma^2) instead of He initialisation",
                                   Bounds::above(0))),
        n_s(settings.bind(c.add_number<long>("--n-s", "steps per half cycle", Bounds::at_least(1)), &S::n_s)),
        cycles(settings.bind(c.add_number<int>("--cycles", "cycles of the learning rate", Bounds::at_least(1)),
                             &S::cycles)),
        batch_size(settings.bind(c.add_number<int>("--batch-size", "examples per update step", Bounds::at_least(2)),
                                 &S::batch_size)),
        eta_min(settings.bind(c.add_number<double>("--eta-min", "lowest learning rate", Bounds::at_least(0)),
                              &S::eta_min)),
        eta_max(settings.bind(c.add_number<double>("--eta-max", "highest learning rate", Bounds::above(0)),
                              &S::eta_max)),
        alpha(settings.bind(c.add_number<double>("--alpha", "running averages: mu_av = alpha mu_av + (1 - alpha) mu",
                                                 Bounds::between(0.0, 1.0).intersect(Bounds::below(1.0))),
                            &S::alpha)),
        eps(settings.bind(c.add_number<double>("--eps", "added to the variance (2.2e-16 is Matlab's eps)",
                                               Bounds::above(0)),
                          &S::eps)),
        eval_per_cycle(settings.bind(
            c.add_number<int>("--eval-per-cycle", "evaluation points per cycle", Bounds::at_least(1)),
            &S::evaluations_per_cycle)),
        search(c, "trials of a search (default 8)"),
        validation_size(settings.bind(c.add_number<int>("--validation-size", "images of the five batches that validate",
                                                        Bounds::at_least(1)),
                                      &S::validation_size)),
        grad(settings.bind(
            c.add_choice("--grad", "gradient path: the tape or the reports' hand-derived formulas",
                         {"tape", "reference"}),
            &S::gradients,
            [](const std::string& v) { return v == "tape" ? GradientSource::tape : GradientSource::reference; },
            [](const GradientSource& g) { return std::string(g == GradientSource::tape ? "tape" : "reference"); })),
        dtype(settings.bind(c.add_choice("--dtype", "scalar type of training", {"float", "double"}), &S::use_double,
                            [](const std::string& v) { return v == "double"; },
                            [](const bool& use_double) { return std::string(use_double ? "double" : "float"); })),
        limit_train(c.add_number<int>("--limit-train", "train on the first N training images only",
                                      Bounds::at_least(1))) {}

  void apply_to(KLayerSettings& s, const CommonOptions& common) const {
    settings.apply(s);
    sigma.apply_to(s.sigma);
    search.apply_to(s.search);
    limit_train.apply_to(s.train_size);
    s.seed = common.seed;
    s.threads = common.threads;
  }

  using S = KLayerSettings;
  SettingFlags<KLayerSettings> settings;
  Override<std::string>& layers;
  Override<std::string>& bn;
  Override<double>& lambda;
  Override<double>& sigma;
  Override<long>& n_s;
  Override<int>& cycles;
  Override<int>& batch_size;
  Override<double>& eta_min;
  Override<double>& eta_max;
  Override<double>& alpha;
  Override<double>& eps;
  Override<int>& eval_per_cycle;
  SearchFlags search;
  Override<int>& validation_size;
  Override<std::string>& grad;
  Override<std::string>& dtype;
  Override<int>& limit_train;
};

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
  const Overrides overrides(command_line);
  command_line.parse(argc, argv);
  configure_logging(command_line.common().verbosity);
  train::install_stop_handlers();
  const CommonOptions& common = command_line.common();
  set_thread_count(common.threads);
  PresetContext context;
  if (command_line.was_given("--data")) context.data_flag = common.data_directory;
  context.output = common.output_directory;
  context.lambda_given = overrides.lambda.given();
  const auto settings_for = [&](const std::string& preset) {
    KLayerSettings settings = preset_settings(preset);
    overrides.apply_to(settings, common);
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
