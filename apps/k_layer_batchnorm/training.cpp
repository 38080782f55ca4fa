#include "apps/k_layer_batchnorm/training.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/init.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/reference/k_layer_network.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/nn/train/loop.h>
#include <tapegrad/nn/train/model_file.h>
#include <tapegrad/ops/loss.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>
#include <tapegrad/nn/train/curves.h>
#include <tapegrad/nn/train/directory_run.h>
#include <tapegrad/nn/train/stop_signal.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "apps/common/app_error.h"
#include "apps/common/experiment.h"
#include <tapegrad/nn/plot/plot.h>

namespace tapegrad::apps::k_layer_batchnorm {
namespace {

// The network as a user writes it: [Linear, BatchNorm, ReLU] per hidden layer, then Linear. The Linear and
// BatchNorm layers are kept aside for the penalty (only W is regularised; BatchNorm's gamma is also "weight"),
// the reference path and the charts.
template <typename T>
struct Network {
  std::shared_ptr<nn::Sequential<T>> model = std::make_shared<nn::Sequential<T>>();
  std::vector<std::shared_ptr<nn::Linear<T>>> linears;
  std::vector<std::shared_ptr<nn::BatchNorm<T>>> norms;
  std::vector<std::size_t> before_relu;  // the index in `model` of each module whose output a ReLU sees
};

template <typename T>
Network<T> build_network(const KLayerSettings& s, int inputs, int classes, Generator& generator) {
  Network<T> network;
  nn::LinearOptions options;
  options.weight = s.sigma > 0 ? nn::Init::normal(s.sigma) : nn::Init::he_normal();
  options.bias = nn::Init::zeros();
  nn::BatchNormOptions norm_options = nn::BatchNormOptions::course(s.alpha);
  norm_options.eps = s.eps;
  Index fan_in = inputs;
  for (int units : s.hidden_layers) {
    network.linears.push_back(
        network.model->template emplace_back<nn::Linear<T>>(fan_in, units, options, generator));
    if (s.batch_norm) {
      network.norms.push_back(network.model->template emplace_back<nn::BatchNorm<T>>(units, norm_options));
    }
    network.before_relu.push_back(network.model->size() - 1);
    network.model->template emplace_back<nn::ReLU<T>>();
    fan_in = units;
  }
  network.linears.push_back(
      network.model->template emplace_back<nn::Linear<T>>(fan_in, classes, options, generator));
  return network;
}

template <typename T>
std::vector<Tensor<T>> weights_of(const Network<T>& network) {
  std::vector<Tensor<T>> weights;
  for (const auto& linear : network.linears) weights.push_back(linear->weight());
  return weights;
}

// The reports' hand-derived gradients instead of the tape's: the reference's parameters are the module's values.
template <typename T>
train::StepLoss reference_step(Network<T>& network, data::Batch<T>& batch, const KLayerSettings& s) {
  reference::KLayerParameters<T> parameters;
  for (const auto& linear : network.linears) {
    parameters.weights.push_back(linear->weight().value());
    parameters.biases.push_back(linear->bias().value());
  }
  for (const auto& norm : network.norms) {
    parameters.gammas.push_back(norm->gamma().value());
    parameters.betas.push_back(norm->beta().value());
  }
  const auto result = reference::k_layer_gradients<T>(parameters, batch.X, batch.labels, static_cast<T>(s.lambda),
                                                      static_cast<T>(s.eps));
  for (std::size_t l = 0; l < network.linears.size(); ++l) {
    network.linears[l]->weight().mutable_grad() = result.gradients.weights[l];
    network.linears[l]->bias().mutable_grad() = result.gradients.biases[l];
  }
  for (std::size_t l = 0; l < network.norms.size(); ++l) {
    network.norms[l]->gamma().mutable_grad() = result.gradients.gammas[l];
    network.norms[l]->beta().mutable_grad() = result.gradients.betas[l];
  }
  if (!network.norms.empty()) {
    // The running averages follow the batch as they do on the tape: one forward in training mode, not recorded.
    NoGradGuard no_grad;
    network.model->forward(Tensor<T>::from(batch.X));
  }
  return {static_cast<double>(result.loss), static_cast<double>(result.cost)};
}

template <typename T>
PreActivationStatistics pre_activation_statistics(Network<T>& network, const data::ImageDataset& dataset,
                                                  const data::Normalizer& normalizer) {
  PreActivationStatistics statistics;
  NoGradGuard no_grad;
  network.model->eval();
  const int count = std::min(dataset.size(), 5000);
  Tensor<T> x = Tensor<T>::from(normalizer.apply<T>(dataset.pixels.leftCols(count)));
  std::size_t next = 0;
  for (std::size_t i = 0; i < network.model->size(); ++i) {
    x = network.model->at(i)->forward(x);
    if (next < network.before_relu.size() && network.before_relu[next] == i) {
      const auto values = x.value().template cast<double>().array();
      const double mean = values.mean();
      statistics.mean.push_back(mean);
      statistics.standard_deviation.push_back(std::sqrt((values - mean).square().mean()));
      ++next;
    }
  }
  return statistics;
}

void plot_statistics(const KLayerSettings& s, const PreActivationStatistics& statistics,
                     const RunDirectory& directory) {
  for (const bool of_mean : {true, false}) {
    plot::BarChart chart;
    chart.title = fmt::format("{}: {} of the pre-activations per hidden layer ({} batch norm)", s.preset,
                              of_mean ? "mean" : "std", s.batch_norm ? "with" : "without");
    chart.x_label = "hidden layer";
    chart.y_label = of_mean ? "mean" : "standard deviation";
    const auto& values = of_mean ? statistics.mean : statistics.standard_deviation;
    for (std::size_t l = 0; l < values.size(); ++l) chart.bars.push_back({fmt::format("{}", l + 1), values[l]});
    plot::save(chart, directory.plot_path(of_mean ? "pre_activation_mean" : "pre_activation_std"));
  }
}

void plot_schedule(const KLayerSettings& s, const RunDirectory& directory) {
  const optim::CyclicLR schedule({s.eta_min, s.eta_max, s.n_s});
  plot::Series rate{"learning rate at each step", {}, {}};
  const long stride = std::max<long>(1, s.total_steps() / 4000);
  for (long t = 0; t < s.total_steps(); t += stride) {
    rate.x.push_back(double(t));
    rate.y.push_back(schedule.learning_rate_at(t));
  }
  plot::LineChart chart;
  chart.title = fmt::format("{}: cyclical learning rate (n_s = {}, {} cycles)", s.preset, s.n_s, s.cycles);
  chart.x_axis.label = "update step";
  chart.y_axis.label = "learning rate";
  chart.series = {rate};
  plot::save(chart, directory.plot_path("learning_rate"));
}

// As some reports also measure: the accuracies with every BatchNorm normalising by the statistics of the whole
// training set instead of its running averages, which then come back (for model.safetensors). Empty without
// batch normalisation.
template <typename T, typename Loss, typename Penalty>
nlohmann::json accuracies_with_training_set_statistics(Network<T>& network, const ImageSplits& splits,
                                                       const data::Normalizer& normalizer, const Loss& loss,
                                                       const Penalty& penalty) {
  nlohmann::json accuracies = nlohmann::json::object();
  if (network.norms.empty()) return accuracies;
  const nn::StateDict<T> running = network.model->state_dict();
  train::set_batch_norm_statistics_from_data(*network.model, splits.train, normalizer);
  for (const auto& [key, dataset] : {std::pair{"train_accuracy_training_set_statistics", &splits.train},
                                     std::pair{"val_accuracy_training_set_statistics", &splits.validation},
                                     std::pair{"test_accuracy_training_set_statistics", &splits.test}}) {
    accuracies[key] = train::evaluate_module<T>(*network.model, *dataset, normalizer, loss, 2000, penalty).accuracy;
  }
  network.model->load_state_dict(running);
  return accuracies;
}

void log_line(const std::string& line) { spdlog::info(line); }

// Progress lines through the log, for a run on its own (the trials of a search run side by side without).
std::optional<train::ProgressOptions> progress(const KLayerSettings& s, bool show) {
  if (!show) return std::nullopt;
  return train::ProgressOptions{.label = s.preset, .log = log_line};
}

// What a run directory must match to be resumed or read back: the settings but the thread count, and the data.
nlohmann::json run_key(const KLayerSettings& s, const ImageSplits& splits) {
  nlohmann::json key = to_json(s);
  key.erase("threads");
  key["data"] = splits.description;
  return key;
}

// A run that finished in `directory`, read back from its summary.json and metrics.csv.
RunResult finished_run(const KLayerSettings& s, const RunDirectory& directory,
                       const train::FinishedRun& finished) {
  RunResult result;
  result.summary = nlohmann::json::parse(finished.summary);
  result.rows = finished.rows;
  const auto statistics = [&](const char* key) { return result.summary.value(key, std::vector<double>()); };
  result.pre_activations = {statistics("pre_activation_mean"), statistics("pre_activation_std")};
  spdlog::info("{}: already finished in {}; kept", s.preset, directory.root().string());
  return result;
}

template <typename T>
RunResult train_typed(const KLayerSettings& s, const ImageSplits& splits, const RunDirectory& directory,
                      bool show_progress) {
  const auto started = std::chrono::steady_clock::now();
  const nlohmann::json key = run_key(s, splits);
  const train::DirectoryRun directory_run(directory, key.dump(),
                                          {.name = s.preset,
                                           .resume = resume_mode(),
                                           .log = log_line,
                                           .restart_advice = "start the run again without --resume"});
  if (const auto& finished = directory_run.finished()) return finished_run(s, directory, *finished);
  if (!directory_run.resumes()) {
    nlohmann::json config = key;
    config["threads"] = s.threads;
    write_run_config(directory, config);
  }
  Generator generator(s.seed);
  const data::Normalizer normalizer = data::Normalizer::fitted(splits.train);
  Network<T> network =
      build_network<T>(s, static_cast<int>(splits.train.pixels.rows()), splits.train.num_classes(), generator);
  network.model->train();

  optim::SGD<T> optimizer(network.model->parameters(), {.learning_rate = s.eta_min});
  const optim::CyclicLR schedule({s.eta_min, s.eta_max, s.n_s});
  data::BatchLoader<T> loader(splits.train, normalizer, {.batch_size = s.batch_size, .shuffle = true},
                              generator.split(1));
  const std::vector<Tensor<T>> weights = weights_of(network);
  const auto loss = [&weights, lambda = s.lambda](const Tensor<T>& outputs, std::span<const int> labels) {
    return cross_entropy_with_logits(outputs, labels) + nn::l2_penalty(weights, static_cast<T>(lambda));
  };
  const auto penalty = [&weights, lambda = s.lambda] {
    double sum = 0;
    for (const auto& w : weights) sum += static_cast<double>(w.value().squaredNorm());
    return lambda * sum;
  };
  const long every = std::max<long>(1, 2 * s.n_s / s.evaluations_per_cycle);
  train::Loop<T> loop(*network.model, optimizer, loader, loss,
                      directory_run.loop_options({.total_steps = s.total_steps(),
                                                  .evaluate_every_steps = every,
                                                  .progress = progress(s, show_progress),
                                                  .divergence_advice = "try a smaller --eta-max"}));
  loop.set_schedule(schedule).set_evaluation_data(splits.train, splits.validation).set_penalty(penalty);
  // The default evaluator measures with `loss` (data loss + penalty) and reports the data loss as the cost less
  // the penalty.
  if (s.gradients == GradientSource::reference) {
    loop.set_gradient_step([&](data::Batch<T>& batch) { return reference_step(network, batch, s); });
  }
  loop.callbacks().stop_requested = [] { return train::stop_requested(); };
  const train::Outcome outcome = directory_run.train(loop);
  const std::vector<train::MetricsRow>& rows = outcome.rows;

  const train::Evaluation test =
      train::evaluate_module<T>(*network.model, splits.test, normalizer, loss, 2000, penalty);
  const train::MetricsRow& last = rows.back();
  const nlohmann::json training_set_statistics =
      accuracies_with_training_set_statistics(network, splits, normalizer, loss, penalty);
  // model.safetensors: the parameters, the running statistics (buffers) and the normaliser, by dotted name.
  const std::filesystem::path model_file = directory.root() / "model.safetensors";
  train::save_model_file(model_file, *network.model, normalizer, static_cast<int>(splits.train.shape.features()));

  RunResult result;
  result.rows = rows;
  result.pre_activations = pre_activation_statistics(network, splits.validation, normalizer);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.summary = {{"preset", s.preset},
                    {"lambda", s.lambda},
                    {"data", splits.description},
                    {"train_accuracy", last.train.accuracy},
                    {"val_accuracy", last.validation.accuracy},
                    {"test_accuracy", test.accuracy},
                    {"train_loss", last.train.loss},
                    {"train_cost", last.train.cost},
                    {"val_loss", last.validation.loss},
                    {"test_loss", test.loss},
                    {"wall_seconds", wall},
                    {"pre_activation_mean", result.pre_activations.mean},
                    {"pre_activation_std", result.pre_activations.standard_deviation}};
  result.summary.update(training_set_statistics);
  result.summary = nlohmann::json::parse(directory_run.finish(outcome, result.summary.dump()));
  train::save_training_curves(rows, directory.root(), {.title = s.preset, .against_steps = true});
  plot_schedule(s, directory);
  plot_statistics(s, result.pre_activations, directory);
  return result;
}

}  // namespace

RunResult train_k_layer(const KLayerSettings& settings, const ImageSplits& splits, const RunDirectory& directory,
                        bool show_progress) {
  return in_app_terms([&] {
    return settings.use_double ? train_typed<double>(settings, splits, directory, show_progress)
                               : train_typed<float>(settings, splits, directory, show_progress);
  });
}

ImageSplits load_preset_data(const std::optional<std::filesystem::path>& data_flag, const KLayerSettings& s) {
  ImageSplits splits = load_image_splits(data_flag, CifarSplit::all_batches, s.validation_size);
  if (s.train_size > 0 && splits.train.size() > s.train_size) {
    const int available = splits.train.size();
    splits.train = data::slice(splits.train, 0, s.train_size);
    splits.description +=
        fmt::format("; training on the first {} of its {} training images", s.train_size, available);
  }
  return splits;
}

}  // namespace tapegrad::apps::k_layer_batchnorm
