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

  train::TrainingFootprint training;
  const bool hidden = s.model == ModelKind::two_layer;
  training.network = hidden ? train::fully_connected_footprint({features, s.hidden, classes})
                            : train::fully_connected_footprint({features, classes});
  training.scalar_bytes = Amount(s.use_double ? 8 : 4);
  training.batch_examples = std::min(Amount(s.batch_size), examples);
  training.evaluation_points = points;
  training.runs_side_by_side = Amount(std::max(1L, runs_at_once));
  training.network_name = "model";
  training.network_settings = flags.model;
  training.batch_settings = {{"--batch-size", s.batch_size}};
  if (hidden)
    training.batch_settings.insert(training.batch_settings.end(), flags.model.begin(), flags.model.end());
  training.evaluation_settings = flags.evaluations;
  ResourceEstimate memory;
  train::DiskNeed disk = train::check_training_memory(memory, training);
  note_checkpoint_bytes(disk.bytes, std::move(disk.settings));
}

}  // namespace tapegrad::apps
