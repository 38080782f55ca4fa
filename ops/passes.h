// How the ops call the element-wise passes of core/kernels/elementwise.h (internal to the ops library): the
// passes write raw storage, so the result matrix, or the gradient buffer itself, is sized here first.
#pragma once

#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/core/tensor.h>

#include <cstddef>

namespace tapegrad::detail {

using kernels::elementwise;

// A matrix of rows x cols filled by write(out.data()).
template <typename T, typename Write>
Matrix<T> written(Index rows, Index cols, Write write) {
  Matrix<T> out(rows, cols);
  write(out.data());
  return out;
}

// Input i's gradient (+)= the rows x cols matrix write(out) fills: written straight into the gradient buffer when
// it holds none yet, so that a first gradient costs no copy.
template <typename T, typename Write>
void accumulate_written(Node<T>& node, std::size_t i, Index rows, Index cols, Write write) {
  bool fresh = false;
  Matrix<T>& target = node.grad_slot(i, fresh);
  if (fresh) {
    target.resize(rows, cols);
    write(target.data());
  } else {
    target += written<T>(rows, cols, write);
  }
}

// Input i's gradient (+)= factor x, in one pass either way.
template <typename T>
void accumulate_scaled(Node<T>& node, std::size_t i, const Matrix<T>& x, T factor) {
  bool fresh = false;
  Matrix<T>& target = node.grad_slot(i, fresh);
  if (fresh) {
    target.resize(x.rows(), x.cols());
    elementwise<T>().scale(x.size(), x.data(), factor, target.data());
  } else {
    elementwise<T>().add_scaled(x.size(), x.data(), factor, target.data());
  }
}

// pass(x) element by element, e.g. apply(x, elementwise<T>().tanh_forward).
template <typename T>
Matrix<T> apply(const Matrix<T>& x, void (*pass)(kernels::Count, const T*, T*)) {
  return written<T>(x.rows(), x.cols(), [&](T* out) { pass(x.size(), x.data(), out); });
}

// Input i's gradient (+)= pass(y, g) element by element, e.g. with elementwise<T>().tanh_backward.
template <typename T>
void accumulate_applied(Node<T>& node, std::size_t i, const Matrix<T>& y, const Matrix<T>& g,
                        void (*pass)(kernels::Count, const T*, const T*, T*)) {
  accumulate_written(node, i, g.rows(), g.cols(), [&](T* dx) { pass(g.size(), y.data(), g.data(), dx); });
}

}  // namespace tapegrad::detail
