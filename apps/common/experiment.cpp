#include "apps/common/experiment.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>

#include "apps/common/app_error.h"
#include "apps/common/run_info.h"
#include "apps/common/shard.h"
#include "apps/common/threads.h"
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/train/curves.h>
#include <tapegrad/nn/train/directory_run.h>
#include <tapegrad/nn/train/model_file.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/stop_signal.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>
#include <tapegrad/ops/numerics.h>

// run_experiment: the model, optimizer, schedule and loader the settings ask for, trained by the library's loop
// (which saves checkpoint.bin and best.bin and resumes from them), then what the course's report asks for beyond
// the loop's curves: summary.json's keys, the templates and the true-class histogram, model.safetensors.
namespace tapegrad::train {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Evaluation, loss, cost, accuracy)
}  // namespace tapegrad::train

namespace tapegrad::apps {
namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> resume_flag{false};

void log_line(const std::string& line) { spdlog::info(line); }

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

// summary.json's own keys; the outcome's are the library's (train::DirectoryRun::finish).
nlohmann::json run_summary(const ExperimentSettings& s, const ExperimentData& d, bool resumed) {
  return {{"name", s.name},
          {"data", d.description},
          {"seed", s.seed},
          {"threads", s.threads},
          {"lambda", s.lambda},
          {"eta", s.eta},
          {"batch_size", s.batch_size},
          {"resumed", resumed},
          {"build", build_info_json()}};
}

void add_results(nlohmann::json& summary, const ExperimentResult& result) {
  summary["train_accuracy"] = result.train.accuracy;
  summary["val_accuracy"] = result.validation.accuracy;
  summary["test_accuracy"] = result.test.accuracy;
  summary["train"] = result.train;
  summary["validation"] = result.validation;
  summary["test"] = result.test;
  summary["loss"] = result.train.loss;
  summary["cost"] = result.train.cost;
  summary["weight_norms"] = result.weight_norms;
}

// A run that finished in `directory`, read back from its summary.json and metrics.csv, without its checkpoint.
ExperimentResult finished_run(const ExperimentSettings& s, const RunDirectory& directory,
                              const train::FinishedRun& finished) {
  try {
    ExperimentResult result;
    result.settings = s;
    result.directory = directory.root();
    result.summary = nlohmann::json::parse(finished.summary);
    const nlohmann::json& summary = result.summary;
    result.train = summary.at("train").get<train::Evaluation>();
    result.validation = summary.at("validation").get<train::Evaluation>();
    result.test = summary.at("test").get<train::Evaluation>();
    result.weight_norms = summary.at("weight_norms").get<std::vector<double>>();
    result.outcome = finished.outcome;
    spdlog::info("{}: already finished in {} (test {:.2f}%); kept", s.name, directory.root().string(),
                 100 * result.test.accuracy);
    return result;
  } catch (const nlohmann::json::exception& error) {
    throw UsageError(fmt::format("cannot resume from '{}': it lacks a field a finished run writes ({})",
                                 directory.summary_path().string(), error.what()),
                     "start the run again without --resume");
  }
}

// The learnt weights of a linear model as images of the data's own size, one per class, each scaled to its own
// range by the plot; the histogram of the probability of the true class.
template <typename T>
void plot_run(const ExperimentSettings& s, const Classifier<T>& model, const ExperimentData& d,
              const RunDirectory& directory) {
  const Matrix<T>& weights = model.layers[0]->weight().value();
  const data::ImageDataset& train = *d.train;
  if (s.plot_templates && s.model == ModelKind::linear && weights.cols() == train.shape.features()) {
    plot::ImageGrid grid{.title = fmt::format("{}: learnt weights per class", s.name),
                         .columns = weights.rows() > 10 ? 10 : 0};
    for (Index k = 0; k < weights.rows(); ++k) {
      plot::GridImage image{
          .channels = train.shape.channels, .height = train.shape.height, .width = train.shape.width};
      for (Index i = 0; i < weights.cols(); ++i) image.planes.push_back(float(weights(k, i)));
      const auto row = static_cast<std::size_t>(k);
      image.caption = weights.rows() == 1              ? std::string(1, 'w')
                      : row < train.class_names.size() ? train.class_names[row]
                                                       : std::to_string(k);
      grid.images.push_back(std::move(image));
    }
    plot::save(grid, directory.plot_path("templates"));
  }
  if (s.plot_histogram) plot_true_class_probability(s, model, d, directory);
}

// model.safetensors: the trained weights (with early stopping, the kept best ones) and the normaliser, with
// metadata that tells a reader without tapegrad how to predict with them.
template <typename T>
void save_model_file(const Classifier<T>& model, const ExperimentData& d, const ExperimentSettings& s,
                     const RunDirectory& directory) {
  const data::ImageDataset& train_set = *d.train;
  const Index features = train_set.shape.features();
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
      {"prediction", binary ? "class 1 when the score (weight x + bias) is >= 0, else class 0"
                            : "the class (row) with the largest score; scores = weight x + bias per linear layer, "
                              "ReLU between layers"}};
  train::save_model_file(directory.root() / "model.safetensors", *model.network, d.normalizer,
                         static_cast<int>(features), {}, metadata);
}

std::unique_ptr<optim::LearningRateSchedule> make_schedule(const ExperimentSettings& s, long steps_per_epoch) {
  switch (s.schedule) {
    case ScheduleKind::constant:
      return std::make_unique<optim::ConstantLR>(s.eta);
    case ScheduleKind::step_decay:
      return std::make_unique<optim::StepDecayLR>(
          optim::StepDecayLR::from_epochs(s.eta, s.decay_factor, s.decay_every_epochs, steps_per_epoch));
    case ScheduleKind::cyclic:
      return std::make_unique<optim::CyclicLR>(optim::CyclicLROptions{s.eta_min, s.eta_max, s.n_s});
  }
  return nullptr;
}

// What a run directory must match to be resumed or reused: the settings that decide the numbers (not the thread
// count, not where the output goes) and the data they were computed on.
nlohmann::json resume_key(const ExperimentSettings& s, const ExperimentData& d) {
  nlohmann::json key = s.to_json();
  key.erase("threads");
  key["data"] = d.description;
  key["train_examples"] = d.train->size();
  key["validation_examples"] = d.validation->size();
  key["test_examples"] = d.test->size();
  return key;
}

// A fresh run records its settings first (a resumed one keeps the config.json it has).
void write_config(const ExperimentSettings& s, const ExperimentData& d, const nlohmann::json& key,
                  const RunDirectory& directory) {
  nlohmann::json config = key;
  config["threads"] = s.threads;
  config["steps_per_epoch"] = s.steps_per_epoch(d.train->size());
  config["planned_steps"] = s.planned_steps(d.train->size());  // "total_steps" is the setting (0: from the epochs)
  config["build"] = build_info_json();
  config["written_at"] = utc_timestamp();
  write_run_config(directory, config);
}

// What one run trains, built from its settings, and the loop that trains it.
// Built in place and never moved: the loop's functions refer to `model`, `optimizer` and `loader`.
template <typename T>
struct PlannedRun {
  PlannedRun() = default;
  PlannedRun(const PlannedRun&) = delete;
  PlannedRun& operator=(const PlannedRun&) = delete;

  Classifier<T> model;
  std::unique_ptr<optim::SGD<T>> optimizer;
  std::unique_ptr<optim::LearningRateSchedule> schedule;
  std::unique_ptr<data::BatchLoader<T>> loader;
  std::unique_ptr<train::Loop<T>> loop;
};

template <typename T>
void plan_run(PlannedRun<T>& run, const ExperimentSettings& s, const ExperimentData& d,
              const train::DirectoryRun& directory_run) {
  const data::ImageDataset& train_set = *d.train;
  const long steps_per_epoch = s.steps_per_epoch(train_set.size());
  // The product thread count is process-wide: trials of a sweep (all single-threaded) leave it alone.
  if (product_threads() != s.threads) set_thread_count(s.threads);
  Generator generator(s.seed);
  const Index features = train_set.shape.features();
  run.model =
      s.model == ModelKind::two_layer
          ? make_two_layer_network<T>(features, s.hidden, train_set.num_classes(), s.lambda, generator)
          : make_linear_classifier<T>(features, train_set.num_classes(), s.loss, s.init_std, s.lambda, generator);
  std::vector<Tensor<T>> trained_parameters;
  for (const auto& p : run.model.network->named_parameters()) {
    if (s.use_bias || nn::is_weight_name(p.name))
      trained_parameters.push_back(p.tensor);
    else
      p.tensor.mutable_value().setZero();
  }
  run.optimizer = std::make_unique<optim::SGD<T>>(
      trained_parameters,
      optim::SGDOptions{.learning_rate = s.schedule == ScheduleKind::cyclic ? s.eta_min : s.eta});
  run.schedule = make_schedule(s, steps_per_epoch);
  run.loader = std::make_unique<data::BatchLoader<T>>(
      train_set, d.normalizer,
      data::BatchLoaderOptions{
          .batch_size = s.batch_size, .shuffle = s.shuffle, .flip_probability = s.flip_probability},
      generator.split(1));
  train::LoopOptions options{
      .total_steps = s.planned_steps(train_set.size()),
      .evaluate_every_steps = s.evaluate_every_steps > 0 ? s.evaluate_every_steps : steps_per_epoch,
      .evaluate_at_start = s.evaluate_at_start,
      .patience = s.patience};
  if (s.show_progress) options.progress = train::ProgressOptions{.label = s.name, .log = log_line};
  run.loop = std::make_unique<train::Loop<T>>(
      make_loop(run.model, *run.optimizer, *run.loader, directory_run.loop_options(options), s.path));
  run.loop->set_schedule(*run.schedule).set_evaluation_data(train_set, *d.validation);
  run.loop->callbacks().stop_requested = train::stop_requested;
}

// Evaluate: the three splits as the loop measures them, and each weight matrix's L2 norm.
template <typename T>
void evaluate_run(PlannedRun<T>& run, const ExperimentData& d, ExperimentResult& result) {
  result.train = run.loop->evaluate(*d.train);
  result.validation = run.loop->evaluate(*d.validation);
  result.test = run.loop->evaluate(*d.test);
  for (const auto& layer : run.model.layers) {
    result.weight_norms.push_back(layer->weight().value().template cast<double>().norm());
  }
}

// The curves so far, also of a run that did not finish.
void save_curves(const ExperimentSettings& s, const train::Outcome& outcome, const RunDirectory& directory) {
  if (outcome.rows.empty()) return;
  train::save_training_curves(outcome.rows, directory.root(),
                              {.title = s.name,
                               .against_steps = s.evaluate_every_steps > 0,
                               .always_plot_rate = s.schedule != ScheduleKind::constant});
}

template <typename T>
ExperimentResult run_typed(const ExperimentSettings& s, const ExperimentData& d, const RunDirectory& directory) {
  const auto wall_start = Clock::now();
  const auto wall_seconds = [&] { return std::chrono::duration<double>(Clock::now() - wall_start).count(); };
  const nlohmann::json key = resume_key(s, d);
  const train::DirectoryRun directory_run(directory, key.dump(),
                                          {.name = s.name,
                                           .resume = resume_mode(),
                                           .checkpoints = s.save_checkpoint,
                                           .log = log_line,
                                           .restart_advice = "start the run again without --resume"});
  if (const auto& finished = directory_run.finished()) return finished_run(s, directory, *finished);
  if (!directory_run.resumes()) write_config(s, d, key, directory);

  PlannedRun<T> run;
  plan_run(run, s, d, directory_run);
  const auto summary_of = [&](const train::Outcome& outcome) {
    save_curves(s, outcome, directory);
    nlohmann::json summary = run_summary(s, d, directory_run.resumes());
    summary["wall_seconds"] = wall_seconds();
    return summary;
  };
  const train::Outcome outcome = directory_run.train(
      *run.loop, [&](const train::Outcome& unfinished) { return summary_of(unfinished).dump(); });
  nlohmann::json summary = summary_of(outcome);

  ExperimentResult result;
  result.settings = s;
  result.outcome = outcome;
  result.directory = directory.root();
  evaluate_run(run, d, result);
  plot_run(s, run.model, d, directory);
  save_model_file(run.model, d, s, directory);
  add_results(summary, result);
  summary["wall_seconds"] = wall_seconds();  // with the evaluation and the files
  result.summary = nlohmann::json::parse(directory_run.finish(outcome, summary.dump()));
  spdlog::info("{}: train {:.2f}%  validation {:.2f}%  test {:.2f}%  ({} steps, {:.1f} s training)", s.name,
               100 * result.train.accuracy, 100 * result.validation.accuracy, 100 * result.test.accuracy,
               outcome.steps, outcome.train_seconds);
  return result;
}

}  // namespace

void set_resume_mode(bool on) { resume_flag.store(on); }

// A shard continues what its trials left in --out, like a resume: a shard started again (a requeued array task)
// keeps its finished trials, continues the interrupted ones and refuses a trial directory of other settings.
bool resume_mode() { return resume_flag.load() || active_shard().has_value(); }

ExperimentData experiment_data(const ImageSplits& splits, data::Normalizer normalizer) {
  return {.train = &splits.train,
          .validation = &splits.validation,
          .test = &splits.test,
          .normalizer = std::move(normalizer),
          .description = splits.description};
}

ExperimentResult run_experiment(const ExperimentSettings& settings, const ExperimentData& data,
                                const RunDirectory& directory) {
  settings.validate();
  if (data.train == nullptr || data.validation == nullptr || data.test == nullptr || data.train->size() == 0) {
    throw DataError(fmt::format("{}: no training data", settings.name));
  }
  return in_app_terms([&] {
    return settings.use_double ? run_typed<double>(settings, data, directory)
                               : run_typed<float>(settings, data, directory);
  });
}

}  // namespace tapegrad::apps
