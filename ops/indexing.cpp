#include <tapegrad/ops/indexing.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace tapegrad {
namespace {

// Every index in [0, extent), or an Error naming the first one outside.
void check_indices(const char* op, std::span<const int> indices, Index extent, const char* axis,
                   const std::string& shape, const std::source_location& where) {
  for (std::size_t j = 0; j < indices.size(); ++j) {
    if (indices[j] < 0 || indices[j] >= extent) {
      throw_error(fmt::format("{}: index {} at position {} is outside [0, {}), the {} of a tensor of shape {}", op,
                              indices[j], j, extent, axis, shape),
                  where);
    }
  }
}

void check_range(const char* op, Index first, Index count, Index extent, const char* axis, const std::string& shape,
                 const std::source_location& where) {
  if (first < 0 || count < 0 || first > extent - count) {
    throw_error(fmt::format("{}: the range [{}, {} + {}) is not inside the {} {} of a tensor of shape {}; it needs "
                            "0 <= first, 0 <= count and first + count <= {}",
                            op, first, first, count, extent, axis, shape, extent),
                where);
  }
}

// The input's gradient as real values of its shape, for rules that add into parts of it.
template <typename T>
Matrix<T>& dense_grad_target(Node<T>& node) {
  Matrix<T>& target = node.grad_target(0);
  if (target.size() == 0) target = Matrix<T>::Zero(node.input(0).rows(), node.input(0).cols());
  return target;
}

}  // namespace

template <typename T>
Tensor<T> select_columns(const Tensor<T>& x, std::span<const int> indices, std::source_location where) {
  check_indices("select_columns", indices, x.cols(), "columns", x.shape_string(), where);
  Matrix<T> out(x.rows(), static_cast<Index>(indices.size()));
  for (std::size_t j = 0; j < indices.size(); ++j) out.col(static_cast<Index>(j)) = x.value().col(indices[j]);
  std::vector<int> kept(indices.begin(), indices.end());
  return Tensor<T>::from_op("select_columns", std::move(out), {x},
                            [kept = std::move(kept)](Node<T>& node, const Matrix<T>& g) {
                              Matrix<T>& target = dense_grad_target(node);
                              for (std::size_t j = 0; j < kept.size(); ++j)
                                target.col(kept[j]) += g.col(static_cast<Index>(j));
                            });
}

template <typename T>
Tensor<T> select_rows(const Tensor<T>& x, std::span<const int> indices, std::source_location where) {
  check_indices("select_rows", indices, x.rows(), "rows", x.shape_string(), where);
  Matrix<T> out(static_cast<Index>(indices.size()), x.cols());
  for (std::size_t i = 0; i < indices.size(); ++i) out.row(static_cast<Index>(i)) = x.value().row(indices[i]);
  std::vector<int> kept(indices.begin(), indices.end());
  return Tensor<T>::from_op("select_rows", std::move(out), {x},
                            [kept = std::move(kept)](Node<T>& node, const Matrix<T>& g) {
                              // Repeated indices add up: each picked row sends its gradient to its source.
                              Matrix<T>& target = dense_grad_target(node);
                              for (std::size_t i = 0; i < kept.size(); ++i)
                                target.row(kept[i]) += g.row(static_cast<Index>(i));
                            });
}

template <typename T>
Tensor<T> slice_rows(const Tensor<T>& x, Index first, Index count, std::source_location where) {
  check_range("slice_rows", first, count, x.rows(), "rows", x.shape_string(), where);
  return Tensor<T>::from_op("slice_rows", x.value().middleRows(first, count), {x},
                            [first, count](Node<T>& node, const Matrix<T>& g) {
                              Matrix<T>& target = dense_grad_target(node);
                              target.middleRows(first, count) += g;
                            });
}

template <typename T>
Tensor<T> slice_cols(const Tensor<T>& x, Index first, Index count, std::source_location where) {
  check_range("slice_cols", first, count, x.cols(), "columns", x.shape_string(), where);
  return Tensor<T>::from_op("slice_cols", x.value().middleCols(first, count), {x},
                            [first, count](Node<T>& node, const Matrix<T>& g) {
                              Matrix<T>& target = dense_grad_target(node);
                              target.middleCols(first, count) += g;
                            });
}

#define TAPEGRAD_INSTANTIATE_INDEXING(T)                                                                    \
  template Tensor<T> select_columns(const Tensor<T>&, std::span<const int>, std::source_location);        \
  template Tensor<T> select_rows(const Tensor<T>&, std::span<const int>, std::source_location);           \
  template Tensor<T> slice_rows(const Tensor<T>&, Index, Index, std::source_location);                    \
  template Tensor<T> slice_cols(const Tensor<T>&, Index, Index, std::source_location);

TAPEGRAD_INSTANTIATE_INDEXING(float)
TAPEGRAD_INSTANTIATE_INDEXING(double)

}  // namespace tapegrad
