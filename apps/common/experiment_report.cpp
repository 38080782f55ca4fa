#include "apps/common/experiment_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <fstream>

#include "apps/common/app_error.h"
#include "apps/common/run_info.h"
#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/safetensors.h>
#include <tapegrad/ops/numerics.h>

namespace tapegrad::train {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Evaluation, loss, cost, accuracy)
}  // namespace tapegrad::train

namespace tapegrad::apps {
namespace {

std::optional<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path);
  nlohmann::json value = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw UsageError(fmt::format("cannot resume from '{}': the file is not valid JSON (it may have been edited); "
                                 "start the run again without --resume",
                                 path.string()));
  }
  return value;
}

// The learnt weights of a linear model as images of the data's own size, one per class, each scaled to its own
// range by the plot.
template <typename T>
void plot_templates(const Matrix<T>& weights, const data::ImageDataset& train, const RunDirectory& directory,
                    const std::string& title) {
  if (weights.cols() != train.shape.features()) return;
  plot::ImageGrid grid;
  grid.title = title;
  grid.columns = weights.rows() > 10 ? 10 : 0;
  for (Index k = 0; k < weights.rows(); ++k) {
    plot::GridImage image{.channels = train.shape.channels, .height = train.shape.height, .width = train.shape.width};
    for (Index i = 0; i < weights.cols(); ++i) image.planes.push_back(float(weights(k, i)));
    const auto row = static_cast<std::size_t>(k);
    image.caption = weights.rows() == 1             ? std::string(1, 'w')
                    : row < train.class_names.size() ? train.class_names[row]
                                                     : std::to_string(k);
    grid.images.push_back(std::move(image));
  }
  plot::save(grid, directory.plot_path("templates"));
}

// The probability the model gives each test image's own class (softmax, the sigmoid of the true class's score, or
// yhat / 1 - yhat for one output), apart for the images it classifies right and wrong.
template <typename T>
void plot_true_class_probability(const ExperimentSettings& s, const Classifier<T>& model, const ExperimentData& d,
                                 const RunDirectory& directory) {
  plot::Sample correct{"correctly classified", {}, {}};
  plot::Sample wrong{"wrongly classified", {}, {}};
  NoGradGuard no_grad;
  data::for_each_chunk<T>(*d.test, d.normalizer, 2000, [&](const Matrix<T>& x, int, std::span<const int> labels) {
    const Matrix<double> scores = model.network->forward(Tensor<T>::from(x)).value().template cast<double>();
    for (Index j = 0; j < scores.cols(); ++j) {
      const int label = labels[static_cast<std::size_t>(j)];
      const auto column = scores.col(j);
      Index predicted = column(0) >= 0 ? 1 : 0;
      double p = label == 1 ? stable_sigmoid(column(0)) : 1 - stable_sigmoid(column(0));
      if (scores.rows() > 1) {
        column.maxCoeff(&predicted);
        p = model.loss == LossKind::cross_entropy ? 1 / (column.array() - column(label)).exp().sum()
                                                   : stable_sigmoid(column(label));
      }
      (predicted == label ? correct : wrong).values.push_back(p);
    }
  });
  plot::Histogram histogram{.title = fmt::format("{}: probability of the true class (test)", s.name),
                            .x_label = "probability given to the true class",
                            .samples = {correct, wrong},
                            .bins = 25,
                            .min = 0.0,
                            .max = 1.0};
  plot::save(histogram, directory.plot_path("true_class_probability"));
}

}  // namespace

nlohmann::json run_summary(const ExperimentSettings& s, const ExperimentData& d, const TrainingOutcome& outcome,
                           bool resumed) {
  return {{"name", s.name},
          {"data", d.description},
          {"seed", s.seed},
          {"threads", s.threads},
          {"steps", outcome.steps},
          {"epochs", outcome.stopped_epoch},
          {"train_seconds", outcome.train_seconds},
          {"evaluation_seconds", outcome.evaluation_seconds},
          {"lambda", s.lambda},
          {"eta", s.eta},
          {"batch_size", s.batch_size},
          {"resumed", resumed},
          {"build", build_info_json()}};
}

void add_results(nlohmann::json& summary, const ExperimentResult& result) {
  summary["status"] = result.outcome.early_stopped ? "early_stopped" : "completed";
  summary["train_accuracy"] = result.train.accuracy;
  summary["val_accuracy"] = result.validation.accuracy;
  summary["test_accuracy"] = result.test.accuracy;
  summary["train"] = result.train;
  summary["validation"] = result.validation;
  summary["test"] = result.test;
  summary["loss"] = result.train.loss;
  summary["cost"] = result.train.cost;
  if (result.settings.patience > 0) {
    summary["early_stopped"] = result.outcome.early_stopped;
    summary["stopped_epoch"] = result.outcome.stopped_epoch;
    summary["best_step"] = result.outcome.best_step;
  }
  summary["weight_norms"] = result.weight_norms;
}

// Reusing or continuing another run's results would silently mix two experiments.
void check_same_run(const nlohmann::json& key, const RunDirectory& directory) {
  const auto recorded = read_json_file(directory.config_path());
  if (!recorded) return;  // nothing recorded: the checkpoint's own record of the key is checked instead
  std::vector<std::string> differences;
  for (const auto& [name, value] : key.items()) {
    if (!recorded->contains(name) || (*recorded)[name] != value) {
      differences.push_back(fmt::format("{} {} here but {} in the directory", name, value.dump(),
                                        recorded->contains(name) ? (*recorded)[name].dump() : "nothing"));
    }
  }
  if (!differences.empty()) {
    throw UsageError(fmt::format("cannot resume the run in '{}': it was made with other settings ({})",
                                 directory.root().string(), fmt::join(differences, "; ")),
                     "resume with the flags of the original run, or give a new --out directory");
  }
}

std::optional<nlohmann::json> previous_summary(const ExperimentSettings& s, const RunDirectory& directory) {
  auto summary = read_json_file(directory.summary_path());
  if (summary && summary->value("status", "") == "diverged") {
    throw Diverged(fmt::format("{}: {} (the run in {} diverged before; resuming would repeat it)", s.name,
                               summary->value("message", "training diverged"), directory.root().string()));
  }
  return summary;
}

bool finished(const nlohmann::json& summary) {
  const std::string status = summary.value("status", "");
  return status == "completed" || status == "early_stopped";
}

ExperimentResult finished_run(const ExperimentSettings& s, const RunDirectory& directory,
                              const nlohmann::json& summary, std::vector<MetricsRow> rows) {
  try {
    ExperimentResult result;
    result.settings = s;
    result.directory = directory.root();
    result.summary = summary;
    result.train = summary.at("train").get<Evaluation>();
    result.validation = summary.at("validation").get<Evaluation>();
    result.test = summary.at("test").get<Evaluation>();
    result.weight_norms = summary.at("weight_norms").get<std::vector<double>>();
    TrainingOutcome& outcome = result.outcome;
    outcome.rows = std::move(rows);
    outcome.steps = summary.at("steps").get<long>();
    outcome.stopped_epoch = summary.at("epochs").get<double>();
    outcome.train_seconds = summary.at("train_seconds").get<double>();
    outcome.evaluation_seconds = summary.at("evaluation_seconds").get<double>();
    outcome.early_stopped = summary.at("status") == "early_stopped";
    outcome.best_step = summary.value("best_step", -1L);
    spdlog::info("{}: already finished in {} (test {:.2f}%); kept", s.name, directory.root().string(),
                 100 * result.test.accuracy);
    return result;
  } catch (const nlohmann::json::exception& error) {
    throw UsageError(fmt::format("cannot resume from '{}': it lacks a field a finished run writes ({})",
                                 directory.summary_path().string(), error.what()),
                     "start the run again without --resume");
  }
}

template <typename T>
void plot_run(const ExperimentSettings& s, const Classifier<T>& model, const ExperimentData& d,
              const RunDirectory& directory) {
  if (s.plot_templates && s.model == ModelKind::linear) {
    plot_templates(model.layers[0]->weight().value(), *d.train, directory,
                   fmt::format("{}: learnt weights per class", s.name));
  }
  if (s.plot_histogram) plot_true_class_probability(s, model, d, directory);
}

// model.safetensors: the trained weights (with early stopping, the kept best ones) and the normaliser's columns,
// so that the file alone gives the run's predictions: x = (pixel / 255 - normalizer.mean) / normalizer.std, then
// the model.
template <typename T>
void save_model_file(const Classifier<T>& model, const ExperimentData& d, const ExperimentSettings& s,
                     const RunDirectory& directory) {
  const data::ImageDataset& train_set = *d.train;
  const Index features = train_set.shape.features();
  data::NormalizerColumns<T> normalizer = d.normalizer.columns<T>(static_cast<int>(features));
  nn::StateDict<T> extra;
  extra.insert("normalizer.mean", std::move(normalizer.mean));
  extra.insert("normalizer.std", std::move(normalizer.standard_deviation));
  std::error_code error;  // the app is the running program; outside Linux the metadata says so
  const auto program = std::filesystem::read_symlink("/proc/self/exe", error);
  const bool binary = model.loss == LossKind::binary_cross_entropy;
  nn::SafetensorsMetadata metadata{
      {"app", error ? std::string("unknown") : program.filename().string()},
      {"preset", s.name},
      {"model", model.description()},
      {"classes", nlohmann::json(train_set.class_names).dump()},
      {"input", fmt::format("{} features: the image's {} x {} x {} (channels x height x width) bytes in the data "
                            "set's order, as a column; a batch is d x n, one image per column",
                            features, train_set.shape.channels, train_set.shape.height, train_set.shape.width)},
      {"normalizer", "x = (pixel / 255 - normalizer.mean) / normalizer.std, per feature (both d x 1)"},
      {"prediction", binary ? "class 1 when the score (weight x + bias) is >= 0, else class 0"
                            : "the class (row) with the largest score; scores = weight x + bias per linear layer, "
                              "ReLU between layers"}};
  nn::save_module_safetensors(directory.root() / "model.safetensors", *model.network, extra, metadata);
}

#define TAPEGRAD_INSTANTIATE_REPORT(T)                                                                          \
  template void plot_run(const ExperimentSettings&, const Classifier<T>&, const ExperimentData&, const RunDirectory&); \
  template void save_model_file(const Classifier<T>&, const ExperimentData&, const ExperimentSettings&,            \
                                const RunDirectory&);

TAPEGRAD_INSTANTIATE_REPORT(float)
TAPEGRAD_INSTANTIATE_REPORT(double)

}  // namespace tapegrad::apps
