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

}  // namespace

BroadcastPlan plan_broadcast(const char* op, Index a_rows, Index a_cols, Index b_rows, Index b_cols,
                             const std::source_location& where) {
  BroadcastPlan plan;
  // The larger operand sets the shape; the other must expand to it by one of the three forms.
  const bool a_is_target = a_rows * a_cols >= b_rows * b_cols;
  plan.rows = a_is_target ? a_rows : b_rows;
  plan.cols = a_is_target ? a_cols : b_cols;
  if (expansion_to(a_rows, a_cols, plan.rows, plan.cols, plan.a) &&
      expansion_to(b_rows, b_cols, plan.rows, plan.cols, plan.b)) {
    return plan;
  }
  throw_error(fmt::format("{}: shapes {} and {} do not broadcast; allowed are equal shapes, an (m x 1) column "
                          "across columns, a (1 x n) row across rows, or a (1 x 1) scalar",
                          op, shape_string(a_rows, a_cols), shape_string(b_rows, b_cols)),
              where);
}

}  // namespace tapegrad::detail
