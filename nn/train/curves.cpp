#include <tapegrad/nn/train/curves.h>

#include <fmt/format.h>

#include <algorithm>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/plot/plot.h>

namespace tapegrad::train {

std::vector<std::filesystem::path> save_training_curves(const std::vector<MetricsRow>& rows,
                                                        const std::filesystem::path& directory,
                                                        const CurveOptions& options) {
  if (options.extension != ".png" && options.extension != ".svg") {
    throw_error(fmt::format("save_training_curves: extension '{}' is neither .png nor .svg", options.extension));
  }
  std::vector<std::filesystem::path> written;
  const auto x_of = [&](const MetricsRow& row) { return options.against_steps ? double(row.step) : row.epoch; };
  const std::string x_label = options.against_steps ? "update step" : "epoch";
  const auto save = [&](const std::string& what, std::vector<plot::Series> series, plot::LegendPlace legend) {
    plot::LineChart chart;
    chart.title = fmt::format("{}: {}", options.title, what);
    chart.x_axis.label = x_label;
    chart.y_axis.label = what;
    chart.series = std::move(series);
    chart.legend = legend;
    std::string stem = what;
    std::replace(stem.begin(), stem.end(), ' ', '_');
    written.push_back(directory / (stem + options.extension));
    plot::save(chart, written.back());
  };
  // Training and validation values of one quantity, one series each.
  const auto both = [&](const std::string& what, auto value_of) {
    plot::Series train{"training", {}, {}};
    plot::Series validation{"validation", {}, {}};
    for (const MetricsRow& row : rows) {
      train.x.push_back(x_of(row));
      train.y.push_back(value_of(row.train));
      validation.x.push_back(x_of(row));
      validation.y.push_back(value_of(row.validation));
    }
    save(what, {train, validation}, plot::LegendPlace::best);
  };
  both("loss", [](const Evaluation& e) { return e.loss; });
  both("cost", [](const Evaluation& e) { return e.cost; });
  both("accuracy", [](const Evaluation& e) { return e.accuracy; });

  bool rate_changes = options.always_plot_rate;
  for (const MetricsRow& row : rows) rate_changes = rate_changes || row.learning_rate != rows.front().learning_rate;
  if (rate_changes) {
    plot::Series rate{"learning rate", {}, {}};
    for (const MetricsRow& row : rows) {
      rate.x.push_back(x_of(row));
      rate.y.push_back(row.learning_rate);
    }
    save("learning rate", {rate}, plot::LegendPlace::none);
  }
  return written;
}

}  // namespace tapegrad::train
