#include <tapegrad/ops/normalization.h>

#include <fmt/format.h>

#include <cmath>

namespace tapegrad {

template <typename T>
Tensor<T> dropout(const Tensor<T>& x, double p, Generator& generator) {
  // Written so that NaN fails too.
  if (!(p >= 0.0 && p < 1.0)) {
    throw_error(fmt::format("dropout: the drop probability p = {} must be in [0, 1) (p = 1 would drop everything)",
                            p));
  }
  if (p == 0.0) {
    return Tensor<T>::from_op("dropout", x.value(), {x},
                              [](Node<T>& node, const Matrix<T>& g) { node.accumulate(0, g); });
  }
  // The mask holds 0 or 1 / (1 - p), so that forward and backward are one product each.
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  Matrix<T> mask(x.rows(), x.cols());
  for (Index i = 0; i < mask.size(); ++i) mask.data()[i] = generator.uniform() < p ? T(0) : keep_scale;
  Matrix<T> out = x.value().cwiseProduct(mask);
  return Tensor<T>::from_op("dropout", std::move(out), {x},
                            [mask = std::move(mask)](Node<T>& node, const Matrix<T>& g) {
                              node.accumulate(0, g.cwiseProduct(mask));
                            });
}

namespace {

template <typename T>
void check_batch_norm_arguments(const Tensor<T>& s, const Tensor<T>* gamma, const Tensor<T>* beta, double eps) {
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    throw_error(fmt::format("batch_norm: eps = {} must be positive and finite (it keeps 1 / sqrt(v + eps) finite "
                            "for a feature of zero variance)",
                            eps));
  }
  if (s.rows() == 0 || s.cols() == 0) {
    throw_error(fmt::format("batch_norm: the batch {} is empty; it needs at least one feature (row) and one example "
                            "(column)",
                            s.shape_string()));
  }
  auto check_column = [&](const Tensor<T>* p, const char* name) {
    if (p->rows() != s.rows() || p->cols() != 1) {
      throw_error(fmt::format("batch_norm: {} must be a ({} x 1) column, one entry per feature of the batch {}, but "
                              "it is {}",
                              name, s.rows(), s.shape_string(), p->shape_string()));
    }
  };
  if (gamma != nullptr) check_column(gamma, "gamma");
  if (beta != nullptr) check_column(beta, "beta");
}

template <typename T>
Tensor<T> batch_norm_impl(const Tensor<T>& s, const Tensor<T>* gamma, const Tensor<T>* beta, double eps,
                          BatchStatistics<T>* statistics) {
  check_batch_norm_arguments(s, gamma, beta, eps);
  const Index n = s.cols();
  const T inverse_n = T(1) / static_cast<T>(n);
  const Matrix<T>& x = s.value();
  // Two passes (mean, then the squares of the deviations) rather than E[s^2] - mu^2, which cancels badly when the
  // mean is large compared with the spread.
  Matrix<T> mu = x.rowwise().sum() * inverse_n;
  Matrix<T> variance = (x.colwise() - mu.col(0)).array().square().matrix().rowwise().sum() * inverse_n;
  Matrix<T> sigma1 = (variance.array() + static_cast<T>(eps)).rsqrt().matrix();
  Matrix<T> out = (x.colwise() - mu.col(0)).array().colwise() * sigma1.col(0).array();
  const bool affine = gamma != nullptr;
  if (affine) {
    out.array().colwise() *= gamma->value().col(0).array();
    out.colwise() += beta->value().col(0);
  }
  if (statistics != nullptr) {
    statistics->mean = mu;
    statistics->variance = variance;
  }
  std::vector<Tensor<T>> inputs{s};
  if (affine) inputs.insert(inputs.end(), {*gamma, *beta});
  // The backward rule, in the reports' notation. With G the gradient with respect to s_hat (upstream, times gamma
  // row by row when affine), D = s - mu 1^T, sigma1 = (v + eps)^(-1/2), sigma2 = (v + eps)^(-3/2):
  //   G1 = G .* (sigma1 1^T),  G2 = G .* (sigma2 1^T),  c = (G2 .* D) 1,
  //   G_s = G1 - (1/n) (G1 1) 1^T - (1/n) D .* (c 1^T),
  //   dgamma = (upstream .* s_hat) 1,  dbeta = upstream 1.
  // Only mu and sigma1 are kept (d x 1 each); D and s_hat are recomputed from the input, which the node holds
  // anyway.
  return Tensor<T>::from_op(
      "batch_norm", std::move(out), inputs,
      [mu = std::move(mu), sigma1 = std::move(sigma1), inverse_n, affine](Node<T>& node, const Matrix<T>& upstream) {
        const Matrix<T> deviation = node.input(0).colwise() - mu.col(0);  // D
        if (affine && (node.needs_grad(1) || node.needs_grad(2))) {
          if (node.needs_grad(1)) {
            const auto s_hat = deviation.array().colwise() * sigma1.col(0).array();
            node.accumulate(1, (upstream.array() * s_hat).matrix().rowwise().sum());
          }
          if (node.needs_grad(2)) node.accumulate(2, upstream.rowwise().sum());
        }
        if (!node.needs_grad(0)) return;
        Matrix<T> g1 = upstream;  // becomes G1 = G .* (sigma1 1^T)
        if (affine) g1.array().colwise() *= node.input(1).col(0).array();
        g1.array().colwise() *= sigma1.col(0).array();
        // G2 .* D = G1 .* D .* (sigma1^2 1^T), so c = ((G1 .* D) 1) .* sigma1^2 without forming G2.
        const Matrix<T> c =
            (g1.cwiseProduct(deviation).rowwise().sum().array() * sigma1.col(0).array().square()).matrix();
        const Matrix<T> g1_row_sums = g1.rowwise().sum();
        Matrix<T> grad_s = g1;
        grad_s.colwise() -= g1_row_sums.col(0) * inverse_n;
        grad_s -= (deviation.array().colwise() * (c.col(0).array() * inverse_n)).matrix();
        node.accumulate(0, grad_s);
      });
}

}  // namespace

template <typename T>
Tensor<T> batch_norm(const Tensor<T>& s, double eps, BatchStatistics<T>* statistics) {
  return batch_norm_impl<T>(s, nullptr, nullptr, eps, statistics);
}

template <typename T>
Tensor<T> batch_norm(const Tensor<T>& s, const Tensor<T>& gamma, const Tensor<T>& beta, double eps,
                     BatchStatistics<T>* statistics) {
  return batch_norm_impl<T>(s, &gamma, &beta, eps, statistics);
}

#define TAPEGRAD_INSTANTIATE_NORMALIZATION(T)                                              \
  template Tensor<T> dropout(const Tensor<T>&, double, Generator&);                         \
  template Tensor<T> batch_norm(const Tensor<T>&, double, BatchStatistics<T>*);             \
  template Tensor<T> batch_norm(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, double, \
                                BatchStatistics<T>*);

TAPEGRAD_INSTANTIATE_NORMALIZATION(float)
TAPEGRAD_INSTANTIATE_NORMALIZATION(double)

}  // namespace tapegrad
