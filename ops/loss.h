// Fused losses from logits: the stable forms, with their simple gradients.
#pragma once

#include <source_location>
#include <span>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

// Mean over the batch of -log softmax(scores)[label_i, i]. scores: (K x n); labels: n integers in [0, K).
// Finite and exact for any finite scores (log-sum-exp shifted by the column maximum). Gradient (P - Y) / n.
template <typename T>
Tensor<T> cross_entropy_with_logits(const Tensor<T>& scores, std::span<const int> labels,
                                    std::source_location where = std::source_location::current());

// Mean over the batch of -sum_k targets(k, i) log softmax(scores)(k, i), for one-hot or soft targets (K x n).
// Differentiable in both scores and targets.
template <typename T>
Tensor<T> cross_entropy_with_logits(const Tensor<T>& scores, const Tensor<T>& targets,
                                    std::source_location where = std::source_location::current());

// The reports' multiple binary cross-entropy with p = sigmoid(s):
//   l(x, y) = -1/K sum_k [(1 - y_k) log(1 - p_k) + y_k log p_k], mean over the batch,
// computed from the logits as max(s, 0) - s y + log(1 + e^-|s|), so it is finite for any s. Gradient
// (sigmoid(s) - y) / (K n) for the scores and -s / (K n) for the targets. scores and targets: (K x n).
template <typename T>
Tensor<T> multi_binary_cross_entropy_with_logits(const Tensor<T>& scores, const Tensor<T>& targets,
                                                 std::source_location where = std::source_location::current());

// Checks labels against K classes, naming the first bad label and its position.
void check_labels(const char* op, std::span<const int> labels, Index num_classes, Index batch,
                  const std::source_location& where);

}  // namespace tapegrad
