#include "apps/common/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tapegrad::apps {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The name of a parameter holding NaN or Inf, or nothing. `parameters` is module.parameters(), fetched once.
template <typename T>
std::optional<std::string> non_finite_parameter(const nn::Module<T>& module, const std::vector<Tensor<T>>& parameters) {
  for (const auto& p : parameters) {
    if (p.value().allFinite()) continue;
    for (const auto& named : module.named_parameters())
      if (named.tensor.value().data() == p.value().data()) return named.name;
    return std::string("?");
  }
  return std::nullopt;
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
                      const TrainingPlan& plan, const TrainingHooks& hooks, const TrainingStart<T>& start) {
  TrainingOutcome outcome;
  const long start_step = start.step;
  const long steps_per_epoch = std::max(1, loader.batches_per_epoch());
  auto epoch_of = [&](long step) { return static_cast<double>(step) / static_cast<double>(steps_per_epoch); };

  // Evaluations still to make: a resumed run has made those up to its last row already.
  const long done_up_to = start.rows.empty() ? start_step - 1 : start.rows.back().step;
  std::vector<long> pending;
  for (long s : plan.evaluation_steps)
    if (s >= start_step && s > done_up_to) pending.push_back(s);
  std::sort(pending.begin(), pending.end());
  std::size_t next_evaluation = 0;

  double best_validation_loss = std::numeric_limits<double>::infinity();
  int evaluations_without_improvement = 0;
  std::vector<Matrix<T>> best_parameters;
  // Early stopping's bookkeeping for one evaluation (patience > 0); true when it is a new best.
  const auto note_validation = [&](const MetricsRow& row) {
    if (row.validation.loss < best_validation_loss) {
      best_validation_loss = row.validation.loss;
      evaluations_without_improvement = 0;
      outcome.best_step = row.step;
      return true;
    }
    if (++evaluations_without_improvement >= plan.patience) outcome.early_stopped = true;
    return false;
  };

  // Early stopping's state after the evaluations a resumed run made before: the same comparisons, replayed.
  outcome.rows = start.rows;
  if (plan.patience > 0) {
    for (const MetricsRow& row : start.rows) note_validation(row);
    if (outcome.best_step >= 0) {
      if (start.best_parameters.size() != model.module().parameters().size()) {
        throw Error(fmt::format("resuming at step {}: the weights of the best evaluation (step {}) are missing",
                                start_step, outcome.best_step));
      }
      if (start.best_step != outcome.best_step) {
        throw Error(fmt::format("resuming at step {}: the saved best weights are those of step {}, but the best "
                                "evaluation before that step is step {} (the run was stopped while saving them); "
                                "start the run again without --resume",
                                start_step, start.best_step, outcome.best_step));
      }
      best_parameters = start.best_parameters;
    }
  }

  auto run_evaluation = [&](long step) {
    const auto evaluation_start = Clock::now();
    MetricsRow row;
    row.step = step;
    row.epoch = epoch_of(step);
    row.learning_rate = optimizer.learning_rate();
    row.train = evaluate(model, train_evaluation, normalizer, plan.lambda, plan.evaluation_chunk);
    row.validation = evaluate(model, validation, normalizer, plan.lambda, plan.evaluation_chunk);
    outcome.evaluation_seconds += seconds_since(evaluation_start);
    outcome.rows.push_back(row);
    if (plan.patience > 0 && note_validation(row)) {
      best_parameters.clear();
      for (const auto& p : model.module().parameters()) best_parameters.push_back(p.value());
      if (hooks.on_new_best) hooks.on_new_best(step);
    }
    if (hooks.on_evaluation) hooks.on_evaluation(row);
  };

  // Initial learning rate so that an evaluation at step 0 reports it.
  schedule.apply(optimizer, start_step);
  while (next_evaluation < pending.size() && pending[next_evaluation] == start_step) {
    run_evaluation(start_step);
    ++next_evaluation;
  }

  const auto train_start = Clock::now();
  double evaluation_before = outcome.evaluation_seconds;
  const std::vector<Tensor<T>> parameters = model.module().parameters();
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
    // The cost catches most divergence one step later, but a ReLU can hide a NaN weight from the loss for good.
    if (const auto bad = non_finite_parameter(model.module(), parameters)) {
      outcome.diverged = true;
      outcome.divergence = fmt::format(
          "training diverged at step {} (epoch {:.2f}): the update made parameter '{}' NaN or Inf with learning "
          "rate {:g}; try a smaller learning rate (--eta)",
          step, epoch_of(step), *bad, optimizer.learning_rate());
      --step;  // that update is not part of the run: the last good state is the step before
      break;
    }
    if (hooks.on_step) hooks.on_step(step, plan.total_steps, lc.cost);
    while (next_evaluation < pending.size() && pending[next_evaluation] <= step) {
      if (pending[next_evaluation] == step) run_evaluation(step);
      ++next_evaluation;
    }
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
                               const data::Normalizer&, const TrainingPlan&, const TrainingHooks&,
                               const TrainingStart<float>&);
template TrainingOutcome train(Classifier<double>&, optim::Optimizer<double>&, const optim::LearningRateSchedule&,
                               data::BatchLoader<double>&, const data::ImageDataset&, const data::ImageDataset&,
                               const data::Normalizer&, const TrainingPlan&, const TrainingHooks&,
                               const TrainingStart<double>&);

}  // namespace tapegrad::apps
