#include <tapegrad/ops/linalg.h>

#include <fmt/format.h>

#include <tapegrad/core/gemm.h>
#include <tapegrad/ops/passes.h>

namespace tapegrad {

template <typename T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, std::source_location where) {
  if (a.cols() != b.rows()) {
    throw_error(fmt::format("matmul: inner sizes differ: {} * {}", a.shape_string(), b.shape_string()), where);
  }
  Matrix<T> out;
  product(a.value(), Op::none, b.value(), Op::none, out);
  return Tensor<T>::from_op("matmul", std::move(out), {a, b}, [](Node<T>& node, const Matrix<T>& g) {
    if (node.needs_grad(0)) node.accumulate_product(0, g, Op::none, node.input(1), Op::transpose);
    if (node.needs_grad(1)) node.accumulate_product(1, node.input(0), Op::transpose, g, Op::none);
  });
}

template <typename T>
Tensor<T> transpose(const Tensor<T>& x) {
  return Tensor<T>::from_op("transpose", x.value().transpose(), {x},
                            [](Node<T>& node, const Matrix<T>& g) { node.accumulate(0, g.transpose()); });
}

template <typename T>
Tensor<T> linear(const Tensor<T>& weight, const Tensor<T>& input, const Tensor<T>& bias, std::source_location where) {
  if (weight.cols() != input.rows()) {
    throw_error(fmt::format("linear: inner sizes differ: weight {} * input {}", weight.shape_string(),
                            input.shape_string()),
                where);
  }
  if (bias.rows() != weight.rows() || bias.cols() != 1) {
    throw_error(fmt::format("linear: the bias must be a ({} x 1) column for weight {}, but it is {}", weight.rows(),
                            weight.shape_string(), bias.shape_string()),
                where);
  }
  Matrix<T> out;
  product(weight.value(), Op::none, input.value(), Op::none, out);
  detail::elementwise<T>().add_column(out.rows(), out.cols(), out.data(), bias.value().data());
  return Tensor<T>::from_op("linear", std::move(out), {weight, input, bias}, [](Node<T>& node, const Matrix<T>& g) {
    if (node.needs_grad(0)) node.accumulate_product(0, g, Op::none, node.input(1), Op::transpose);
    if (node.needs_grad(1)) node.accumulate_product(1, node.input(0), Op::transpose, g, Op::none);
    if (node.needs_grad(2)) {  // the bias's gradient: g summed across the batch
      detail::accumulate_written(node, 2, g.rows(), 1, [&](T* db) {
        detail::elementwise<T>().sum_across_columns(g.rows(), g.cols(), g.data(), db);
      });
    }
  });
}

template Tensor<float> matmul(const Tensor<float>&, const Tensor<float>&, std::source_location);
template Tensor<double> matmul(const Tensor<double>&, const Tensor<double>&, std::source_location);
template Tensor<float> transpose(const Tensor<float>&);
template Tensor<double> transpose(const Tensor<double>&);
template Tensor<float> linear(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&, std::source_location);
template Tensor<double> linear(const Tensor<double>&, const Tensor<double>&, const Tensor<double>&,
                               std::source_location);

}  // namespace tapegrad
