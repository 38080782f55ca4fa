#include <tapegrad/nn/reference/functions.h>

#include <tapegrad/nn/reference/validation.h>

namespace tapegrad::reference {
namespace {

// log softmax(S) per column: finite for any finite S, even where P itself underflows to 0.
template <typename T>
Matrix<T> log_softmax(const Matrix<T>& S) {
  const Matrix<T> shifted = S.rowwise() - S.colwise().maxCoeff();
  return shifted.rowwise() - shifted.array().exp().colwise().sum().log().matrix();
}

}  // namespace

template <typename T>
Matrix<T> linear_scores(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X) {
  check_linear_shapes("linear_scores", shape_of(W), shape_of(b), shape_of(X));
  // Eigen's own product, not the tape's kernels (core/kernels): the reference stays an independent check.
  return (W * X).colwise() + b.col(0);
}

template <typename T>
Matrix<T> softmax(const Matrix<T>& S) {
  const Matrix<T> E = (S.rowwise() - S.colwise().maxCoeff()).array().exp().matrix();
  return E.array().rowwise() / E.colwise().sum().array();
}

template <typename T>
Matrix<T> sigmoid(const Matrix<T>& S) {
  // 1 / (1 + exp(-s)) cancels nothing for either sign, and exp(-s) = inf for s << 0 rightly gives 0.
  return (T(1) + (-S.array()).exp()).inverse().matrix();
}

template <typename T>
T cross_entropy(const Matrix<T>& S, InputView<T> Y) {
  check_nonempty_batch("cross_entropy", S.cols());
  check_shape("cross_entropy", "targets", shape_of(Y), shape_of(S));
  return -(Y.array() * log_softmax(S).array()).sum() / static_cast<T>(S.cols());
}

template <typename T>
T binary_cross_entropy(const Matrix<T>& S, InputView<T> Y) {
  check_nonempty_batch("binary_cross_entropy", S.cols());
  check_shape("binary_cross_entropy", "targets", shape_of(Y), shape_of(S));
  const auto s = S.array();
  return (s.max(T(0)) - Y.array() * s + (-s.abs()).exp().log1p()).mean();
}

template <typename T>
Matrix<T> one_hot(std::span<const int> labels, Eigen::Index classes) {
  const auto n = static_cast<Eigen::Index>(labels.size());
  check_labels("one_hot", labels, classes, n);
  Matrix<T> Y = Matrix<T>::Zero(classes, n);
  for (Eigen::Index i = 0; i < n; ++i) Y(labels[static_cast<std::size_t>(i)], i) = T(1);
  return Y;
}

template <typename T>
Matrix<T> binary_targets(std::span<const int> labels) {
  const auto n = static_cast<Eigen::Index>(labels.size());
  check_labels("binary_targets", labels, 2, n);
  Matrix<T> y(1, n);
  for (Eigen::Index i = 0; i < n; ++i) y(0, i) = static_cast<T>(labels[static_cast<std::size_t>(i)]);
  return y;
}

#define TAPEGRAD_INSTANTIATE_REFERENCE_FUNCTIONS(T)                                      \
  template Matrix<T> linear_scores<T>(const Matrix<T>&, const Matrix<T>&, InputView<T>); \
  template Matrix<T> softmax<T>(const Matrix<T>&);                                       \
  template Matrix<T> sigmoid<T>(const Matrix<T>&);                                       \
  template T cross_entropy<T>(const Matrix<T>&, InputView<T>);                           \
  template T binary_cross_entropy<T>(const Matrix<T>&, InputView<T>);                    \
  template Matrix<T> one_hot<T>(std::span<const int>, Eigen::Index);                     \
  template Matrix<T> binary_targets<T>(std::span<const int>);

TAPEGRAD_INSTANTIATE_REFERENCE_FUNCTIONS(float)
TAPEGRAD_INSTANTIATE_REFERENCE_FUNCTIONS(double)

}  // namespace tapegrad::reference
