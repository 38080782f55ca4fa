#include <tapegrad/ops/elementwise.h>

#include <fmt/format.h>

#include <tapegrad/ops/broadcast.h>

namespace tapegrad {

using detail::accumulate_reduced;
using detail::expand;
using detail::plan_broadcast;

// Each binary op: plan the broadcast, compute on the expanded operands, and in backward sum each input's
// gradient back to its own shape.

template <typename T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b, std::source_location where) {
  const auto plan = plan_broadcast("add", a.rows(), a.cols(), b.rows(), b.cols(), where);
  Matrix<T> sa, sb;
  Matrix<T> out = expand(a.value(), plan.a, plan.rows, plan.cols, sa) + expand(b.value(), plan.b, plan.rows, plan.cols, sb);
  return Tensor<T>::from_op("add", std::move(out), {a, b}, [plan](Node<T>& node, const Matrix<T>& g) {
    if (node.needs_grad(0)) accumulate_reduced(node, 0, plan.a, g);
    if (node.needs_grad(1)) accumulate_reduced(node, 1, plan.b, g);
  });
}

template <typename T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b, std::source_location where) {
  const auto plan = plan_broadcast("sub", a.rows(), a.cols(), b.rows(), b.cols(), where);
  Matrix<T> sa, sb;
  Matrix<T> out = expand(a.value(), plan.a, plan.rows, plan.cols, sa) - expand(b.value(), plan.b, plan.rows, plan.cols, sb);
  return Tensor<T>::from_op("sub", std::move(out), {a, b}, [plan](Node<T>& node, const Matrix<T>& g) {
    if (node.needs_grad(0)) accumulate_reduced(node, 0, plan.a, g);
    if (node.needs_grad(1)) accumulate_reduced(node, 1, plan.b, -g);
  });
}

template <typename T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b, std::source_location where) {
  const auto plan = plan_broadcast("mul", a.rows(), a.cols(), b.rows(), b.cols(), where);
  Matrix<T> sa, sb;
  Matrix<T> out = expand(a.value(), plan.a, plan.rows, plan.cols, sa).cwiseProduct(
      expand(b.value(), plan.b, plan.rows, plan.cols, sb));
  return Tensor<T>::from_op("mul", std::move(out), {a, b}, [plan](Node<T>& node, const Matrix<T>& g) {
    Matrix<T> storage;
    if (node.needs_grad(0)) {
      const Matrix<T>& bx = expand(node.input(1), plan.b, g.rows(), g.cols(), storage);
      accumulate_reduced(node, 0, plan.a, g.cwiseProduct(bx));
    }
    if (node.needs_grad(1)) {
      const Matrix<T>& ax = expand(node.input(0), plan.a, g.rows(), g.cols(), storage);
      accumulate_reduced(node, 1, plan.b, g.cwiseProduct(ax));
    }
  });
}

template <typename T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b, std::source_location where) {
  const auto plan = plan_broadcast("div", a.rows(), a.cols(), b.rows(), b.cols(), where);
  Matrix<T> sa, sb;
  Matrix<T> out = expand(a.value(), plan.a, plan.rows, plan.cols, sa).cwiseQuotient(
      expand(b.value(), plan.b, plan.rows, plan.cols, sb));
  return Tensor<T>::from_op("div", std::move(out), {a, b}, [plan](Node<T>& node, const Matrix<T>& g) {
    Matrix<T> storage_b;
    const Matrix<T>& bx = expand(node.input(1), plan.b, g.rows(), g.cols(), storage_b);
    if (node.needs_grad(0)) accumulate_reduced(node, 0, plan.a, g.cwiseQuotient(bx));
    if (node.needs_grad(1)) {
      // d(a/b)/db = -a / b^2 = -out / b
      const Matrix<T>& out_value = node.output_value();
      accumulate_reduced(node, 1, plan.b, (-g.array() * out_value.array() / bx.array()).matrix());
    }
  });
}

template <typename T>
Tensor<T> neg(const Tensor<T>& x) {
  return Tensor<T>::from_op("neg", -x.value(), {x}, [](Node<T>& node, const Matrix<T>& g) { node.accumulate(0, -g); });
}

template <typename T>
Tensor<T> add_scalar(const Tensor<T>& x, ScalarOf<T> c) {
  Matrix<T> out = (x.value().array() + c).matrix();
  return Tensor<T>::from_op("add_scalar", std::move(out), {x},
                            [](Node<T>& node, const Matrix<T>& g) { node.accumulate(0, g); });
}

template <typename T>
Tensor<T> mul_scalar(const Tensor<T>& x, ScalarOf<T> c) {
  return Tensor<T>::from_op("mul_scalar", x.value() * c, {x},
                            [c](Node<T>& node, const Matrix<T>& g) { node.accumulate(0, g * c); });
}

template <typename T>
Tensor<T> exp(const Tensor<T>& x) {
  Matrix<T> out = x.value().array().exp().matrix();
  return Tensor<T>::from_op("exp", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.cwiseProduct(node.output_value()));
  });
}

template <typename T>
Tensor<T> log(const Tensor<T>& x) {
  Matrix<T> out = x.value().array().log().matrix();
  return Tensor<T>::from_op("log", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.cwiseQuotient(node.input(0)));
  });
}

template <typename T>
Tensor<T> sqrt(const Tensor<T>& x) {
  Matrix<T> out = x.value().array().sqrt().matrix();
  return Tensor<T>::from_op("sqrt", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, (g.array() / (T(2) * node.output_value().array())).matrix());
  });
}

template <typename T>
Tensor<T> pow(const Tensor<T>& x, ScalarOf<T> exponent) {
  Matrix<T> out = x.value().array().pow(exponent).matrix();
  return Tensor<T>::from_op("pow", std::move(out), {x}, [exponent](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, (g.array() * exponent * node.input(0).array().pow(exponent - T(1))).matrix());
  });
}

template <typename T>
Tensor<T> square(const Tensor<T>& x) {
  Matrix<T> out = x.value().array().square().matrix();
  return Tensor<T>::from_op("square", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, (T(2) * g.array() * node.input(0).array()).matrix());
  });
}

template <typename T>
Tensor<T> abs(const Tensor<T>& x) {
  return Tensor<T>::from_op("abs", x.value().cwiseAbs(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.cwiseProduct(node.input(0).cwiseSign()));
  });
}

template <typename T>
Tensor<T> clamp(const Tensor<T>& x, ScalarOf<T> lo, ScalarOf<T> hi, std::source_location where) {
  if (!(lo <= hi)) {  // also refuses NaN bounds, for which every comparison is false
    throw_error(fmt::format("clamp: the bounds [{}, {}] are empty; clamp needs lo <= hi", lo, hi), where);
  }
  Matrix<T> out = x.value().cwiseMax(lo).cwiseMin(hi);
  return Tensor<T>::from_op("clamp", std::move(out), {x}, [lo, hi](Node<T>& node, const Matrix<T>& g) {
    const auto in = node.input(0).array();
    node.accumulate(0, (in >= lo && in <= hi).select(g, T(0)));
  });
}

#define TAPEGRAD_INSTANTIATE_ELEMENTWISE(T)                                                         \
  template Tensor<T> add(const Tensor<T>&, const Tensor<T>&, std::source_location);               \
  template Tensor<T> sub(const Tensor<T>&, const Tensor<T>&, std::source_location);               \
  template Tensor<T> mul(const Tensor<T>&, const Tensor<T>&, std::source_location);               \
  template Tensor<T> div(const Tensor<T>&, const Tensor<T>&, std::source_location);               \
  template Tensor<T> neg(const Tensor<T>&);                                                        \
  template Tensor<T> add_scalar(const Tensor<T>&, ScalarOf<T>);                                    \
  template Tensor<T> mul_scalar(const Tensor<T>&, ScalarOf<T>);                                    \
  template Tensor<T> exp(const Tensor<T>&);                                                        \
  template Tensor<T> log(const Tensor<T>&);                                                        \
  template Tensor<T> sqrt(const Tensor<T>&);                                                       \
  template Tensor<T> pow(const Tensor<T>&, ScalarOf<T>);                                           \
  template Tensor<T> square(const Tensor<T>&);                                                     \
  template Tensor<T> abs(const Tensor<T>&);                                                        \
  template Tensor<T> clamp(const Tensor<T>&, ScalarOf<T>, ScalarOf<T>, std::source_location);

TAPEGRAD_INSTANTIATE_ELEMENTWISE(float)
TAPEGRAD_INSTANTIATE_ELEMENTWISE(double)

}  // namespace tapegrad
