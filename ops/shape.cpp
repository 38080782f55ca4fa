#include <tapegrad/ops/shape.h>

#include <fmt/format.h>

#include <string>

namespace tapegrad {
namespace {

template <typename T>
std::string shape_list(const std::vector<Tensor<T>>& parts) {
  std::string list;
  for (std::size_t i = 0; i < parts.size(); ++i) list += (i ? ", " : "") + parts[i].shape_string();
  return list;
}

// Where each part starts along the joined axis; `along_rows` picks vcat (rows) or hcat (columns). Checks that the
// other axis agrees, naming the first part that differs.
template <typename T>
std::vector<Index> part_offsets(const char* op, const std::vector<Tensor<T>>& parts, bool along_rows,
                                const std::source_location& where) {
  if (parts.empty()) throw_error(fmt::format("{}: needs at least one tensor, got none", op), where);
  std::vector<Index> offsets(parts.size() + 1, 0);
  const Index common = along_rows ? parts[0].cols() : parts[0].rows();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Index other = along_rows ? parts[i].cols() : parts[i].rows();
    if (other != common) {
      throw_error(fmt::format("{}: every tensor must have {} {} like the first, but tensor {} is {} (shapes: {})", op,
                              common, along_rows ? "columns" : "rows", i, parts[i].shape_string(), shape_list(parts)),
                  where);
    }
    offsets[i + 1] = offsets[i] + (along_rows ? parts[i].rows() : parts[i].cols());
  }
  return offsets;
}

}  // namespace

template <typename T>
Tensor<T> reshape(const Tensor<T>& x, Index rows, Index cols, std::source_location where) {
  if (rows < 0 || cols < 0 || rows * cols != x.size()) {
    throw_error(fmt::format("reshape: cannot make {} of {} with {} entries; rows * cols must equal the size",
                            shape_string(rows, cols), x.shape_string(), x.size()),
                where);
  }
  // Column-major storage makes this a copy of the same buffer under another shape.
  Matrix<T> out = x.value().reshaped(rows, cols);
  return Tensor<T>::from_op("reshape", std::move(out), {x}, [](Node<T>& node, const Matrix<T>& g) {
    const Matrix<T>& in = node.input(0);
    node.accumulate(0, g.reshaped(in.rows(), in.cols()));
  });
}

template <typename T>
Tensor<T> hcat(const std::vector<Tensor<T>>& parts, std::source_location where) {
  const std::vector<Index> offsets = part_offsets("hcat", parts, false, where);
  Matrix<T> out(parts[0].rows(), offsets.back());
  for (std::size_t i = 0; i < parts.size(); ++i) out.middleCols(offsets[i], parts[i].cols()) = parts[i].value();
  return Tensor<T>::from_op("hcat", std::move(out), parts, [offsets](Node<T>& node, const Matrix<T>& g) {
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (node.needs_grad(i)) node.accumulate(i, g.middleCols(offsets[i], offsets[i + 1] - offsets[i]));
    }
  });
}

template <typename T>
Tensor<T> hcat(std::initializer_list<Tensor<T>> parts, std::source_location where) {
  return hcat(std::vector<Tensor<T>>(parts), where);
}

template <typename T>
Tensor<T> vcat(const std::vector<Tensor<T>>& parts, std::source_location where) {
  const std::vector<Index> offsets = part_offsets("vcat", parts, true, where);
  Matrix<T> out(offsets.back(), parts[0].cols());
  for (std::size_t i = 0; i < parts.size(); ++i) out.middleRows(offsets[i], parts[i].rows()) = parts[i].value();
  return Tensor<T>::from_op("vcat", std::move(out), parts, [offsets](Node<T>& node, const Matrix<T>& g) {
    for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (node.needs_grad(i)) node.accumulate(i, g.middleRows(offsets[i], offsets[i + 1] - offsets[i]));
    }
  });
}

template <typename T>
Tensor<T> vcat(std::initializer_list<Tensor<T>> parts, std::source_location where) {
  return vcat(std::vector<Tensor<T>>(parts), where);
}

#define TAPEGRAD_INSTANTIATE_SHAPE(T)                                                          \
  template Tensor<T> reshape(const Tensor<T>&, Index, Index, std::source_location);            \
  template Tensor<T> hcat(const std::vector<Tensor<T>>&, std::source_location);                \
  template Tensor<T> hcat(std::initializer_list<Tensor<T>>, std::source_location);             \
  template Tensor<T> vcat(const std::vector<Tensor<T>>&, std::source_location);                \
  template Tensor<T> vcat(std::initializer_list<Tensor<T>>, std::source_location);

TAPEGRAD_INSTANTIATE_SHAPE(float)
TAPEGRAD_INSTANTIATE_SHAPE(double)

}  // namespace tapegrad
