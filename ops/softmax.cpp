#include <tapegrad/ops/softmax.h>

#include <fmt/format.h>

#include <tapegrad/ops/numerics.h>
#include <tapegrad/ops/passes.h>

namespace tapegrad {

using detail::accumulate_written;
using detail::elementwise;

template <typename T>
Tensor<T> softmax(const Tensor<T>& scores) {
  Matrix<T> probabilities;
  Eigen::Matrix<T, 1, Eigen::Dynamic> log_sum_exp;
  column_softmax(scores.value(), probabilities, log_sum_exp);
  return Tensor<T>::from_op("softmax", std::move(probabilities), {scores}, [](Node<T>& node, const Matrix<T>& g) {
    // Per column: dS = P o (g - <g, P>).
    const Matrix<T>& p = node.output_value();
    accumulate_written(node, 0, g.rows(), g.cols(), [&](T* ds) {
      elementwise<T>().softmax_backward(g.rows(), g.cols(), p.data(), g.data(), ds);
    });
  });
}

template <typename T>
Tensor<T> log_softmax(const Tensor<T>& scores) {
  Matrix<T> probabilities;
  Eigen::Matrix<T, 1, Eigen::Dynamic> log_sum_exp;
  column_softmax(scores.value(), probabilities, log_sum_exp);
  Matrix<T> out = scores.value().rowwise() - log_sum_exp;
  return Tensor<T>::from_op("log_softmax", std::move(out), {scores},
                            [probabilities = std::move(probabilities)](Node<T>& node, const Matrix<T>& g) {
                              // Per column: dS = g - P * sum(g).
                              accumulate_written(node, 0, g.rows(), g.cols(), [&](T* ds) {
                                elementwise<T>().log_softmax_backward(g.rows(), g.cols(), probabilities.data(),
                                                                      g.data(), ds);
                              });
                            });
}

template <typename T>
Tensor<T> logsumexp(const Tensor<T>& x, std::source_location where) {
  if (x.rows() == 0) {
    throw_error(fmt::format("logsumexp: the tensor {} has no rows; each column needs at least one entry",
                            x.shape_string()),
                where);
  }
  Matrix<T> probabilities;
  Eigen::Matrix<T, 1, Eigen::Dynamic> log_sum_exp;
  column_softmax(x.value(), probabilities, log_sum_exp);
  return Tensor<T>::from_op("logsumexp", Matrix<T>(log_sum_exp), {x},
                            [probabilities = std::move(probabilities)](Node<T>& node, const Matrix<T>& g) {
                              node.accumulate(0, probabilities * g.row(0).asDiagonal());
                            });
}

template Tensor<float> softmax(const Tensor<float>&);
template Tensor<double> softmax(const Tensor<double>&);
template Tensor<float> log_softmax(const Tensor<float>&);
template Tensor<double> log_softmax(const Tensor<double>&);
template Tensor<float> logsumexp(const Tensor<float>&, std::source_location);
template Tensor<double> logsumexp(const Tensor<double>&, std::source_location);

}  // namespace tapegrad
