#include "apps/two_layer_cyclic/settings.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include <tapegrad/nn/data/cifar10.h>

#include "apps/common/app_error.h"

namespace tapegrad::apps::two_layer_cyclic {

CyclicSettings preset_settings(const std::string& preset) {
  CyclicSettings s;
  s.preset = preset;
  if (preset == "gradcheck" || preset == "one-cycle") return s;
  if (preset == "three-cycles") {
    s.n_s = 800;
    s.cycles = 3;
    return s;
  }
  if (preset == "coarse" || preset == "fine") {
    s.split = CifarSplit::all_batches;
    s.validation_size = 5000;
    s.train_size = 45000;
    s.n_s = 0;
    s.cycles = 2;
    s.search.trials = preset == "coarse" ? 8 : 10;
    return s;
  }
  if (preset == "final") {
    s.split = CifarSplit::all_batches;
    s.validation_size = 1000;
    s.train_size = 49000;
    s.n_s = 0;
    s.cycles = 3;
    return s;
  }
  throw UsageError(fmt::format("--preset: unknown preset '{}'; valid presets: {}, all", preset,
                               fmt::join(kPresetNames, ", ")));
}

long resolved_step_size(const CyclicSettings& settings, long training_examples) {
  if (settings.n_s > 0) return settings.n_s;
  return std::max<long>(1, 2 * (training_examples / settings.batch_size));
}

ExperimentSettings experiment_settings(const CyclicSettings& settings, long training_examples,
                                       const std::string& name) {
  ExperimentSettings e;
  e.name = name;
  e.model = ModelKind::two_layer;
  e.loss = LossKind::cross_entropy;
  e.hidden = settings.hidden;
  e.lambda = settings.lambda;
  e.batch_size = settings.batch_size;
  e.path = settings.path;
  e.schedule = ScheduleKind::cyclic;
  e.eta_min = settings.eta_min;
  e.eta_max = settings.eta_max;
  // The SGD rate of the constant schedules is unused here, but validate() wants it positive.
  e.eta = settings.eta_max > 0 ? settings.eta_max : 1.0;
  e.n_s = resolved_step_size(settings, training_examples);
  e.cycles = settings.cycles;
  // 2 n_s / evaluations, without overflowing for an n_s that check_bounds is about to refuse.
  e.evaluate_every_steps = std::max<long>(
      1, e.n_s > std::numeric_limits<long>::max() / 2 ? e.n_s / settings.evaluations_per_cycle * 2
                                                      : 2 * e.n_s / settings.evaluations_per_cycle);
  e.evaluate_at_start = true;
  e.use_double = settings.use_double;
  e.seed = settings.seed;
  e.threads = settings.threads;
  e.plot_templates = false;  // W1 holds 50 hidden units, not one template per class
  return e;
}

void validate(const CyclicSettings& s) {
  auto fail = [](const std::string& what) { throw UsageError(what); };
  if (!(s.eta_min >= 0 && s.eta_max > 0 && s.eta_max >= s.eta_min)) {
    fail(fmt::format("--eta-min ({}) must not be larger than --eta-max ({})", s.eta_min, s.eta_max));
  }
  if (s.evaluations_per_cycle < 1) fail(fmt::format("--eval-per-cycle must be >= 1, got {}", s.evaluations_per_cycle));
  validate(s.search);
  if (s.preset != "gradcheck") check_resource_bounds(s);
}

void check_resource_bounds(const CyclicSettings& s) {
  // Checked before the data is read, so against the largest training set the app can be given.
  const long examples = s.train_size > 0 ? std::min<long>(s.train_size, kLargestTrainingSet) : kLargestTrainingSet;
  const ExperimentSettings e = experiment_settings(s, examples, s.preset);
  ExperimentFlags flags;
  flags.steps = s.n_s > 0 ? FlagValues{{"--n-s", s.n_s}, {"--cycles", s.cycles}}
                          : FlagValues{{"--batch-size", s.batch_size}, {"--cycles", s.cycles}};
  flags.evaluations = {{"--cycles", s.cycles}, {"--eval-per-cycle", s.evaluations_per_cycle}};
  if (2 * Amount(e.n_s).value() < static_cast<std::uint64_t>(s.evaluations_per_cycle)) {
    flags.evaluations = flags.steps;  // an evaluation after every step: the steps decide
  }
  flags.model = {{"--hidden", s.hidden}};
  flags.batch = {{"--batch-size", s.batch_size}};
  const bool search = s.preset == "coarse" || s.preset == "fine";
  if (search) ResourceEstimate().require_trials(Amount(s.search.trials), {{"--count", s.search.trials}});
  check_bounds(e, examples, kLargestImageValues, data::cifar10_num_classes, flags,
               search ? std::min(s.threads, s.search.trials) : 1);
}

nlohmann::json to_json(const CyclicSettings& s) {
  nlohmann::json json = {{"preset", s.preset},
          {"split", s.split == CifarSplit::batch1_batch2 ? "data_batch_1 / data_batch_2" : "all training batches"},
          {"validation_size", s.validation_size},
          {"train_size", s.train_size},
          {"hidden", s.hidden},
          {"lambda", s.lambda},
          {"n_s", s.n_s},
          {"cycles", s.cycles},
          {"batch_size", s.batch_size},
          {"eta_min", s.eta_min},
          {"eta_max", s.eta_max},
          {"eval_per_cycle", s.evaluations_per_cycle},
          {"grad", to_string(s.path)},
          {"dtype", s.use_double ? "double" : "float"},
          {"gradcheck_features", s.gradcheck_features},
          {"gradcheck_examples", s.gradcheck_examples},
          {"seed", s.seed},
          {"threads", s.threads}};
  add_to_json(json, s.search);
  return json;
}

ImageSplits load_preset_data(const std::optional<std::filesystem::path>& data_flag, const CyclicSettings& settings) {
  ImageSplits splits = load_image_splits(data_flag, settings.split, settings.validation_size);
  if (settings.train_size > 0 && splits.train.size() > settings.train_size) {
    const int available = splits.train.size();
    splits.train = data::slice(splits.train, 0, settings.train_size);
    splits.description += fmt::format("; training on the first {} of its {} training images", settings.train_size,
                                      available);
  } else if (settings.train_size > 0 && splits.train.size() < settings.train_size) {
    spdlog::debug("up to {} training images asked for, the data has {}: training on all of them",
                  settings.train_size, splits.train.size());
  }
  return splits;
}

}  // namespace tapegrad::apps::two_layer_cyclic
