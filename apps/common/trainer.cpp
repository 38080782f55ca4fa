#include "apps/common/trainer.h"

#include <span>
#include <vector>

namespace tapegrad::apps {

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

template <typename T>
TrainingOutcome train(Classifier<T>& model, optim::Optimizer<T>& optimizer, const optim::LearningRateSchedule& schedule,
                      data::BatchLoader<T>& loader, const data::ImageDataset& train_evaluation,
                      const data::ImageDataset& validation, const data::Normalizer& normalizer,
                      const TrainingPlan& plan, const train::Callbacks& callbacks, const train::Start<T>& start) {
  // The classifier's loss as the loop's loss function: unused by the replaced step and evaluation, but what the
  // loop would fall back on.
  auto loss = [&model, lambda = plan.lambda](const Tensor<T>& outputs, std::span<const int> labels) {
    return Tensor<T>::scalar(static_cast<T>(model.loss_from_scores(outputs.value(), labels) + model.penalty(lambda)));
  };
  train::Loop<T> loop(model.module(), optimizer, loader, loss, plan.loop);
  loop.set_schedule(schedule).set_evaluation_data(train_evaluation, validation);
  loop.set_evaluator([&](const data::ImageDataset& dataset) {
    return evaluate(model, dataset, normalizer, plan.lambda, plan.loop.evaluation_chunk);
  });
  loop.set_gradient_step([&](data::Batch<T>& batch) {
    // The batch is lent to the step, not copied (compute_gradients swaps it in and back).
    const LossAndCost lc = model.compute_gradients(batch.X, batch.labels, plan.lambda, plan.path);
    return train::StepLoss{.loss = lc.loss, .cost = lc.cost};
  });
  loop.callbacks() = callbacks;
  return loop.run(start);
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
                               const data::Normalizer&, const TrainingPlan&, const train::Callbacks&,
                               const train::Start<float>&);
template TrainingOutcome train(Classifier<double>&, optim::Optimizer<double>&, const optim::LearningRateSchedule&,
                               data::BatchLoader<double>&, const data::ImageDataset&, const data::ImageDataset&,
                               const data::Normalizer&, const TrainingPlan&, const train::Callbacks&,
                               const train::Start<double>&);

}  // namespace tapegrad::apps
