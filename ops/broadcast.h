// The broadcast forms of element-wise ops, and nothing else: an (m x 1) column across columns, a (1 x n) row
// across rows, a (1 x 1) scalar everywhere, and an (m x 1) column with a (1 x n) row giving (m x n) (both operands
// expand). Backward sums the gradient back to each input's own shape.
#pragma once

#include <source_location>

#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/passes.h>

namespace tapegrad::detail {

enum class Expansion { none, column, row, scalar };

struct BroadcastPlan {
  Index rows = 0;
  Index cols = 0;
  Expansion a = Expansion::none;
  Expansion b = Expansion::none;
};

// The result shape of a (op) b, or an Error naming the op and both shapes.
BroadcastPlan plan_broadcast(const char* op, Index a_rows, Index a_cols, Index b_rows, Index b_cols,
                             const std::source_location& where);

// x replicated to rows x cols by the given expansion (a copy only when the expansion is not none).
template <typename T>
const Matrix<T>& expand(const Matrix<T>& x, Expansion expansion, Index rows, Index cols, Matrix<T>& storage) {
  switch (expansion) {
    case Expansion::none:
      return x;
    case Expansion::column:
      storage = x.replicate(1, cols);
      return storage;
    case Expansion::row:
      storage = x.replicate(rows, 1);
      return storage;
    case Expansion::scalar:
      storage = Matrix<T>::Constant(rows, cols, x(0, 0));
      return storage;
  }
  return x;
}

// Adds the full-shape gradient to input i of node, summed back over the expanded dimension by the CPU-level passes
// whatever the gradient's form (add's matrix, sub's -g, mul's products), so every op's sums agree.
template <typename T, typename Expression>
void accumulate_reduced(Node<T>& node, std::size_t i, Expansion expansion, const Expression& gradient) {
  if (expansion == Expansion::none) {
    node.accumulate(i, gradient);  // nothing to sum: an expression adds in without a temporary
    return;
  }
  const Matrix<T>& g = gradient;  // an expression evaluated once; a matrix bound without a copy
  const auto& passes = elementwise<T>();
  const Index rows = g.rows(), cols = g.cols();
  switch (expansion) {
    case Expansion::none:
      return;  // handled above
    case Expansion::column:
      accumulate_written(node, i, rows, 1, [&](T* out) { passes.sum_across_columns(rows, cols, g.data(), out); });
      return;
    case Expansion::row:
      accumulate_written(node, i, 1, cols, [&](T* out) { passes.sum_down_columns(rows, cols, g.data(), out); });
      return;
    case Expansion::scalar:
      node.accumulate(i, Matrix<T>::Constant(1, 1, passes.sum(g.size(), g.data())));
      return;
  }
}

}  // namespace tapegrad::detail
