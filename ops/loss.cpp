#include <tapegrad/ops/loss.h>

#include <fmt/format.h>

#include <vector>

#include <tapegrad/ops/numerics.h>
#include <tapegrad/ops/passes.h>

namespace tapegrad {

void check_labels(const char* op, std::span<const int> labels, Index num_classes, Index batch,
                  const std::source_location& where) {
  if (static_cast<Index>(labels.size()) != batch) {
    throw_error(fmt::format("{}: {} labels for a batch of {} columns; give one label per column", op, labels.size(),
                            batch),
                where);
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      throw_error(fmt::format("{}: label {} at position {} is outside [0, {}) for scores with {} rows", op,
                              labels[i], i, num_classes, num_classes),
                  where);
    }
  }
}

template <typename T>
Tensor<T> cross_entropy_with_logits(const Tensor<T>& scores, std::span<const int> labels, std::source_location where) {
  const char* op = "cross_entropy_with_logits";
  if (scores.cols() == 0) throw_error(fmt::format("{}: the batch is empty {}", op, scores.shape_string()), where);
  check_labels(op, labels, scores.rows(), scores.cols(), where);
  Matrix<T> probabilities;
  Eigen::Matrix<T, 1, Eigen::Dynamic> log_sum_exp;
  column_softmax(scores.value(), probabilities, log_sum_exp);
  const Index n = scores.cols();
  T total = 0;
  for (Index j = 0; j < n; ++j) total += log_sum_exp(j) - scores.value()(labels[static_cast<std::size_t>(j)], j);
  const T loss = total / static_cast<T>(n);
  std::vector<int> kept(labels.begin(), labels.end());
  return Tensor<T>::from_op(
      op, Matrix<T>::Constant(1, 1, loss), {scores},
      [probabilities = std::move(probabilities), kept = std::move(kept)](Node<T>& node, const Matrix<T>& g) {
        // (P - Y) g / n, with Y subtracted by indexing rather than built.
        const Index batch = probabilities.cols();
        const T scale = g(0, 0) / static_cast<T>(batch);
        Matrix<T> gradient = probabilities * scale;
        for (Index j = 0; j < batch; ++j) gradient(kept[static_cast<std::size_t>(j)], j) -= scale;
        node.accumulate(0, gradient);
      });
}

template <typename T>
Tensor<T> cross_entropy_with_logits(const Tensor<T>& scores, const Tensor<T>& targets, std::source_location where) {
  const char* op = "cross_entropy_with_logits";
  if (scores.rows() != targets.rows() || scores.cols() != targets.cols()) {
    throw_error(fmt::format("{}: scores {} and targets {} must have the same shape", op, scores.shape_string(),
                            targets.shape_string()),
                where);
  }
  if (scores.cols() == 0) throw_error(fmt::format("{}: the batch is empty {}", op, scores.shape_string()), where);
  Matrix<T> probabilities;
  Eigen::Matrix<T, 1, Eigen::Dynamic> log_sum_exp;
  column_softmax(scores.value(), probabilities, log_sum_exp);
  const T n = static_cast<T>(scores.cols());
  // -sum_k y_k (s_k - lse) per column.
  const T loss = -(targets.value().array() * (scores.value().rowwise() - log_sum_exp).array()).sum() / n;
  return Tensor<T>::from_op(
      "cross_entropy_with_logits_soft", Matrix<T>::Constant(1, 1, loss), {scores, targets},
      [probabilities = std::move(probabilities), log_sum_exp = std::move(log_sum_exp)](Node<T>& node,
                                                                                       const Matrix<T>& g) {
        const Matrix<T>& s = node.input(0);
        const Matrix<T>& y = node.input(1);
        const T scale = g(0, 0) / static_cast<T>(s.cols());
        if (node.needs_grad(0)) {
          // d/ds_j = (sum_k y_k) p_j - y_j, which is p - y for targets that sum to one.
          const Eigen::Matrix<T, 1, Eigen::Dynamic> mass = y.colwise().sum();
          node.accumulate(0, ((probabilities * mass.asDiagonal() - y) * scale).eval());
        }
        if (node.needs_grad(1)) node.accumulate(1, ((-(s.rowwise() - log_sum_exp)) * scale).eval());
      });
}

template <typename T>
Tensor<T> multi_binary_cross_entropy_with_logits(const Tensor<T>& scores, const Tensor<T>& targets,
                                                 std::source_location where) {
  const char* op = "multi_binary_cross_entropy_with_logits";
  if (scores.rows() != targets.rows() || scores.cols() != targets.cols()) {
    throw_error(fmt::format("{}: scores {} and targets {} must have the same shape", op, scores.shape_string(),
                            targets.shape_string()),
                where);
  }
  if (scores.size() == 0) throw_error(fmt::format("{}: the batch is empty {}", op, scores.shape_string()), where);
  const Matrix<T>& s = scores.value();
  const Matrix<T>& y = targets.value();
  const T total = detail::elementwise<T>().binary_cross_entropy_sum(s.size(), s.data(), y.data());
  const T normaliser = static_cast<T>(s.rows()) * static_cast<T>(s.cols());
  return Tensor<T>::from_op(op, Matrix<T>::Constant(1, 1, total / normaliser), {scores, targets},
                            [normaliser](Node<T>& node, const Matrix<T>& g) {
                              const Matrix<T>& s_in = node.input(0);
                              const Matrix<T>& y_in = node.input(1);
                              const T scale = g(0, 0) / normaliser;
                              if (node.needs_grad(0)) {  // (sigmoid(s) - y) scale
                                detail::accumulate_written(node, 0, s_in.rows(), s_in.cols(), [&](T* ds) {
                                  detail::elementwise<T>().sigmoid_minus_target(s_in.size(), s_in.data(),
                                                                                y_in.data(), scale, ds);
                                });
                              }
                              if (node.needs_grad(1)) node.accumulate(1, (s_in * (-scale)).eval());
                            });
}

template Tensor<float> cross_entropy_with_logits(const Tensor<float>&, std::span<const int>, std::source_location);
template Tensor<double> cross_entropy_with_logits(const Tensor<double>&, std::span<const int>, std::source_location);
template Tensor<float> cross_entropy_with_logits(const Tensor<float>&, const Tensor<float>&, std::source_location);
template Tensor<double> cross_entropy_with_logits(const Tensor<double>&, const Tensor<double>&, std::source_location);
template Tensor<float> multi_binary_cross_entropy_with_logits(const Tensor<float>&, const Tensor<float>&,
                                                              std::source_location);
template Tensor<double> multi_binary_cross_entropy_with_logits(const Tensor<double>&, const Tensor<double>&,
                                                               std::source_location);

}  // namespace tapegrad
