#include "apps/k_layer_batchnorm/settings.h"

#include <fmt/format.h>

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
  const auto fail = [](const std::string& message) { throw UsageError(message); };
  if (s.hidden_layers.empty()) fail("--layers: give at least one hidden layer, e.g. 50,50");
  if (!(s.lambda >= 0) || !std::isfinite(s.lambda)) fail("--lambda must be finite and >= 0");
  if (!(s.sigma >= 0) || !std::isfinite(s.sigma)) fail("--sigma must be finite and > 0 (or absent for He)");
  if (s.n_s < 1) fail("--n-s must be >= 1");
  if (s.cycles < 1) fail("--cycles must be >= 1");
  if (s.batch_size < 2 && s.batch_norm) fail("--batch-size must be >= 2 with batch normalisation");
  if (!(s.eta_min >= 0) || !(s.eta_max >= s.eta_min) || !std::isfinite(s.eta_max)) {
    fail(fmt::format("--eta-min {} and --eta-max {} must be finite with 0 <= eta-min <= eta-max", s.eta_min,
                     s.eta_max));
  }
  if (!(s.alpha >= 0 && s.alpha < 1)) fail(fmt::format("--alpha {} must be in [0, 1)", s.alpha));
  if (!(s.eps > 0) || !std::isfinite(s.eps)) fail(fmt::format("--eps {} must be finite and > 0", s.eps));
  if (s.evaluations_per_cycle < 1) fail("--eval-per-cycle must be >= 1");
  if (s.validation_size < 1) fail("--validation-size must be >= 1");
  validate(s.search);
  if (s.preset != "gradcheck") check_resource_bounds(s);
}

void check_resource_bounds(const KLayerSettings& s) {
  // Checked before the data is read: against the largest training set and image the app can be given
  // (Fashion-MNIST's 60,000 images, CIFAR-10's 3,072 values per image).
  const Amount examples(s.train_size > 0 ? std::min(s.train_size, 60000) : 60000);
  const Amount inputs(3072), classes(10);
  std::string layers;
  for (int m : s.hidden_layers) {
    if (!layers.empty()) layers += ',';
    layers += std::to_string(m);
  }
  const FlagValues cycle_flags = {{"--n-s", s.n_s}, {"--cycles", s.cycles}};
  const ResourceEstimate limits;
  const Amount steps = Amount(2) * Amount(s.n_s) * Amount(s.cycles);
  limits.require_steps(steps, cycle_flags);
  const Amount every = std::max(Amount(1), Amount((Amount(2) * Amount(s.n_s)).value() /
                                                  static_cast<std::uint64_t>(s.evaluations_per_cycle)));
  const Amount points = divide_rounding_up(steps, every) + Amount(1);
  limits.require_evaluation_points(points, {{"--cycles", s.cycles}, {"--eval-per-cycle", s.evaluations_per_cycle}});

  Amount parameters, units;
  Amount fan_in = inputs;
  for (int m : s.hidden_layers) {
    parameters = parameters + fan_in * Amount(m) + Amount(m) * Amount(s.batch_norm ? 5 : 1);  // W, b, BN's 4
    units = units + Amount(m);
    fan_in = Amount(m);
  }
  parameters = parameters + fan_in * classes + classes;
  const Amount scalar(s.use_double ? 8 : 4);
  const Amount batch = std::min(Amount(s.batch_size), examples);
  // Per example: the input and its normalised copy; per hidden unit the pre-activation, the normalised and
  // activated values and their gradients (more with batch normalisation); the scores and their gradients.
  const Amount per_example = Amount(2) * inputs + units * Amount(s.batch_norm ? 8 : 4) + Amount(4) * classes;
  ResourceEstimate memory;
  // The searches and sensitivity train several networks side by side, one per worker.
  const bool search = s.preset == "coarse" || s.preset == "fine";
  if (search) ResourceEstimate().require_trials(Amount(s.search.trials), {{"--count", s.search.trials}});
  const int runs = search ? s.search.trials : s.preset == "sensitivity" ? 6 : 1;
  const Amount side_by_side(std::max(1, std::min(s.threads, runs)));
  memory.add_memory(side_by_side * parameters * scalar * Amount(6),
                    "the network's weights, gradients and saved copies", {{"--layers", layers}});
  memory.add_memory(side_by_side * batch * per_example * scalar, "a batch and what the network computes on it",
                    {{"--batch-size", s.batch_size}, {"--layers", layers}});
  memory.add_memory(points * Amount(kBytesPerEvaluationPoint), "the evaluation points kept",
                    {{"--cycles", s.cycles}, {"--eval-per-cycle", s.evaluations_per_cycle}});
  memory.check_memory();
  // On disk: checkpoint.bin (the weights and the evaluation rows) twice during its replacement, and best.bin.
  const Amount weights = parameters * scalar;
  const Amount checkpoint = weights + points * Amount(kBytesPerEvaluationPoint);
  note_checkpoint_bytes((Amount(2) * checkpoint + weights) * side_by_side,
                        {{"--layers", layers}, {"--cycles", s.cycles}, {"--eval-per-cycle", s.evaluations_per_cycle}});
}

nlohmann::json to_json(const KLayerSettings& s) {
  nlohmann::json json = {{"preset", s.preset},
          {"layers", s.hidden_layers},
          {"batch_norm", s.batch_norm},
          {"lambda", s.lambda},
          {"init", s.sigma > 0 ? fmt::format("N(0, {}^2)", s.sigma) : std::string("He N(0, 2 / fan_in)")},
          {"sigma", s.sigma},
          {"n_s", s.n_s},
          {"cycles", s.cycles},
          {"total_steps", s.total_steps()},
          {"batch_size", s.batch_size},
          {"eta_min", s.eta_min},
          {"eta_max", s.eta_max},
          {"alpha", s.alpha},
          {"eps", s.eps},
          {"evaluations_per_cycle", s.evaluations_per_cycle},
          {"validation_size", s.validation_size},
          {"limit_train", s.train_size},
          {"grad", s.gradients == GradientSource::tape ? "tape" : "reference"},
          {"dtype", s.use_double ? "double" : "float"},
          {"seed", s.seed},
          {"threads", s.threads}};
  add_to_json(json, s.search);
  return json;
}

}  // namespace tapegrad::apps::k_layer_batchnorm
