#include "apps/common/experiment_report.h"

#include <fmt/format.h>

#include <tapegrad/nn/plot/plot.h>
#include "apps/common/run_info.h"
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/safetensors.h>

namespace tapegrad::apps {
namespace {

// The learnt weights of a linear model as images of the data's own size, one per class, each scaled to its own
// range by the plot.
template <typename T>
void plot_templates(const Classifier<T>& model, const data::ImageDataset& train, const RunDirectory& directory,
                    const std::string& title) {
  const auto parameters = model.module().named_parameters();
  const Matrix<T>* weights = nullptr;
  for (const auto& p : parameters)
    if (nn::is_weight_name(p.name)) weights = &p.tensor.value();
  if (weights == nullptr || weights->cols() != train.shape.features()) return;
  plot::ImageGrid grid;
  grid.title = title;
  grid.columns = weights->rows() > 10 ? 10 : 0;
  for (Index k = 0; k < weights->rows(); ++k) {
    plot::GridImage image;
    image.channels = train.shape.channels;
    image.height = train.shape.height;
    image.width = train.shape.width;
    image.planes.resize(static_cast<std::size_t>(weights->cols()));
    for (Index i = 0; i < weights->cols(); ++i) image.planes[static_cast<std::size_t>(i)] = float((*weights)(k, i));
    const auto row = static_cast<std::size_t>(k);
    image.caption = weights->rows() == 1             ? std::string(1, 'w')
                    : row < train.class_names.size() ? train.class_names[row]
                                                     : std::to_string(k);
    grid.images.push_back(std::move(image));
  }
  plot::save(grid, directory.plot_path("templates"));
}

}  // namespace

nlohmann::json evaluation_json(const Evaluation& e) {
  return {{"loss", e.loss}, {"cost", e.cost}, {"accuracy", e.accuracy}};
}

nlohmann::json run_summary(const ExperimentSettings& s, const ExperimentData& d, const TrainingOutcome& outcome,
                           bool resumed) {
  nlohmann::json summary;
  summary["name"] = s.name;
  summary["data"] = d.description;
  summary["seed"] = s.seed;
  summary["threads"] = s.threads;
  summary["steps"] = outcome.steps;
  summary["epochs"] = outcome.stopped_epoch;
  summary["train_seconds"] = outcome.train_seconds;
  summary["evaluation_seconds"] = outcome.evaluation_seconds;
  summary["lambda"] = s.lambda;
  summary["eta"] = s.eta;
  summary["batch_size"] = s.batch_size;
  summary["resumed"] = resumed;
  summary["build"] = build_info_json();
  return summary;
}

void add_results(nlohmann::json& summary, const ExperimentResult& result) {
  summary["status"] = result.outcome.early_stopped ? "early_stopped" : "completed";
  summary["train_accuracy"] = result.train.accuracy;
  summary["val_accuracy"] = result.validation.accuracy;
  summary["test_accuracy"] = result.test.accuracy;
  summary["train"] = evaluation_json(result.train);
  summary["validation"] = evaluation_json(result.validation);
  summary["test"] = evaluation_json(result.test);
  summary["loss"] = result.train.loss;
  summary["cost"] = result.train.cost;
  if (result.settings.patience > 0) {
    summary["early_stopped"] = result.outcome.early_stopped;
    summary["stopped_epoch"] = result.outcome.stopped_epoch;
    summary["best_step"] = result.outcome.best_step;
  }
  summary["weight_norms"] = result.weight_norms;
}

template <typename T>
void plot_run(const ExperimentSettings& s, const Classifier<T>& model, const data::ImageDataset& train_set,
              const data::ImageDataset& test_set, const DetailedEvaluation& test, const RunDirectory& directory) {
  if (s.plot_templates && s.model == ModelKind::linear) {
    plot_templates(model, train_set, directory, fmt::format("{}: learnt weights per class", s.name));
  }
  if (s.plot_histogram) {
    plot::Histogram histogram;
    histogram.title = fmt::format("{}: probability of the true class (test)", s.name);
    histogram.x_label = "probability given to the true class";
    plot::Sample correct{"correctly classified", {}, {}};
    plot::Sample wrong{"wrongly classified", {}, {}};
    for (std::size_t i = 0; i < test.predictions.size(); ++i) {
      (test.predictions[i] == test_set.labels[i] ? correct : wrong).values.push_back(test.true_class_probabilities[i]);
    }
    histogram.samples = {correct, wrong};
    histogram.bins = 25;
    histogram.min = 0.0;
    histogram.max = 1.0;
    plot::save(histogram, directory.plot_path("true_class_probability"));
  }
}

// model.safetensors: the trained weights (with early stopping, the kept best ones) and the normaliser as d x 1
// columns on the pixel / 255 scale, so that the file alone gives the run's predictions:
// x = (pixel / 255 - normalizer.mean) / normalizer.std, then the model. A standardised feature whose training
// std was 0 is divided by 1 by the normaliser, so 1 is stored there.
template <typename T>
void save_model_file(const Classifier<T>& model, const data::Normalizer& normalizer, const data::ImageDataset& train_set,
                     const ExperimentSettings& s, const RunDirectory& directory) {
  const Index features = train_set.shape.features();
  Matrix<T> mean = Matrix<T>::Zero(features, 1);
  Matrix<T> deviation = Matrix<T>::Ones(features, 1);
  if (normalizer.scaling() == data::Scaling::standardize) {
    mean = normalizer.mean().template cast<T>();
    const auto divisor = [](double v) { return v == 0 ? 1.0 : v; };
    deviation = normalizer.standard_deviation().unaryExpr(divisor).template cast<T>();
  } else if (normalizer.scaling() == data::Scaling::symmetric_unit_interval) {
    mean.setConstant(T(0.5));
    deviation.setConstant(T(0.5));
  }
  nn::StateDict<T> extra;
  extra.insert("normalizer.mean", std::move(mean));
  extra.insert("normalizer.std", std::move(deviation));
  std::error_code error;  // the app is the running program; outside Linux the metadata says so
  const auto program = std::filesystem::read_symlink("/proc/self/exe", error);
  const bool binary = model.loss_kind() == LossKind::binary_cross_entropy;
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
  nn::save_module_safetensors(directory.root() / "model.safetensors", model.module(), extra, metadata);
}

template void plot_run<float>(const ExperimentSettings&, const Classifier<float>&, const data::ImageDataset&,
                              const data::ImageDataset&, const DetailedEvaluation&, const RunDirectory&);
template void plot_run<double>(const ExperimentSettings&, const Classifier<double>&, const data::ImageDataset&,
                               const data::ImageDataset&, const DetailedEvaluation&, const RunDirectory&);
template void save_model_file<float>(const Classifier<float>&, const data::Normalizer&, const data::ImageDataset&,
                                     const ExperimentSettings&, const RunDirectory&);
template void save_model_file<double>(const Classifier<double>&, const data::Normalizer&, const data::ImageDataset&,
                                      const ExperimentSettings&, const RunDirectory&);

}  // namespace tapegrad::apps
