#include <tapegrad/nn/evaluation.h>

#include <fmt/format.h>

#include <source_location>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/loss.h>

namespace tapegrad::nn {

template <typename T>
std::vector<int> predict(const Matrix<T>& scores) {
  if (scores.rows() == 0) {
    throw_error(fmt::format("predict: the scores {} have no rows; there must be one row per class",
                            shape_string(scores.rows(), scores.cols())));
  }
  std::vector<int> predictions(static_cast<std::size_t>(scores.cols()));
  for (Index j = 0; j < scores.cols(); ++j) {
    Index best = 0;
    scores.col(j).maxCoeff(&best);
    predictions[static_cast<std::size_t>(j)] = static_cast<int>(best);
  }
  return predictions;
}

template <typename T>
std::vector<int> predict(const Tensor<T>& scores) {
  return predict(scores.value());
}

template <typename T>
double accuracy(const Matrix<T>& scores, std::span<const int> labels) {
  if (scores.cols() == 0) {
    throw_error(fmt::format("accuracy: the batch {} is empty; accuracy needs at least one column",
                            shape_string(scores.rows(), scores.cols())));
  }
  check_labels("accuracy", labels, scores.rows(), scores.cols(), std::source_location());
  const std::vector<int> predictions = predict(scores);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) correct += predictions[i] == labels[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(predictions.size());
}

template <typename T>
double accuracy(const Tensor<T>& scores, std::span<const int> labels) {
  return accuracy(scores.value(), labels);
}

#define TAPEGRAD_INSTANTIATE_EVALUATION(T)                          \
  template std::vector<int> predict(const Matrix<T>&);              \
  template std::vector<int> predict(const Tensor<T>&);              \
  template double accuracy(const Matrix<T>&, std::span<const int>); \
  template double accuracy(const Tensor<T>&, std::span<const int>);

TAPEGRAD_INSTANTIATE_EVALUATION(float)
TAPEGRAD_INSTANTIATE_EVALUATION(double)

}  // namespace tapegrad::nn
