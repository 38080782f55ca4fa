#include <tapegrad/nn/train/evaluate.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/evaluation.h>

namespace tapegrad::train {
template <typename T>
Evaluation evaluate_module(
    nn::Module<T>& module, const data::ImageDataset& dataset, const data::Normalizer& normalizer,
    const std::function<Tensor<T>(const Tensor<T>& outputs, std::span<const int> labels)>& cost_of_batch,
    int chunk_size, const std::function<double()>& penalty) {
  if (chunk_size < 1) {
    throw_error(fmt::format("evaluate_module: chunk_size is {}; it must be at least 1", chunk_size));
  }
  Evaluation result;
  if (dataset.size() == 0) return result;
  NoGradGuard no_grad;
  EvaluationModeGuard<T> mode(module);
  double cost_sum = 0;
  long correct = 0;
  data::for_each_chunk<T>(dataset, normalizer, chunk_size,
                          [&](const Matrix<T>& x, int /*first*/, std::span<const int> labels) {
                            const Tensor<T> outputs = module.forward(Tensor<T>::from(x));
                            const Tensor<T> cost = cost_of_batch(outputs, labels);
                            if (cost.rows() != 1 || cost.cols() != 1) {
                              throw_error(fmt::format("evaluate_module: the loss function gave a {} tensor; it "
                                                      "must give the batch's cost as 1 x 1",
                                                      cost.shape_string()));
                            }
                            cost_sum += static_cast<double>(cost.item()) * static_cast<double>(labels.size());
                            const Matrix<T>& scores = outputs.value();
                            if (scores.rows() == 1) {
                              for (std::size_t j = 0; j < labels.size(); ++j)
                                correct += (scores(0, static_cast<Index>(j)) >= T(0) ? 1 : 0) == labels[j];
                            } else {
                              const std::vector<int> predicted = nn::predict(scores);
                              for (std::size_t j = 0; j < labels.size(); ++j) correct += predicted[j] == labels[j];
                            }
                          });
  const double n = static_cast<double>(dataset.size());
  result.cost = cost_sum / n;
  result.loss = penalty ? result.cost - penalty() : result.cost;
  result.accuracy = static_cast<double>(correct) / n;
  return result;
}

template <typename T>
int set_batch_norm_statistics_from_data(nn::Sequential<T>& model, const data::ImageDataset& dataset,
                                        const data::Normalizer& normalizer, int chunk_size) {
  if (chunk_size < 1) {
    throw_error(fmt::format("set_batch_norm_statistics_from_data: chunk_size is {}; it must be at least 1",
                            chunk_size));
  }
  if (dataset.size() == 0) throw_error("set_batch_norm_statistics_from_data: the data set is empty");
  NoGradGuard no_grad;
  EvaluationModeGuard<T> mode(model);
  const Index n = dataset.size();
  // The whole set's values where the walk through the layers has got to, one column per example: the images
  // first, then what each stretch of layers up to the next BatchNorm makes of them, `chunk_size` columns at a time.
  // One forward pass in all; only the pixels stay in their compact form until the first stretch.
  Matrix<T> values;
  std::size_t position = 0;
  const auto advance_to = [&](std::size_t end) {
    Matrix<T> next;
    const auto forward = [&](Matrix<T> x, Index first) {
      Tensor<T> s = Tensor<T>::from(std::move(x));
      for (std::size_t i = position; i < end; ++i) s = model.at(i)->forward(s);
      if (next.size() == 0) next.resize(s.rows(), n);
      next.middleCols(first, s.cols()) = s.value();
    };
    if (position == 0) {
      data::for_each_chunk<T>(dataset, normalizer, chunk_size,
                              [&](const Matrix<T>& x, int first, std::span<const int>) { forward(x, first); });
    } else {
      for (Index first = 0; first < n; first += chunk_size) {
        forward(values.middleCols(first, std::min<Index>(chunk_size, n - first)), first);
      }
    }
    values = std::move(next);
    position = end;
  };
  int layers_set = 0;
  for (std::size_t layer = 0; layer < model.size(); ++layer) {
    auto* norm = dynamic_cast<nn::BatchNorm<T>*>(model.at(layer).get());
    if (norm == nullptr) continue;
    advance_to(layer);
    // Two passes in double: the mean, then the mean squared deviation from it.
    const Eigen::MatrixXd s = values.template cast<double>();
    const Eigen::VectorXd mean = s.rowwise().mean();
    const Eigen::VectorXd variance = (s.colwise() - mean).array().square().rowwise().mean();
    norm->running_mean().mutable_value() = mean.cast<T>();
    norm->running_var().mutable_value() = variance.cast<T>();
    ++layers_set;
  }
  return layers_set;
}

#define TAPEGRAD_INSTANTIATE_EVALUATE_MODULE(T)                                                               \
  template Evaluation evaluate_module(                                                                        \
      nn::Module<T>&, const data::ImageDataset&, const data::Normalizer&,                                     \
      const std::function<Tensor<T>(const Tensor<T>&, std::span<const int>)>&, int, const std::function<double()>&);

TAPEGRAD_INSTANTIATE_EVALUATE_MODULE(float)
TAPEGRAD_INSTANTIATE_EVALUATE_MODULE(double)
template int set_batch_norm_statistics_from_data(nn::Sequential<float>&, const data::ImageDataset&,
                                                 const data::Normalizer&, int);
template int set_batch_norm_statistics_from_data(nn::Sequential<double>&, const data::ImageDataset&,
                                                 const data::Normalizer&, int);

}  // namespace tapegrad::train
