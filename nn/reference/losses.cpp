#include <tapegrad/nn/reference/losses.h>

#include <cmath>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

template <typename T>
void check_scores_and_labels(const char* function, const Matrix<T>& scores, std::span<const int> labels) {
  check_nonempty_batch(function, scores.cols());
  check_labels(function, labels, scores.rows(), scores.cols());
}

template <typename T>
void check_scores_and_targets(const char* function, const Matrix<T>& scores, const InputView<T>& targets) {
  check_nonempty_batch(function, scores.cols());
  check_shape(function, "targets", shape_of(targets), shape_of(scores));
}

// log(1 + exp(-|s|)) + max(s, 0) = log(1 + exp(s)): the summed binary cross-entropy of a column before its -y*s
// term, in the form that neither overflows nor loses the small terms.
template <typename Column>
auto softplus_sum(const Column& column) {
  using T = typename Column::Scalar;
  return (column.array().max(T(0)) + (-column.array().abs()).exp().log1p()).sum();
}

// sigmoid(s) = 1 / (1 + exp(-s)) has no cancellation for either sign, and exp(-s) = inf for s << 0 correctly
// gives 0.
template <typename Column>
void sigmoid_column_in_place(Column column) {
  using T = typename Column::Scalar;
  column.array() = (T(1) + (-column.array()).exp()).inverse();
}

}  // namespace

template <typename T>
T softmax_cross_entropy(const Matrix<T>& scores, std::span<const int> labels) {
  check_scores_and_labels("softmax_cross_entropy", scores, labels);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    const auto column = scores.col(j);
    const T maximum = column.maxCoeff();
    const T log_sum = std::log((column.array() - maximum).exp().sum());
    total +=
        static_cast<double>(log_sum) + static_cast<double>(maximum - column(labels[static_cast<std::size_t>(j)]));
  }
  return static_cast<T>(total / static_cast<double>(scores.cols()));
}

template <typename T>
T softmax_cross_entropy(const Matrix<T>& scores, InputView<T> targets) {
  check_scores_and_targets("softmax_cross_entropy", scores, targets);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    const auto column = scores.col(j);
    const auto target = targets.col(j);
    const T maximum = column.maxCoeff();
    const T log_sum = std::log((column.array() - maximum).exp().sum());
    // -sum_k y_k log p_k = (sum_k y_k) (maximum + log_sum) - y . s, with the maximum kept apart from the log so
    // that it cancels exactly against y . s for one-hot targets.
    total += static_cast<double>(target.sum() * log_sum) -
             static_cast<double>(target.dot((column.array() - maximum).matrix()));
  }
  return static_cast<T>(total / static_cast<double>(scores.cols()));
}

template <typename T>
T softmax_cross_entropy_in_place(Matrix<T>& scores, std::span<const int> labels) {
  check_scores_and_labels("softmax_cross_entropy_in_place", scores, labels);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    auto column = scores.col(j);
    const int label = labels[static_cast<std::size_t>(j)];
    const T maximum = column.maxCoeff();
    const T label_score = column(label);
    column.array() = (column.array() - maximum).exp();
    const T sum = column.sum();
    total += static_cast<double>(std::log(sum)) + static_cast<double>(maximum - label_score);
    column *= T(1) / sum;
    column(label) -= T(1);
  }
  return static_cast<T>(total / static_cast<double>(scores.cols()));
}

template <typename T>
T softmax_cross_entropy_in_place(Matrix<T>& scores, InputView<T> targets) {
  check_scores_and_targets("softmax_cross_entropy_in_place", scores, targets);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    auto column = scores.col(j);
    const auto target = targets.col(j);
    const T target_sum = target.sum();
    column.array() -= column.maxCoeff();
    total -= static_cast<double>(target.dot(column));
    column.array() = column.array().exp();
    const T sum = column.sum();
    total += static_cast<double>(target_sum * std::log(sum));
    // d/ds of (sum_k y_k) log sum_k exp(s_k) - y . s is (sum_k y_k) p - y: P - Y for one-hot targets.
    column *= target_sum / sum;
    column -= target;
  }
  return static_cast<T>(total / static_cast<double>(scores.cols()));
}

template <typename T>
T sigmoid_binary_cross_entropy(const Matrix<T>& scores, std::span<const int> labels) {
  check_scores_and_labels("sigmoid_binary_cross_entropy", scores, labels);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    const auto column = scores.col(j);
    total += static_cast<double>(softplus_sum(column)) -
             static_cast<double>(column(labels[static_cast<std::size_t>(j)]));
  }
  return static_cast<T>(total / (static_cast<double>(scores.rows()) * static_cast<double>(scores.cols())));
}

template <typename T>
T sigmoid_binary_cross_entropy(const Matrix<T>& scores, InputView<T> targets) {
  check_scores_and_targets("sigmoid_binary_cross_entropy", scores, targets);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    const auto column = scores.col(j);
    total += static_cast<double>(softplus_sum(column)) - static_cast<double>(targets.col(j).dot(column));
  }
  return static_cast<T>(total / (static_cast<double>(scores.rows()) * static_cast<double>(scores.cols())));
}

template <typename T>
T sigmoid_binary_cross_entropy_in_place(Matrix<T>& scores, std::span<const int> labels) {
  check_scores_and_labels("sigmoid_binary_cross_entropy_in_place", scores, labels);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    auto column = scores.col(j);
    const int label = labels[static_cast<std::size_t>(j)];
    total += static_cast<double>(softplus_sum(column)) - static_cast<double>(column(label));
    sigmoid_column_in_place(column);
    column(label) -= T(1);
  }
  return static_cast<T>(total / (static_cast<double>(scores.rows()) * static_cast<double>(scores.cols())));
}

template <typename T>
T sigmoid_binary_cross_entropy_in_place(Matrix<T>& scores, InputView<T> targets) {
  check_scores_and_targets("sigmoid_binary_cross_entropy_in_place", scores, targets);
  double total = 0;
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    auto column = scores.col(j);
    const auto target = targets.col(j);
    total += static_cast<double>(softplus_sum(column)) - static_cast<double>(target.dot(column));
    sigmoid_column_in_place(column);
    column -= target;
  }
  return static_cast<T>(total / (static_cast<double>(scores.rows()) * static_cast<double>(scores.cols())));
}

template <typename T>
void softmax_columns_in_place(Matrix<T>& scores) {
  for (Eigen::Index j = 0; j < scores.cols(); ++j) {
    auto column = scores.col(j);
    column.array() = (column.array() - column.maxCoeff()).exp();
    column *= T(1) / column.sum();
  }
}

template <typename T>
void sigmoid_in_place(Matrix<T>& scores) {
  sigmoid_column_in_place(scores.reshaped());
}

#define TAPEGRAD_INSTANTIATE_REFERENCE_LOSSES(T)                                         \
  template T softmax_cross_entropy<T>(const Matrix<T>&, std::span<const int>);           \
  template T softmax_cross_entropy<T>(const Matrix<T>&, InputView<T>);                   \
  template T softmax_cross_entropy_in_place<T>(Matrix<T>&, std::span<const int>);        \
  template T softmax_cross_entropy_in_place<T>(Matrix<T>&, InputView<T>);                \
  template T sigmoid_binary_cross_entropy<T>(const Matrix<T>&, std::span<const int>);    \
  template T sigmoid_binary_cross_entropy<T>(const Matrix<T>&, InputView<T>);            \
  template T sigmoid_binary_cross_entropy_in_place<T>(Matrix<T>&, std::span<const int>); \
  template T sigmoid_binary_cross_entropy_in_place<T>(Matrix<T>&, InputView<T>);         \
  template void softmax_columns_in_place<T>(Matrix<T>&);                                 \
  template void sigmoid_in_place<T>(Matrix<T>&);

TAPEGRAD_INSTANTIATE_REFERENCE_LOSSES(float)
TAPEGRAD_INSTANTIATE_REFERENCE_LOSSES(double)

}  // namespace tapegrad::reference
