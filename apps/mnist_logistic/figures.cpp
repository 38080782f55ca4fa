#include "apps/mnist_logistic/figures.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <tapegrad/nn/plot/plot.h>

namespace tapegrad::apps::mnist_logistic {

void plot_validation_curves(const std::vector<NamedRun>& runs, const RunDirectory& directory,
                            const std::string& title) {
  auto chart = [&](const std::string& what, const std::string& file, auto value_of) {
    plot::LineChart c;
    c.title = fmt::format("{}: {}", title, what);
    c.x_axis.label = "epoch";
    c.y_axis.label = what;
    for (const NamedRun& run : runs) {
      if (run.result == nullptr) continue;
      plot::Series series{run.name, {}, {}};
      for (const train::MetricsRow& row : run.result->outcome.rows) {
        series.x.push_back(row.epoch);
        series.y.push_back(value_of(row));
      }
      c.series.push_back(std::move(series));
    }
    plot::save(c, directory.plot_path(file));
  };
  chart("validation loss", "validation_loss", [](const train::MetricsRow& row) { return row.validation.loss; });
  chart("validation accuracy", "validation_accuracy",
        [](const train::MetricsRow& row) { return row.validation.accuracy; });
}

namespace {

std::string lambda_label(double lambda) { return fmt::format("{:g}", lambda); }

void plot_accuracy_bars(const std::vector<LambdaPoint>& points, const RunDirectory& directory,
                        const std::string& title) {
  plot::BarChart bars;
  bars.title = fmt::format("{}: validation accuracy", title);
  bars.x_label = "λ";
  bars.y_label = "validation accuracy";
  for (const LambdaPoint& p : points) bars.bars.push_back({lambda_label(p.lambda), p.validation_accuracy});
  plot::save(bars, directory.plot_path("validation_accuracy"));
}

void plot_weight_norms(const std::vector<LambdaPoint>& points, const RunDirectory& directory,
                       const std::string& title) {
  plot::LineChart chart;
  chart.title = fmt::format("{}: L2 norm of the weights against λ", title);
  chart.x_axis = {.label = "λ", .scale = plot::Scale::log10};
  chart.y_axis.label = "||W||";
  plot::Series positive{"λ > 0", {}, {}, plot::SeriesStyle::line_with_markers};
  for (const LambdaPoint& p : points) {
    if (p.lambda > 0) {
      positive.x.push_back(p.lambda);
      positive.y.push_back(p.weight_norm);
    }
  }
  // A log axis has no place for λ = 0: its norm is drawn as a level line across the lambdas above 0.
  for (const LambdaPoint& p : points) {
    if (p.lambda == 0 && !positive.x.empty()) {
      const auto [low, high] = std::minmax_element(positive.x.begin(), positive.x.end());
      chart.series.push_back({"λ = 0", {*low, *high}, {p.weight_norm, p.weight_norm}});
    }
  }
  chart.series.insert(chart.series.begin(), positive);
  plot::save(chart, directory.plot_path("weight_norm"));
}

void plot_weight_images(const std::vector<LambdaPoint>& points, const data::ImageShape& shape,
                        const std::vector<std::string>& class_names, const RunDirectory& directory,
                        const std::string& title) {
  plot::ImageGrid grid;
  grid.title = fmt::format("{}: learnt weights, one row per λ", title);
  for (const LambdaPoint& p : points) {
    if (!p.weights || p.weights->cols() != shape.features()) continue;
    grid.columns = static_cast<int>(p.weights->rows());
    for (Eigen::Index k = 0; k < p.weights->rows(); ++k) {
      plot::GridImage image;
      image.channels = shape.channels;
      image.height = shape.height;
      image.width = shape.width;
      image.planes.resize(static_cast<std::size_t>(p.weights->cols()));
      for (Eigen::Index i = 0; i < p.weights->cols(); ++i)
        image.planes[static_cast<std::size_t>(i)] = (*p.weights)(k, i);
      const std::string name = static_cast<std::size_t>(k) < class_names.size()
                                   ? class_names[static_cast<std::size_t>(k)]
                                   : std::to_string(k);
      image.caption = fmt::format("λ={} {}", lambda_label(p.lambda), name);
      grid.images.push_back(std::move(image));
    }
  }
  if (!grid.images.empty()) plot::save(grid, directory.plot_path("weights"));
}

}  // namespace

void plot_lambda_sweep(const std::vector<LambdaPoint>& points, const data::ImageShape& shape,
                       const std::vector<std::string>& class_names, const RunDirectory& directory,
                       const std::string& title) {
  plot_accuracy_bars(points, directory, title);
  plot_weight_norms(points, directory, title);
  plot_weight_images(points, shape, class_names, directory, title);
}

}  // namespace tapegrad::apps::mnist_logistic
