// The list of every differentiable op. An op records its node under one of these names, and the gradcheck test
// walks this list: an op added here without an entry in the gradcheck table fails that test, and an op that
// records a name missing from here fails too (see tests/test_ops_gradcheck.cpp).
#pragma once

#include <array>
#include <string_view>

namespace tapegrad {

inline constexpr std::array<std::string_view, 31> kOpNames = {
    "add", "sub", "mul", "div", "neg", "add_scalar", "mul_scalar", "matmul", "transpose", "linear", "exp", "log",
    "sqrt", "pow", "square", "relu", "sigmoid", "tanh", "sum", "sum_rows", "sum_cols", "mean", "sum_of_squares",
    "softmax", "log_softmax", "cross_entropy_with_logits", "cross_entropy_with_logits_soft",
    "multi_binary_cross_entropy_with_logits", "select_columns",
    "dropout", "batch_norm"};

constexpr bool is_registered_op(std::string_view name) {
  for (auto op : kOpNames)
    if (op == name) return true;
  return false;
}

}  // namespace tapegrad
