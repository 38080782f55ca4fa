#include "apps/k_layer_batchnorm/settings.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "apps/common/app_error.h"
#include "apps/common/bounds.h"

namespace tapegrad::apps::k_layer_batchnorm {

KLayerSettings preset_settings(const std::string& preset) {
  KLayerSettings s;
  s.preset = preset;
  if (preset == "three-layer") {
    s.batch_norm = false;
  } else if (preset == "three-layer-bn" || preset == "gradcheck" || preset == "sensitivity") {
  } else if (preset == "nine-layer" || preset == "nine-layer-bn") {
    s.hidden_layers = {50, 30, 20, 20, 10, 10, 10, 10};
    s.batch_norm = preset == "nine-layer-bn";
  } else if (preset == "coarse") {
    s.cycles = 1;  // a first look: one cycle per trial
  } else if (preset == "fine") {
  } else if (preset == "final") {
    s.cycles = 3;
  } else {
    throw UsageError(fmt::format("unknown preset '{}'; run with --help for the list", preset));
  }
  return s;
}

std::vector<int> parse_layers(const std::string& text) {
  std::vector<int> layers;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, comma - start);
    int units = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), units);
    if (part.empty() || error != std::errc() || end != part.data() + part.size() || units < 1) {
      throw UsageError(fmt::format(
          "--layers '{}': '{}' is not a number of units >= 1; give the hidden sizes as e.g. 50,50", text, part));
    }
    layers.push_back(units);
    start = comma + 1;
  }
  return layers;
}

void validate(const KLayerSettings& s) {
  settings_table().validate(s);
  if (s.hidden_layers.empty()) throw UsageError("--layers: give at least one hidden layer, e.g. 50,50");
  if (s.batch_size < 2 && s.batch_norm) throw UsageError("--batch-size must be >= 2 with batch normalisation");
  if (!(s.eta_max >= s.eta_min)) {
    throw UsageError(fmt::format("--eta-min ({}) must not be larger than --eta-max ({})", s.eta_min, s.eta_max));
  }
  validate(s.search);
  if (s.preset != "gradcheck") check_resource_bounds(s);
}

void check_resource_bounds(const KLayerSettings& s) {
  // Checked before the data is read: against the largest training set and image the app can be given
  // (Fashion-MNIST's 60,000 images, CIFAR-10's 3,072 values per image).
  const Amount examples(s.train_size > 0 ? std::min(s.train_size, 60000) : 60000);
  const std::string layers = fmt::format("{}", fmt::join(s.hidden_layers, ","));
  const ResourceEstimate limits;
  const Amount steps = Amount(2) * Amount(s.n_s) * Amount(s.cycles);
  limits.require_steps(steps, {{"--n-s", s.n_s}, {"--cycles", s.cycles}});
  const Amount every = std::max(Amount(1), Amount((Amount(2) * Amount(s.n_s)).value() /
                                                  static_cast<std::uint64_t>(s.evaluations_per_cycle)));
  const Amount points = divide_rounding_up(steps, every) + Amount(1);
  const FlagValues evaluation_flags = {{"--cycles", s.cycles}, {"--eval-per-cycle", s.evaluations_per_cycle}};
  limits.require_evaluation_points(points, evaluation_flags);

  // The searches and sensitivity train several networks side by side, one per worker.
  const bool search = s.preset == "coarse" || s.preset == "fine";
  if (search) ResourceEstimate().require_trials(Amount(s.search.trials), {{"--count", s.search.trials}});
  const int runs = search ? s.search.trials : s.preset == "sensitivity" ? 6 : 1;
  std::vector<long> widths = {3072};
  widths.insert(widths.end(), s.hidden_layers.begin(), s.hidden_layers.end());
  widths.push_back(10);
  train::TrainingFootprint training;
  training.network = train::fully_connected_footprint(widths, s.batch_norm);
  training.scalar_bytes = Amount(s.use_double ? 8 : 4);
  training.batch_examples = std::min(Amount(s.batch_size), examples);
  training.evaluation_points = points;
  training.runs_side_by_side = Amount(std::max(1, std::min(s.threads, runs)));
  training.network_settings = {{"--layers", layers}};
  training.batch_settings = {{"--batch-size", s.batch_size}, {"--layers", layers}};
  training.evaluation_settings = evaluation_flags;
  ResourceEstimate memory;
  train::DiskNeed disk = train::check_training_memory(memory, training);
  note_checkpoint_bytes(disk.bytes, std::move(disk.settings));
}

const SettingsTable<KLayerSettings>& settings_table() {
  using S = KLayerSettings;
  static const auto table =
      SettingsTable<S>()
          .text("--layers", &S::hidden_layers, "hidden layer sizes, e.g. 50,50 (the 3-layer network)", "SIZES",
                parse_layers, [](const std::vector<int>& sizes) { return fmt::format("{}", fmt::join(sizes, ",")); })
          .choice("--bn", &S::batch_norm, "batch normalisation of every hidden layer", {{"on", true}, {"off", false}})
          .number("--lambda", &S::lambda,
                  "L2 strength on every W; for final the lambda to train with instead of the searches' best, for "
                  "fine the centre of its range",
                  Bounds::at_least(0))
          .number("--sigma", &S::sigma, "draw every W from N(0, sigma^2) instead of He initialisation (0: He)",
                  Bounds::at_least(0))
          .number("--n-s", &S::n_s, "steps per half cycle", Bounds::at_least(1))
          .number("--cycles", &S::cycles, "cycles of the learning rate", Bounds::at_least(1))
          .number("--batch-size", &S::batch_size, "examples per update step", Bounds::at_least(2))
          .number("--eta-min", &S::eta_min, "lowest learning rate", Bounds::at_least(0))
          .number("--eta-max", &S::eta_max, "highest learning rate", Bounds::above(0))
          .number("--alpha", &S::alpha, "running averages: mu_av = alpha mu_av + (1 - alpha) mu",
                  Bounds::at_least(0).below(1))
          .number("--eps", &S::eps, "added to the variance (2.2e-16 is Matlab's eps)", Bounds::above(0))
          .number("--eval-per-cycle", &S::evaluations_per_cycle, "evaluation points per cycle", Bounds::at_least(1))
          .with(search_settings(&S::search))
          .number("--validation-size", &S::validation_size, "images of the five batches that validate",
                  Bounds::at_least(1))
          .choice("--grad", &S::gradients, "gradient path: the tape or the reports' hand-derived formulas",
                  {{"tape", GradientSource::tape}, {"reference", GradientSource::reference}})
          .choice("--dtype", &S::use_double, "scalar type of training", {{"float", false}, {"double", true}})
          .number("--limit-train", &S::train_size, "train on the first N training images only (0: all)",
                  Bounds::at_least(0))
          .record("preset", &S::preset)
          .computed("init",
                    [](const S& s) {
                      return s.sigma > 0 ? fmt::format("N(0, {}^2)", s.sigma) : std::string("He N(0, 2 / fan_in)");
                    })
          .computed("total_steps", [](const S& s) { return s.total_steps(); })
          .record("seed", &S::seed)
          .record("threads", &S::threads);
  return table;
}

nlohmann::json to_json(const KLayerSettings& s) { return settings_table().to_json(s); }

}  // namespace tapegrad::apps::k_layer_batchnorm
