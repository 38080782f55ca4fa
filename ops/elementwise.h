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

// Operators: element-wise, like the named functions (matrix products are matmul()).
template <typename T>
Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <typename T>
Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <typename T>
Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <typename T>
Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
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
