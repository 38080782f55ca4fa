// Element-wise ops: arithmetic with the three broadcast forms, scalar arithmetic, and the unary functions.
#pragma once

#include <source_location>
#include <type_traits>

#include <tapegrad/core/tensor.h>

namespace tapegrad {

template <typename T>
using ScalarOf = std::type_identity_t<T>;  // keeps a scalar argument from taking part in deducing T

template <typename T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b, std::source_location where = std::source_location::current());
template <typename T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b, std::source_location where = std::source_location::current());
template <typename T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b, std::source_location where = std::source_location::current());
template <typename T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b, std::source_location where = std::source_location::current());

template <typename T>
Tensor<T> neg(const Tensor<T>& x);
template <typename T>
Tensor<T> add_scalar(const Tensor<T>& x, ScalarOf<T> c);
template <typename T>
Tensor<T> mul_scalar(const Tensor<T>& x, ScalarOf<T> c);

template <typename T>
Tensor<T> exp(const Tensor<T>& x);
// Natural logarithm; entries must be positive (a non-positive entry gives -inf or NaN, as in any library).
template <typename T>
Tensor<T> log(const Tensor<T>& x);
template <typename T>
Tensor<T> sqrt(const Tensor<T>& x);
template <typename T>
Tensor<T> pow(const Tensor<T>& x, ScalarOf<T> exponent);
template <typename T>
Tensor<T> square(const Tensor<T>& x);
// |x|. Gradient sign(x) g, taken as 0 at x = 0.
template <typename T>
Tensor<T> abs(const Tensor<T>& x);
// min(max(x, lo), hi), entry by entry; needs lo <= hi (both finite or infinite, not NaN). The gradient passes where
// lo <= x <= hi (bounds included, as in PyTorch) and is 0 outside.
template <typename T>
Tensor<T> clamp(const Tensor<T>& x, ScalarOf<T> lo, ScalarOf<T> hi,
                std::source_location where = std::source_location::current());

// The right operand of a binary tensor operator, together with the place of the expression that uses it. The
// operators below take it as a non-deduced parameter (T comes from the left operand), so a Tensor converts to it
// implicitly, and the constructor's default argument is evaluated where that conversion happens: in the user's
// `a + b`. A shape error from an operator therefore names the user's file and line, not this header.
template <typename T>
class Operand {
 public:
  // Implicit on purpose: the conversion is what captures the caller's location.
  Operand(const Tensor<T>& tensor, std::source_location where = std::source_location::current())
      : tensor_(tensor), where_(where) {}
  const Tensor<T>& tensor() const { return tensor_; }
  const std::source_location& where() const { return where_; }

 private:
  const Tensor<T>& tensor_;  // alive until the end of the full expression that made this operand
  std::source_location where_;
};
template <typename T>
using RightOperand = std::type_identity_t<Operand<T>>;  // non-deduced, so that the conversion is considered

// Operators: element-wise, like the named functions (matrix products are matmul()). The scalar forms and unary
// minus accept every shape, so they have no error to report.
template <typename T>
Tensor<T> operator+(const Tensor<T>& a, RightOperand<T> b) { return add(a, b.tensor(), b.where()); }
template <typename T>
Tensor<T> operator-(const Tensor<T>& a, RightOperand<T> b) { return sub(a, b.tensor(), b.where()); }
template <typename T>
Tensor<T> operator*(const Tensor<T>& a, RightOperand<T> b) { return mul(a, b.tensor(), b.where()); }
template <typename T>
Tensor<T> operator/(const Tensor<T>& a, RightOperand<T> b) { return div(a, b.tensor(), b.where()); }
template <typename T>
Tensor<T> operator-(const Tensor<T>& x) { return neg(x); }
template <typename T>
Tensor<T> operator+(const Tensor<T>& x, ScalarOf<T> c) { return add_scalar(x, c); }
template <typename T>
Tensor<T> operator+(ScalarOf<T> c, const Tensor<T>& x) { return add_scalar(x, c); }
template <typename T>
Tensor<T> operator-(const Tensor<T>& x, ScalarOf<T> c) { return add_scalar(x, -c); }
template <typename T>
Tensor<T> operator-(ScalarOf<T> c, const Tensor<T>& x) { return add_scalar(neg(x), c); }
template <typename T>
Tensor<T> operator*(const Tensor<T>& x, ScalarOf<T> c) { return mul_scalar(x, c); }
template <typename T>
Tensor<T> operator*(ScalarOf<T> c, const Tensor<T>& x) { return mul_scalar(x, c); }
template <typename T>
Tensor<T> operator/(const Tensor<T>& x, ScalarOf<T> c) { return mul_scalar(x, T(1) / c); }

}  // namespace tapegrad
