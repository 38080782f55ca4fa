#include <tapegrad/ops/normalization.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/ops/passes.h>

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
  const Index d = s.rows(), n = s.cols();
  const bool affine = gamma != nullptr;
  // Forward and backward are per-level passes (kernels/elementwise.h): the per-feature sums run along rows, one
  // feature per lane, and each block of features is read from memory once.
  Matrix<T> out(d, n), mu(d, 1), variance(d, 1), sigma1(d, 1);
  kernels::elementwise<T>().batch_norm_forward(d, n, s.value().data(), affine ? gamma->value().data() : nullptr,
                                               affine ? beta->value().data() : nullptr, static_cast<T>(eps),
                                               out.data(), mu.data(), variance.data(), sigma1.data());
  if (statistics != nullptr) {
    statistics->mean = mu;
    statistics->variance = std::move(variance);
  }
  std::vector<Tensor<T>> inputs{s};
  if (affine) inputs.insert(inputs.end(), {*gamma, *beta});
  // The backward rule, in the reports' notation. With G the gradient with respect to s_hat (upstream, times gamma
  // row by row when affine), D = s - mu 1^T, sigma1 = (v + eps)^(-1/2), sigma2 = (v + eps)^(-3/2):
  //   G1 = G .* (sigma1 1^T),  G2 = G .* (sigma2 1^T),  c = (G2 .* D) 1,
  //   G_s = G1 - (1/n) (G1 1) 1^T - (1/n) D .* (c 1^T),
  //   dgamma = (upstream .* s_hat) 1,  dbeta = upstream 1.
  // The kernel computes it from two sums per feature, upstream 1 and (upstream .* D) 1 (see its comment). Only mu
  // and sigma1 are kept (d x 1 each); D is recomputed from the input, which the node holds anyway.
  return Tensor<T>::from_op(
      "batch_norm", std::move(out), inputs,
      [mu = std::move(mu), sigma1 = std::move(sigma1), affine](Node<T>& node, const Matrix<T>& upstream) {
        const Matrix<T>& x = node.input(0);
        const Index rows = x.rows(), cols = x.cols();
        const bool want_gamma = affine && node.needs_grad(1), want_beta = affine && node.needs_grad(2);
        Matrix<T> dgamma(want_gamma ? rows : 0, 1), dbeta(want_beta ? rows : 0, 1);
        const auto run = [&](T* dx) {
          kernels::elementwise<T>().batch_norm_backward(
              rows, cols, x.data(), upstream.data(), mu.data(), sigma1.data(),
              affine ? node.input(1).data() : nullptr, dx, want_gamma ? dgamma.data() : nullptr,
              want_beta ? dbeta.data() : nullptr);
        };
        if (node.needs_grad(0)) {
          detail::accumulate_written(node, 0, rows, cols, run);
        } else {
          run(nullptr);
        }
        if (want_gamma) node.accumulate(1, dgamma);
        if (want_beta) node.accumulate(2, dbeta);
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
