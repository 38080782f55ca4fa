#include "apps/common/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace tapegrad::apps {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

template <typename T>
bool parameters_finite(const nn::Module<T>& module, std::string& bad_name) {
  for (const auto& p : module.named_parameters()) {
    if (!p.tensor.value().allFinite()) {
      bad_name = p.name;
      return false;
    }
  }
  return true;
}

}  // namespace

// The one pass over a dataset that both evaluations make: scores chunk by chunk, loss and accuracy summed;
// `on_chunk` sees each chunk's scores, predictions and labels.
template <typename T, typename OnChunk>
Evaluation evaluate_chunks(const Classifier<T>& model, const data::ImageDataset& dataset,
                           const data::Normalizer& normalizer, double lambda, int chunk_size, OnChunk&& on_chunk) {
  Evaluation result;
  if (dataset.size() == 0) return result;
  NoGradGuard no_grad;
  Matrix<T> scores;
  double loss_sum = 0;
  long correct = 0;
  data::for_each_chunk<T>(dataset, normalizer, chunk_size,
                          [&](const Matrix<T>& x, int /*first*/, std::span<const int> labels) {
                            model.scores(x, scores);
                            loss_sum += model.loss_from_scores(scores, labels) * static_cast<double>(labels.size());
                            const auto predicted = model.predictions(scores);
                            for (std::size_t j = 0; j < labels.size(); ++j) correct += predicted[j] == labels[j];
                            on_chunk(scores, predicted, labels);
                          });
  const double n = static_cast<double>(dataset.size());
  result.loss = loss_sum / n;
  result.cost = result.loss + model.penalty(lambda);
  result.accuracy = static_cast<double>(correct) / n;
  return result;
}

template <typename T>
DetailedEvaluation evaluate_detailed(const Classifier<T>& model, const data::ImageDataset& dataset,
                                     const data::Normalizer& normalizer, double lambda, int chunk_size) {
  DetailedEvaluation result;
  result.predictions.reserve(static_cast<std::size_t>(dataset.size()));
  result.true_class_probabilities.reserve(static_cast<std::size_t>(dataset.size()));
  result.summary = evaluate_chunks(model, dataset, normalizer, lambda, chunk_size,
                                   [&](const Matrix<T>& scores, const std::vector<int>& predicted,
                                       std::span<const int> labels) {
                                     result.predictions.insert(result.predictions.end(), predicted.begin(),
                                                               predicted.end());
                                     const auto p = model.true_class_probabilities(scores, labels);
                                     result.true_class_probabilities.insert(result.true_class_probabilities.end(),
                                                                            p.begin(), p.end());
                                   });
  return result;
}

template <typename T>
Evaluation evaluate(const Classifier<T>& model, const data::ImageDataset& dataset, const data::Normalizer& normalizer,
                    double lambda, int chunk_size) {
  return evaluate_chunks(model, dataset, normalizer, lambda, chunk_size,
                         [](const Matrix<T>&, const std::vector<int>&, std::span<const int>) {});
}

std::vector<long> evaluation_schedule(long total_steps, long every, bool include_start) {
  std::vector<long> steps;
  if (include_start) steps.push_back(0);
  if (every <= 0) every = total_steps;
  for (long t = every; t < total_steps; t += every) steps.push_back(t);
  if (total_steps > 0 && (steps.empty() || steps.back() != total_steps)) steps.push_back(total_steps);
  return steps;
}

template <typename T>
TrainingOutcome train(Classifier<T>& model, optim::Optimizer<T>& optimizer, const optim::LearningRateSchedule& schedule,
                      data::BatchLoader<T>& loader, const data::ImageDataset& train_evaluation,
                      const data::ImageDataset& validation, const data::Normalizer& normalizer,
                      const TrainingPlan& plan, const TrainingHooks& hooks, long start_step) {
  TrainingOutcome outcome;
  const long steps_per_epoch = std::max(1, loader.batches_per_epoch());
  auto epoch_of = [&](long step) { return static_cast<double>(step) / static_cast<double>(steps_per_epoch); };

  std::vector<long> pending;
  for (long s : plan.evaluation_steps)
    if (s >= start_step) pending.push_back(s);
  std::sort(pending.begin(), pending.end());
  std::size_t next_evaluation = 0;

  double best_validation_loss = std::numeric_limits<double>::infinity();
  int evaluations_without_improvement = 0;
  std::vector<Matrix<T>> best_parameters;

  auto run_evaluation = [&](long step) {
    const auto start = Clock::now();
    MetricsRow row;
    row.step = step;
    row.epoch = epoch_of(step);
    row.learning_rate = optimizer.learning_rate();
    row.train = evaluate(model, train_evaluation, normalizer, plan.lambda, plan.evaluation_chunk);
    row.validation = evaluate(model, validation, normalizer, plan.lambda, plan.evaluation_chunk);
    outcome.evaluation_seconds += seconds_since(start);
    outcome.rows.push_back(row);
    if (hooks.on_evaluation) hooks.on_evaluation(row);
    if (plan.patience > 0) {
      if (row.validation.loss < best_validation_loss) {
        best_validation_loss = row.validation.loss;
        evaluations_without_improvement = 0;
        outcome.best_step = step;
        best_parameters.clear();
        for (const auto& p : model.module().parameters()) best_parameters.push_back(p.value());
      } else if (++evaluations_without_improvement >= plan.patience) {
        outcome.early_stopped = true;
      }
    }
  };

  // Initial learning rate so that an evaluation at step 0 reports it.
  schedule.apply(optimizer, start_step);
  while (next_evaluation < pending.size() && pending[next_evaluation] == start_step) {
    run_evaluation(start_step);
    ++next_evaluation;
  }

  const auto train_start = Clock::now();
  double evaluation_before = outcome.evaluation_seconds;
  long step = start_step;
  while (step < plan.total_steps && !outcome.early_stopped) {
    if (hooks.stop_requested && hooks.stop_requested()) {
      outcome.interrupted = true;
      break;
    }
    schedule.apply(optimizer, step);
    if (!loader.next()) loader.next();  // the end of an epoch: the next call starts (and reshuffles) the next one
    auto& batch = loader.mutable_batch();  // lent to the step, not copied (compute_gradients swaps it back)
    const LossAndCost lc = model.compute_gradients(batch.X, batch.labels, plan.lambda, plan.path);
    if (!std::isfinite(lc.cost)) {
      outcome.diverged = true;
      outcome.divergence = fmt::format(
          "training diverged at step {} (epoch {:.2f}): the cost became {} with learning rate {:g}; try a smaller "
          "learning rate (--eta)",
          step + 1, epoch_of(step + 1), lc.cost, optimizer.learning_rate());
      break;
    }
    optimizer.step();
    ++step;
    if (hooks.on_step) hooks.on_step(step, plan.total_steps, lc.cost);
    while (next_evaluation < pending.size() && pending[next_evaluation] <= step) {
      if (pending[next_evaluation] == step) {
        std::string bad;
        if (!parameters_finite(model.module(), bad)) {
          outcome.diverged = true;
          outcome.divergence = fmt::format(
              "training diverged at step {} (epoch {:.2f}): parameter '{}' holds NaN or Inf; try a smaller "
              "learning rate (--eta)",
              step, epoch_of(step), bad);
          break;
        }
        run_evaluation(step);
      }
      ++next_evaluation;
    }
    if (outcome.diverged) break;
  }
  outcome.steps = step;
  outcome.train_seconds = seconds_since(train_start) - (outcome.evaluation_seconds - evaluation_before);
  outcome.stopped_epoch = epoch_of(step);

  if (outcome.early_stopped && !best_parameters.empty()) {
    NoGradGuard no_grad;
    const auto parameters = model.module().parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) parameters[i].mutable_value() = best_parameters[i];
  }
  return outcome;
}

template Evaluation evaluate(const Classifier<float>&, const data::ImageDataset&, const data::Normalizer&, double, int);
template Evaluation evaluate(const Classifier<double>&, const data::ImageDataset&, const data::Normalizer&, double,
                             int);
template DetailedEvaluation evaluate_detailed(const Classifier<float>&, const data::ImageDataset&,
                                              const data::Normalizer&, double, int);
template DetailedEvaluation evaluate_detailed(const Classifier<double>&, const data::ImageDataset&,
                                              const data::Normalizer&, double, int);
template TrainingOutcome train(Classifier<float>&, optim::Optimizer<float>&, const optim::LearningRateSchedule&,
                               data::BatchLoader<float>&, const data::ImageDataset&, const data::ImageDataset&,
                               const data::Normalizer&, const TrainingPlan&, const TrainingHooks&, long);
template TrainingOutcome train(Classifier<double>&, optim::Optimizer<double>&, const optim::LearningRateSchedule&,
                               data::BatchLoader<double>&, const data::ImageDataset&, const data::ImageDataset&,
                               const data::Normalizer&, const TrainingPlan&, const TrainingHooks&, long);

}  // namespace tapegrad::apps
