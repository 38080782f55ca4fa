// The pieces the reference models are written with, each the reports' formula for it:
//   S = W X + b                                   (W K x d, b K x 1, X d x n: examples are columns)
//   P = softmax(S) per column,  p = sigmoid(s) per entry
//   cross_entropy(S, Y)        = -(1/n) sum_i y_i^T log softmax(s_i)
//   binary_cross_entropy(S, Y) = -(1/(K n)) sum_ki [y_ki log p_ki + (1 - y_ki) log(1 - p_ki)]
// and the targets Y (K x n) of class labels. The losses take the scores S rather than P, so that they are finite
// for any finite scores.
#pragma once

#include <span>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// S = W X + b 1^T.
template <typename T>
Matrix<T> linear_scores(const Matrix<T>& W, const Matrix<T>& b, InputView<T> X);

// Each column exp(s - max s) / sum exp(s - max s): the shift changes nothing but keeps exp from overflowing.
template <typename T>
Matrix<T> softmax(const Matrix<T>& S);
template <typename T>
Matrix<T> sigmoid(const Matrix<T>& S);

// The mean over the columns of -sum_k y_k log p_k, with log P = S - max - log sum exp(S - max) per column.
template <typename T>
T cross_entropy(const Matrix<T>& S, InputView<T> Y);
// The mean over all K n entries of -[y log p + (1 - y) log(1 - p)] = max(s, 0) - y s + log(1 + exp(-|s|)).
template <typename T>
T binary_cross_entropy(const Matrix<T>& S, InputView<T> Y);

// Y with Y(label_i, i) = 1 and zeros elsewhere, classes x n.
template <typename T>
Matrix<T> one_hot(std::span<const int> labels, Eigen::Index classes);
// The row y (1 x n) of binary labels, each 0 or 1: the targets of logistic regression.
template <typename T>
Matrix<T> binary_targets(std::span<const int> labels);

}  // namespace tapegrad::reference
