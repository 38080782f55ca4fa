#include <tapegrad/nn/reference/evaluation.h>

#include <fmt/format.h>

#include <tapegrad/nn/reference/validation.h>

#include <tapegrad/nn/reference/linear_layer.h>

namespace tapegrad::reference {

template <typename T>
std::vector<int> predict_classes(const Matrix<T>& scores) {
  if (scores.rows() == 0 && scores.cols() > 0) {
    throw_argument_error(fmt::format("predict_classes: scores {} have no rows; pass one row per class",
                            shape_text(scores.rows(), scores.cols())));
  }
  std::vector<int> predictions(static_cast<std::size_t>(scores.cols()));
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    Eigen::Index best = 0;
    scores.col(j).maxCoeff(&best);
    predictions[static_cast<std::size_t>(j)] = static_cast<int>(best);
  }
  return predictions;
}

template <typename T>
std::vector<int> linear_predictions(const Matrix<T>& weights, const Matrix<T>& bias, InputView<T> inputs) {
  return predict_classes(linear_scores(weights, bias, inputs));
}

double accuracy(std::span<const int> predictions, std::span<const int> labels) {
  if (predictions.size() != labels.size()) {
    throw_argument_error(fmt::format("accuracy: {} predictions for {} labels; pass one prediction per label",
                            predictions.size(), labels.size()));
  }
  if (labels.empty()) throw_argument_error("accuracy: no labels; pass at least one prediction and its label");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

#define TAPEGRAD_INSTANTIATE_REFERENCE_EVALUATION(T)              \
  template std::vector<int> predict_classes<T>(const Matrix<T>&); \
  template std::vector<int> linear_predictions<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>);

TAPEGRAD_INSTANTIATE_REFERENCE_EVALUATION(float)
TAPEGRAD_INSTANTIATE_REFERENCE_EVALUATION(double)

}  // namespace tapegrad::reference
