#include <tapegrad/nn/reference/evaluation.h>

#include <string>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {

template <typename T>
std::vector<int> predict_classes(const Matrix<T>& scores) {
  if (scores.rows() == 0 && scores.cols() > 0) {
    throw_argument_error("predict_classes: scores " + shape_text(scores.rows(), scores.cols()) +
                         " have no rows; pass one row per class");
  }
  std::vector<int> predictions(static_cast<std::size_t>(scores.cols()));
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    Eigen::Index best = 0;
    scores.col(j).maxCoeff(&best);
    predictions[static_cast<std::size_t>(j)] = static_cast<int>(best);
  }
  return predictions;
}

double accuracy(std::span<const int> predictions, std::span<const int> labels) {
  if (predictions.size() != labels.size()) {
    throw_argument_error("accuracy: " + std::to_string(predictions.size()) + " predictions for " +
                         std::to_string(labels.size()) + " labels; pass one prediction per label");
  }
  if (labels.empty()) throw_argument_error("accuracy: no labels; pass at least one prediction and its label");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

template std::vector<int> predict_classes<float>(const Matrix<float>&);
template std::vector<int> predict_classes<double>(const Matrix<double>&);

}  // namespace tapegrad::reference
