#include <tapegrad/nn/loss.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/loss.h>
#include <tapegrad/ops/reduction.h>

namespace tapegrad::nn {
namespace {

template <typename T>
void check_lambda(T lambda) {
  if (!std::isfinite(static_cast<double>(lambda)) || lambda < T(0)) {
    throw_error(
        fmt::format("l2_penalty: lambda must be a finite number >= 0, got {}", static_cast<double>(lambda)));
  }
}

// lambda * sum_i ||P_i||^2 as one chain of nodes.
template <typename T>
Tensor<T> penalty_of(const std::vector<const Tensor<T>*>& selected, T lambda) {
  if (selected.empty() || lambda == T(0)) return Tensor<T>::scalar(T(0));
  Tensor<T> total = sum_of_squares(*selected.front());
  for (std::size_t i = 1; i < selected.size(); ++i) total = add(total, sum_of_squares(*selected[i]));
  return mul_scalar(total, lambda);
}

}  // namespace

template <typename T>
Tensor<T> CrossEntropyLoss<T>::forward(const Tensor<T>& scores, std::span<const int> labels) const {
  return cross_entropy_with_logits(scores, labels);
}

template <typename T>
Tensor<T> CrossEntropyLoss<T>::forward(const Tensor<T>& scores, const Tensor<T>& targets) const {
  return cross_entropy_with_logits(scores, targets);
}

template <typename T>
Tensor<T> MultiBinaryCrossEntropyLoss<T>::forward(const Tensor<T>& scores, const Tensor<T>& targets) const {
  return multi_binary_cross_entropy_with_logits(scores, targets);
}

template <typename T>
Tensor<T> MultiBinaryCrossEntropyLoss<T>::forward(const Tensor<T>& scores, std::span<const int> labels) const {
  const Index rows = scores.rows();
  const Index n = static_cast<Index>(labels.size());
  check_labels("MultiBinaryCrossEntropyLoss", labels, rows == 1 ? 2 : rows, scores.cols(),
               std::source_location::current());
  Matrix<T> targets = Matrix<T>::Zero(rows, n);
  for (Index j = 0; j < n; ++j) {
    const int label = labels[static_cast<std::size_t>(j)];
    targets(rows == 1 ? 0 : label, j) = rows == 1 ? static_cast<T>(label) : T(1);
  }
  return multi_binary_cross_entropy_with_logits(scores, Tensor<T>::from(std::move(targets)));
}

bool is_weight_name(const std::string& name) {
  static const std::string suffix = ".weight";
  if (name == "weight") return true;
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

template <typename T>
Tensor<T> l2_penalty(const std::vector<NamedParameter<T>>& parameters, ScalarOf<T> lambda,
                     PenaltySelection which) {
  check_lambda(lambda);
  std::vector<const Tensor<T>*> selected;
  for (const auto& parameter : parameters) {
    if (which == PenaltySelection::all || is_weight_name(parameter.name)) selected.push_back(&parameter.tensor);
  }
  return penalty_of(selected, lambda);
}

template <typename T>
Tensor<T> l2_penalty(const Module<T>& module, ScalarOf<T> lambda, PenaltySelection which) {
  check_lambda(lambda);
  // The order of named_parameters(): this module's own, then every descendant's in preorder.
  std::vector<const Tensor<T>*> selected;
  auto select_own = [&](const Module<T>& m) {
    for (const auto& parameter : m.own_parameters()) {
      const bool weight = is_weight_name(parameter.name) && m.weight_is_regularised();
      if (which == PenaltySelection::all || weight) selected.push_back(&parameter.tensor);
    }
  };
  select_own(module);
  for (const auto& named : module.named_modules()) select_own(*named.module);
  return penalty_of(selected, lambda);
}

template <typename T>
Tensor<T> l2_penalty(const std::vector<Tensor<T>>& tensors, ScalarOf<T> lambda) {
  check_lambda(lambda);
  std::vector<const Tensor<T>*> selected;
  for (const auto& tensor : tensors) selected.push_back(&tensor);
  return penalty_of(selected, lambda);
}

template class CrossEntropyLoss<float>;
template class CrossEntropyLoss<double>;
template class MultiBinaryCrossEntropyLoss<float>;
template class MultiBinaryCrossEntropyLoss<double>;

#define TAPEGRAD_INSTANTIATE_L2(T)                                                                     \
  template Tensor<T> l2_penalty(const Module<T>&, ScalarOf<T>, PenaltySelection);                      \
  template Tensor<T> l2_penalty(const std::vector<NamedParameter<T>>&, ScalarOf<T>, PenaltySelection); \
  template Tensor<T> l2_penalty(const std::vector<Tensor<T>>&, ScalarOf<T>);

TAPEGRAD_INSTANTIATE_L2(float)
TAPEGRAD_INSTANTIATE_L2(double)

}  // namespace tapegrad::nn
