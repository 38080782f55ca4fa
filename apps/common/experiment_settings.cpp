#include "apps/common/experiment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "apps/common/app_error.h"

// ExperimentSettings: names, limits, the JSON record, and what its run will allocate (check_bounds).
namespace tapegrad::apps {

const char* to_string(ModelKind kind) { return kind == ModelKind::linear ? "linear" : "two_layer"; }

const char* to_string(ScheduleKind kind) {
  constexpr const char* names[] = {"constant", "step_decay", "cyclic"};
  return names[static_cast<int>(kind)];
}

long ExperimentSettings::steps_per_epoch(long training_examples) const {
  return std::max<long>(1, (training_examples + batch_size - 1) / batch_size);
}

long ExperimentSettings::planned_steps(long training_examples) const {
  if (schedule == ScheduleKind::cyclic && total_steps == 0) return 2 * n_s * cycles;
  if (total_steps > 0) return total_steps;
  return static_cast<long>(epochs) * steps_per_epoch(training_examples);
}

void ExperimentSettings::validate() const {
  auto fail = [&](const std::string& what) { throw UsageError(fmt::format("{}: {}", name, what)); };
  if (!(std::isfinite(eta) && eta > 0)) fail(fmt::format("--eta must be > 0, got {}", eta));
  if (!(std::isfinite(lambda) && lambda >= 0)) fail(fmt::format("--lambda must be >= 0, got {}", lambda));
  if (batch_size < 1) fail(fmt::format("--batch-size must be >= 1, got {}", batch_size));
  if (epochs < 1 && total_steps <= 0 && schedule != ScheduleKind::cyclic)
    fail(fmt::format("--epochs must be >= 1, got {}", epochs));
  if (hidden < 1) fail(fmt::format("--hidden must be >= 1, got {}", hidden));
  if (schedule == ScheduleKind::cyclic) {
    if (!(eta_min >= 0 && eta_max >= eta_min))
      fail(fmt::format("need 0 <= eta_min <= eta_max, got {} and {}", eta_min, eta_max));
    if (n_s < 1) fail(fmt::format("--n-s must be >= 1, got {}", n_s));
    if (cycles < 1) fail(fmt::format("--cycles must be >= 1, got {}", cycles));
  }
  if (!(flip_probability >= 0 && flip_probability <= 1))
    fail(fmt::format("the flip probability must be in [0, 1], got {}", flip_probability));
  if (threads < 1) fail(fmt::format("--threads must be >= 1, got {}", threads));
}

nlohmann::json ExperimentSettings::to_json() const {
  return {{"name", name},
          {"model", to_string(model)},
          {"loss", to_string(loss)},
          {"hidden", hidden},
          {"init_std", init_std},
          {"eta", eta},
          {"lambda", lambda},
          {"batch_size", batch_size},
          {"epochs", epochs},
          {"total_steps", total_steps},
          {"grad", to_string(path)},
          {"schedule", to_string(schedule)},
          {"decay_factor", decay_factor},
          {"decay_every_epochs", decay_every_epochs},
          {"eta_min", eta_min},
          {"eta_max", eta_max},
          {"n_s", n_s},
          {"cycles", cycles},
          {"flip_probability", flip_probability},
          {"shuffle", shuffle},
          {"bias", use_bias},
          {"evaluate_every_steps", evaluate_every_steps},
          {"patience", patience},
          {"dtype", use_double ? "double" : "float"},
          {"seed", seed},
          {"threads", threads}};
}

void check_bounds(const ExperimentSettings& s, long max_training_examples, long features, long classes,
                  const ExperimentFlags& flags, long runs_at_once) {
  const Amount examples(std::max(1L, max_training_examples));
  const Amount steps_per_epoch = std::max(Amount(1), divide_rounding_up(examples, Amount(s.batch_size)));
  Amount steps;
  if (s.schedule == ScheduleKind::cyclic && s.total_steps == 0) {
    steps = Amount(2) * Amount(s.n_s) * Amount(s.cycles);
  } else if (s.total_steps > 0) {
    steps = Amount(s.total_steps);
  } else {
    steps = Amount(s.epochs) * steps_per_epoch;
  }
  const ResourceEstimate limits;
  limits.require_steps(steps, flags.steps);
  const Amount every = s.evaluate_every_steps > 0 ? Amount(s.evaluate_every_steps) : steps_per_epoch;
  const Amount points = divide_rounding_up(steps, every) + Amount(1);
  limits.require_evaluation_points(points, flags.evaluations);

  const Amount scalar(s.use_double ? 8 : 4);
  const Amount at_once(std::max(1L, runs_at_once));
  const Amount hidden(s.model == ModelKind::two_layer ? s.hidden : 0);
  const Amount inputs(features);
  const Amount outputs(classes);
  const Amount parameters = s.model == ModelKind::two_layer ? hidden * inputs + hidden + outputs * hidden + outputs
                                                            : outputs * inputs + outputs;
  // Values, gradients, the checkpoint's copy and its serialised bytes, the best weights: about six copies.
  const Amount model_bytes = parameters * scalar * Amount(6) * at_once;
  // A batch is never larger than the training set; per example the input (and its normalised copy), the hidden
  // activations with their gradients and mask, the scores and their gradients.
  const Amount batch = std::min(Amount(s.batch_size), examples);
  const Amount per_example = Amount(2) * inputs + Amount(4) * hidden + Amount(4) * outputs;
  const Amount batch_bytes = batch * per_example * scalar * at_once;
  FlagValues batch_flags = flags.batch;
  if (s.model == ModelKind::two_layer)
    batch_flags.insert(batch_flags.end(), flags.model.begin(), flags.model.end());

  ResourceEstimate memory;
  memory.add_memory(model_bytes, "the model's weights, gradients and saved copies", flags.model);
  memory.add_memory(batch_bytes, "a batch and what the model computes on it", batch_flags);
  memory.add_memory(points * Amount(kBytesPerEvaluationPoint) * at_once, "the evaluation points kept",
                    flags.evaluations);
  memory.check_memory();

  // On disk: checkpoint.bin (the weights and the evaluation rows) twice during its replacement, and best.bin.
  const Amount weights = parameters * scalar;
  const Amount checkpoint = weights + points * Amount(kBytesPerEvaluationPoint);
  FlagValues disk_flags = flags.model;
  disk_flags.insert(disk_flags.end(), flags.evaluations.begin(), flags.evaluations.end());
  note_checkpoint_bytes((Amount(2) * checkpoint + weights) * at_once, std::move(disk_flags));
}

}  // namespace tapegrad::apps
