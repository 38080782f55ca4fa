// The vocabulary of the reference path: plain Eigen matrices in the reports' notation (examples are columns,
// X is d x n, W is K x d, b is K x 1, Y is K x n), and the structs that carry a loss, a cost and gradients.
#pragma once

#include <Eigen/Core>
#include <stdexcept>
#include <type_traits>

namespace tapegrad::reference {

// What a reference function throws for arguments it cannot work with; the message starts with the function's name
// and names the shapes or values that were wrong. The reference path is independent of the engine, so this is not
// tapegrad::Error (core/error.h).
class ArgumentError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// Inputs, targets and scalars take no part in template argument deduction (std::type_identity_t): T comes from the
// parameter matrices alone, so a float model takes a double literal (lambda = 0.01) and a block of a larger data
// matrix (X.middleCols(first, n)), which the Ref views without a copy.
template <typename T>
using InputView = std::type_identity_t<Eigen::Ref<const Matrix<T>>>;
template <typename T>
using ScalarArgument = std::type_identity_t<T>;

template <typename T>
struct LossAndCost {
  T loss = 0;  // mean over the batch of the per-example loss
  T cost = 0;  // loss + lambda * (sum of squared weights); biases are not regularised
};

// dJ/dW and dJ/db of one affine map S = W X + b; each has the shape of the parameter it belongs to.
template <typename T>
struct LinearGradient {
  Matrix<T> weights;
  Matrix<T> bias;
};

// What a linear model's gradient function returns: softmax regression, sigmoid regression, logistic regression.
template <typename T>
struct LinearModelResult {
  T loss = 0;
  T cost = 0;
  LinearGradient<T> gradient;
};

}  // namespace tapegrad::reference
