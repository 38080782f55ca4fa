#include <tapegrad/ops/broadcast.h>

#include <fmt/format.h>

namespace tapegrad::detail {
namespace {

// How an input of shape (r x c) expands to (rows x cols), if it can.
bool expansion_to(Index r, Index c, Index rows, Index cols, Expansion& expansion) {
  if (r == rows && c == cols) {
    expansion = Expansion::none;
  } else if (r == 1 && c == 1) {
    expansion = Expansion::scalar;
  } else if (r == rows && c == 1) {
    expansion = Expansion::column;
  } else if (r == 1 && c == cols) {
    expansion = Expansion::row;
  } else {
    return false;
  }
  return true;
}

// Numpy's rule on two axes: per axis the sizes are equal or one of them is 1. Of the shapes it admits, the ones
// that differ are exactly the forms named in the message: a column, a row or a scalar expanded to the other
// operand, or a column with a row (the outer form, m x 1 with 1 x n giving m x n).
bool broadcast_axis(Index a, Index b, Index& result) {
  if (a == b || b == 1) {
    result = a;
  } else if (a == 1) {
    result = b;
  } else {
    return false;
  }
  return true;
}

}  // namespace

BroadcastPlan plan_broadcast(const char* op, Index a_rows, Index a_cols, Index b_rows, Index b_cols,
                             const std::source_location& where) {
  BroadcastPlan plan;
  if (broadcast_axis(a_rows, b_rows, plan.rows) && broadcast_axis(a_cols, b_cols, plan.cols) &&
      expansion_to(a_rows, a_cols, plan.rows, plan.cols, plan.a) &&
      expansion_to(b_rows, b_cols, plan.rows, plan.cols, plan.b)) {
    return plan;
  }
  throw_error(fmt::format("{}: shapes {} and {} do not broadcast; allowed are equal shapes, an (m x 1) column "
                          "across columns, a (1 x n) row across rows, a (1 x 1) scalar, or an (m x 1) column with "
                          "a (1 x n) row giving (m x n)",
                          op, shape_string(a_rows, a_cols), shape_string(b_rows, b_cols)),
              where);
}

}  // namespace tapegrad::detail
