// Losses over the fused ops, and the L2 penalty of the reports' cost J = loss + lambda ||W||^2.
//
// The loss objects hold no parameters and take two inputs (scores and labels or targets), so they are plain
// callables rather than Modules: they never sit inside a Sequential.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/nn/module.h>

namespace tapegrad::nn {

// Mean over the batch of -log softmax(scores)[label, column]; scores (K x n), one label in [0, K) per column.
template <typename T>
class CrossEntropyLoss {
 public:
  Tensor<T> forward(const Tensor<T>& scores, std::span<const int> labels) const;
  // Soft or one-hot targets (K x n).
  Tensor<T> forward(const Tensor<T>& scores, const Tensor<T>& targets) const;
  Tensor<T> operator()(const Tensor<T>& scores, std::span<const int> labels) const {
    return forward(scores, labels);
  }
  Tensor<T> operator()(const Tensor<T>& scores, const Tensor<T>& targets) const {
    return forward(scores, targets);
  }
};

// The reports' multiple binary cross-entropy with p = sigmoid(scores), targets (K x n) in [0, 1].
template <typename T>
class MultiBinaryCrossEntropyLoss {
 public:
  Tensor<T> forward(const Tensor<T>& scores, const Tensor<T>& targets) const;
  // From labels: one-hot targets for K >= 2 rows (one label in [0, K) per column), and for a single row (binary
  // logistic regression, p = P(class 1)) the labels 0 and 1 themselves. A label out of range is an Error naming it.
  Tensor<T> forward(const Tensor<T>& scores, std::span<const int> labels) const;
  Tensor<T> operator()(const Tensor<T>& scores, const Tensor<T>& targets) const {
    return forward(scores, targets);
  }
  Tensor<T> operator()(const Tensor<T>& scores, std::span<const int> labels) const {
    return forward(scores, labels);
  }
};

enum class PenaltySelection {
  weights,  // parameters named "weight" or "<...>.weight": the reports regularise W, never b; for a Module, not
            // the weight of a layer whose weight_is_regularised() is false (BatchNorm's gamma)
  all,
};

// lambda * sum over the selected parameters of ||P||_F^2, a (1 x 1) on the tape. lambda must be finite and
// >= 0; with nothing selected the result is a constant 0.
template <typename T>
Tensor<T> l2_penalty(const Module<T>& module, ScalarOf<T> lambda,
                     PenaltySelection which = PenaltySelection::weights);
template <typename T>
Tensor<T> l2_penalty(const std::vector<NamedParameter<T>>& parameters, ScalarOf<T> lambda,
                     PenaltySelection which = PenaltySelection::weights);
// Every tensor given is penalised.
template <typename T>
Tensor<T> l2_penalty(const std::vector<Tensor<T>>& tensors, ScalarOf<T> lambda);

// True for "weight" and for dotted names ending in ".weight".
bool is_weight_name(const std::string& name);

extern template class CrossEntropyLoss<float>;
extern template class CrossEntropyLoss<double>;
extern template class MultiBinaryCrossEntropyLoss<float>;
extern template class MultiBinaryCrossEntropyLoss<double>;

}  // namespace tapegrad::nn
