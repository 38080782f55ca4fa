// The fused losses of the reference path, computed from the scores (logits) S (K x n) so that they are finite for
// any finite logits.
//
// Labels are class indices 0..K-1, one per column. Targets are a K x n matrix: one-hot columns for the reports'
// losses (any probability columns work for the softmax loss, any values in [0, 1] for the sigmoid loss).
//
// The *_in_place functions return the same loss and overwrite the scores with the gradient of the SUMMED loss
// terms with respect to the scores (P - Y, or sigmoid(S) - Y), without the 1/n (and 1/K) of the mean: callers fold
// that factor into the product that consumes the gradient, which saves a pass over the matrix.
#pragma once

#include <span>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// Mean over the batch of -log P[y_i, i] with P = softmax(S) per column.
template <typename T>
T softmax_cross_entropy(const Matrix<T>& scores, std::span<const int> labels);
template <typename T>
T softmax_cross_entropy(const Matrix<T>& scores, InputView<T> targets);
// Scores become P - Y.
template <typename T>
T softmax_cross_entropy_in_place(Matrix<T>& scores, std::span<const int> labels);
template <typename T>
T softmax_cross_entropy_in_place(Matrix<T>& scores, InputView<T> targets);

// Multiple binary cross-entropy: mean over the batch of -1/K sum_k [(1-y_k) log(1-p_k) + y_k log p_k] with
// p = sigmoid(s); labels mean one-hot targets.
template <typename T>
T sigmoid_binary_cross_entropy(const Matrix<T>& scores, std::span<const int> labels);
template <typename T>
T sigmoid_binary_cross_entropy(const Matrix<T>& scores, InputView<T> targets);
// Scores become sigmoid(S) - Y.
template <typename T>
T sigmoid_binary_cross_entropy_in_place(Matrix<T>& scores, std::span<const int> labels);
template <typename T>
T sigmoid_binary_cross_entropy_in_place(Matrix<T>& scores, InputView<T> targets);

// Each column of the scores becomes its softmax (shifted by the column maximum first, so nothing overflows).
template <typename T>
void softmax_columns_in_place(Matrix<T>& scores);
template <typename T>
void sigmoid_in_place(Matrix<T>& scores);

}  // namespace tapegrad::reference
