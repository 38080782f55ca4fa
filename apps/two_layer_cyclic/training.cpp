#include "apps/two_layer_cyclic/training.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include <tapegrad/core/atomic_file.h>
#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/core/error.h>
#include <tapegrad/optim/schedule.h>

namespace tapegrad::apps::two_layer_cyclic {

ExperimentResult train_network(const ExperimentSettings& settings, const ImageSplits& splits,
                               const data::Normalizer& normalizer, const RunDirectory& directory) {
  ExperimentResult result = run_experiment(settings, experiment_data(splits, normalizer), directory);
  plot_schedule(settings, result.outcome.rows, directory);
  return result;
}

void plot_schedule(const ExperimentSettings& settings, const std::vector<train::MetricsRow>& rows,
                   const RunDirectory& directory) {
  const optim::CyclicLR schedule({settings.eta_min, settings.eta_max, settings.n_s});
  const long total = settings.planned_steps(0);
  // At most a few thousand points: the polyline of a triangle needs no more.
  const long stride = std::max<long>(1, total / 4000);
  plot::Series rate{"learning rate at each step", {}, {}};
  for (long t = 0; t < total; t += stride) {
    rate.x.push_back(double(t));
    rate.y.push_back(schedule.learning_rate_at(t));
  }
  if (total > 0) {
    rate.x.push_back(double(total - 1));
    rate.y.push_back(schedule.learning_rate_at(total - 1));
  }
  plot::Series points{"at the evaluation points", {}, {}};
  points.style = plot::SeriesStyle::markers;
  for (const auto& row : rows) {
    points.x.push_back(double(row.step));
    points.y.push_back(row.learning_rate);
  }
  plot::LineChart chart;
  chart.title = fmt::format("{}: cyclical learning rate (n_s = {}, {} cycle{})", settings.name, settings.n_s,
                            settings.cycles, settings.cycles == 1 ? "" : "s");
  chart.x_axis.label = "update step";
  chart.y_axis.label = "learning rate";
  chart.series = {rate, points};
  plot::save(chart, directory.plot_path("learning_rate_schedule"));
}

void merge_into_json_file(const std::filesystem::path& file, const nlohmann::json& extra) {
  nlohmann::json content = nlohmann::json::object();
  std::error_code ignored;
  if (std::filesystem::exists(file, ignored)) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    content = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!content.is_object()) {
      throw_error(fmt::format("{} does not hold a JSON object; delete it or choose another --out", file.string()));
    }
  }
  content.update(extra);
  write_file_atomically(file, content.dump(2) + "\n");
}

}  // namespace tapegrad::apps::two_layer_cyclic
