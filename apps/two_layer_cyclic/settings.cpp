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
  settings_table().validate(s);
  if (!(s.eta_max >= s.eta_min)) {
    throw UsageError(fmt::format("--eta-min ({}) must not be larger than --eta-max ({})", s.eta_min, s.eta_max));
  }
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
  const bool search = s.preset == "coarse" || s.preset == "fine";
  if (search) ResourceEstimate().require_trials(Amount(s.search.trials), {{"--count", s.search.trials}});
  check_bounds(e, examples, kLargestImageValues, data::cifar10_num_classes, flags,
               search ? std::min(s.threads, s.search.trials) : 1);
}

const SettingsTable<CyclicSettings>& settings_table() {
  using S = CyclicSettings;
  static const auto table =
      SettingsTable<S>()
          .number("--lambda", &S::lambda,
                  "L2 regularisation strength; for final the lambda to train with instead of the searches' best, "
                  "for fine the centre of its range",
                  Bounds::at_least(0))
          .number("--n-s", &S::n_s, "steps per half cycle (0: 2 floor(n / batch size), n the training images)",
                  Bounds::at_least(0))
          .number("--cycles", &S::cycles, "cycles of the learning rate", Bounds::at_least(1))
          .number("--batch-size", &S::batch_size, "examples per update step", Bounds::at_least(1))
          .number("--hidden", &S::hidden, "hidden ReLU units m", Bounds::at_least(1))
          .number("--eta-min", &S::eta_min, "lowest learning rate of a cycle", Bounds::at_least(0))
          .number("--eta-max", &S::eta_max, "highest learning rate of a cycle", Bounds::above(0))
          .number("--eval-per-cycle", &S::evaluations_per_cycle,
                  "evaluation points per cycle, each on the training and validation sets", Bounds::at_least(1))
          .choice("--grad", &S::path, "gradient path: the tape or the reports' hand-derived formulas",
                  {{"tape", GradientPath::tape}, {"reference", GradientPath::reference}})
          .choice("--dtype", &S::use_double, "scalar type of training", {{"float", false}, {"double", true}})
          .with(search_settings(&S::search))
          .number("--validation-size", &S::validation_size,
                  "validation images held out of the training batches for coarse, fine and final",
                  Bounds::at_least(1))
          .number("--limit-train", &S::train_size, "train on the first N training images only (0: all)",
                  Bounds::at_least(0))
          .number("--gradcheck-features", &S::gradcheck_features, "gradcheck: features of the small slice",
                  Bounds::at_least(1))
          .number("--gradcheck-examples", &S::gradcheck_examples, "gradcheck: images of the small slice",
                  Bounds::at_least(1))
          .record("preset", &S::preset)
          .computed("split",
                    [](const S& s) {
                      return s.split == CifarSplit::batch1_batch2 ? "data_batch_1 / data_batch_2"
                                                                  : "all training batches";
                    })
          .record("seed", &S::seed)
          .record("threads", &S::threads);
  return table;
}

nlohmann::json to_json(const CyclicSettings& s) { return settings_table().to_json(s); }

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
