#include <tapegrad/ops/indexing.h>

#include <fmt/format.h>

#include <vector>

namespace tapegrad {

template <typename T>
Tensor<T> select_columns(const Tensor<T>& x, std::span<const int> indices, std::source_location where) {
  Matrix<T> out(x.rows(), static_cast<Index>(indices.size()));
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const int column = indices[j];
    if (column < 0 || column >= x.cols()) {
      throw_error(fmt::format("select_columns: index {} at position {} is outside [0, {}) for a tensor of shape {}",
                              column, j, x.cols(), x.shape_string()),
                  where);
    }
    out.col(static_cast<Index>(j)) = x.value().col(column);
  }
  std::vector<int> kept(indices.begin(), indices.end());
  return Tensor<T>::from_op("select_columns", std::move(out), {x},
                            [kept = std::move(kept)](Node<T>& node, const Matrix<T>& g) {
                              Matrix<T>& target = node.grad_target(0);
                              if (target.size() == 0) target = Matrix<T>::Zero(node.input(0).rows(), node.input(0).cols());
                              for (std::size_t j = 0; j < kept.size(); ++j)
                                target.col(kept[j]) += g.col(static_cast<Index>(j));
                            });
}

template Tensor<float> select_columns(const Tensor<float>&, std::span<const int>, std::source_location);
template Tensor<double> select_columns(const Tensor<double>&, std::span<const int>, std::source_location);

}  // namespace tapegrad
