#include <tapegrad/ops/reduction.h>

#include <fmt/format.h>

#include <string>

#include <tapegrad/ops/passes.h>

namespace tapegrad {
namespace {

// An Error unless the reduced axis has at least one entry: a mean or a maximum of nothing has no value.
void check_not_empty(const char* op, Index length, const char* axis, const std::string& shape,
                     const std::source_location& where) {
  if (length == 0) {
    throw_error(fmt::format("{}: the tensor {} has no {}; the reduction needs at least one", op, shape, axis), where);
  }
}

// The first maximum of each row (along_rows) or each column: a strict comparison, so a later equal value never
// replaces an earlier one.
template <typename T>
std::vector<Index> first_maxima(const Matrix<T>& x, bool along_rows) {
  const Index lines = along_rows ? x.rows() : x.cols();
  const Index length = along_rows ? x.cols() : x.rows();
  std::vector<Index> best(static_cast<std::size_t>(lines), 0);
  for (Index line = 0; line < lines; ++line) {
    Index& b = best[static_cast<std::size_t>(line)];
    for (Index k = 1; k < length; ++k) {
      const T candidate = along_rows ? x(line, k) : x(k, line);
      const T current = along_rows ? x(line, b) : x(b, line);
      if (candidate > current) b = k;
    }
  }
  return best;
}

}  // namespace

template <typename T>
Tensor<T> sum(const Tensor<T>& x) {
  const T total = detail::elementwise<T>().sum(x.size(), x.value().data());
  return Tensor<T>::from_op("sum", Matrix<T>::Constant(1, 1, total), {x},
                            [](Node<T>& node, const Matrix<T>& g) {
                              const Matrix<T>& in = node.input(0);
                              node.accumulate(0, Matrix<T>::Constant(in.rows(), in.cols(), g(0, 0)));
                            });
}

template <typename T>
Tensor<T> sum_rows(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum_rows", x.value().rowwise().sum(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.replicate(1, node.input(0).cols()));
  });
}

template <typename T>
Tensor<T> sum_cols(const Tensor<T>& x) {
  return Tensor<T>::from_op("sum_cols", x.value().colwise().sum(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    node.accumulate(0, g.replicate(node.input(0).rows(), 1));
  });
}

template <typename T>
Tensor<T> mean(const Tensor<T>& x, std::source_location where) {
  if (x.size() == 0) {
    throw_error(fmt::format("mean: the tensor {} is empty; the mean needs at least one entry", x.shape_string()),
                where);
  }
  const T count = static_cast<T>(x.size());
  const T total = detail::elementwise<T>().sum(x.size(), x.value().data());
  return Tensor<T>::from_op("mean", Matrix<T>::Constant(1, 1, total / count), {x},
                            [count](Node<T>& node, const Matrix<T>& g) {
                              const Matrix<T>& in = node.input(0);
                              node.accumulate(0, Matrix<T>::Constant(in.rows(), in.cols(), g(0, 0) / count));
                            });
}

template <typename T>
Tensor<T> sum_of_squares(const Tensor<T>& x) {
  // sum x^2 (the L2 term); backward: 2 g x.
  const T total = detail::elementwise<T>().sum_of_squares(x.size(), x.value().data());
  return Tensor<T>::from_op("sum_of_squares", Matrix<T>::Constant(1, 1, total), {x},
                            [](Node<T>& node, const Matrix<T>& g) {
                              detail::accumulate_scaled(node, 0, node.input(0), T(2) * g(0, 0));
                            });
}

template <typename T>
Tensor<T> mean_rows(const Tensor<T>& x, std::source_location where) {
  check_not_empty("mean_rows", x.cols(), "columns", x.shape_string(), where);
  return Tensor<T>::from_op("mean_rows", x.value().rowwise().mean(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    const Index n = node.input(0).cols();
    node.accumulate(0, (g / static_cast<T>(n)).replicate(1, n));
  });
}

template <typename T>
Tensor<T> mean_cols(const Tensor<T>& x, std::source_location where) {
  check_not_empty("mean_cols", x.rows(), "rows", x.shape_string(), where);
  return Tensor<T>::from_op("mean_cols", x.value().colwise().mean(), {x}, [](Node<T>& node, const Matrix<T>& g) {
    const Index m = node.input(0).rows();
    node.accumulate(0, (g / static_cast<T>(m)).replicate(m, 1));
  });
}

template <typename T>
Tensor<T> max_rows(const Tensor<T>& x, std::source_location where) {
  check_not_empty("max_rows", x.cols(), "columns", x.shape_string(), where);
  std::vector<Index> best = first_maxima(x.value(), true);
  Matrix<T> out(x.rows(), 1);
  for (Index i = 0; i < x.rows(); ++i) out(i, 0) = x.value()(i, best[static_cast<std::size_t>(i)]);
  auto backward = [best = std::move(best)](Node<T>& node, const Matrix<T>& g) {
    const Matrix<T>& in = node.input(0);
    Matrix<T>& target = node.grad_target(0);  // only the maxima receive anything: add into real values
    if (target.size() == 0) target = Matrix<T>::Zero(in.rows(), in.cols());
    for (Index i = 0; i < in.rows(); ++i) target(i, best[static_cast<std::size_t>(i)]) += g(i, 0);
  };
  return Tensor<T>::from_op("max_rows", std::move(out), {x}, std::move(backward));
}

template <typename T>
Tensor<T> max_cols(const Tensor<T>& x, std::source_location where) {
  check_not_empty("max_cols", x.rows(), "rows", x.shape_string(), where);
  std::vector<Index> best = first_maxima(x.value(), false);
  Matrix<T> out(1, x.cols());
  for (Index j = 0; j < x.cols(); ++j) out(0, j) = x.value()(best[static_cast<std::size_t>(j)], j);
  auto backward = [best = std::move(best)](Node<T>& node, const Matrix<T>& g) {
    const Matrix<T>& in = node.input(0);
    Matrix<T>& target = node.grad_target(0);  // only the maxima receive anything: add into real values
    if (target.size() == 0) target = Matrix<T>::Zero(in.rows(), in.cols());
    for (Index j = 0; j < in.cols(); ++j) target(best[static_cast<std::size_t>(j)], j) += g(0, j);
  };
  return Tensor<T>::from_op("max_cols", std::move(out), {x}, std::move(backward));
}

template <typename T>
std::vector<Index> argmax_rows(const Tensor<T>& x, std::source_location where) {
  check_not_empty("argmax_rows", x.cols(), "columns", x.shape_string(), where);
  return first_maxima(x.value(), true);
}

template <typename T>
std::vector<Index> argmax_cols(const Tensor<T>& x, std::source_location where) {
  check_not_empty("argmax_cols", x.rows(), "rows", x.shape_string(), where);
  return first_maxima(x.value(), false);
}

#define TAPEGRAD_INSTANTIATE_REDUCTION(T)                                           \
  template Tensor<T> sum(const Tensor<T>&);                                          \
  template Tensor<T> sum_rows(const Tensor<T>&);                                     \
  template Tensor<T> sum_cols(const Tensor<T>&);                                     \
  template Tensor<T> mean(const Tensor<T>&, std::source_location);                   \
  template Tensor<T> sum_of_squares(const Tensor<T>&);                               \
  template Tensor<T> mean_rows(const Tensor<T>&, std::source_location);              \
  template Tensor<T> mean_cols(const Tensor<T>&, std::source_location);              \
  template Tensor<T> max_rows(const Tensor<T>&, std::source_location);               \
  template Tensor<T> max_cols(const Tensor<T>&, std::source_location);               \
  template std::vector<Index> argmax_rows(const Tensor<T>&, std::source_location);   \
  template std::vector<Index> argmax_cols(const Tensor<T>&, std::source_location);

TAPEGRAD_INSTANTIATE_REDUCTION(float)
TAPEGRAD_INSTANTIATE_REDUCTION(double)

}  // namespace tapegrad
