#include <tapegrad/nn/batch_norm.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/normalization.h>

namespace tapegrad::nn {

namespace {

void check_options(Index features, const BatchNormOptions& options) {
  if (features <= 0) throw_error(fmt::format("BatchNorm: features = {} must be positive", features));
  if (!(options.eps > 0.0) || !std::isfinite(options.eps)) {
    throw_error(fmt::format("BatchNorm: eps = {} must be positive and finite (the course uses 2.2e-16, PyTorch "
                            "1e-5)",
                            options.eps));
  }
  if (!(options.momentum > 0.0 && options.momentum <= 1.0)) {
    throw_error(fmt::format("BatchNorm: momentum = {} must be in (0, 1]; it is the new batch's weight in the "
                            "running averages (1 - alpha in the course's notation)",
                            options.momentum));
  }
}

}  // namespace

template <typename T>
BatchNorm<T>::BatchNorm(Index features, const BatchNormOptions& options) : options_(options) {
  check_options(features, options);
  if (options.affine) {
    gamma_ = this->register_parameter("weight", Tensor<T>::ones(features, 1));
    beta_ = this->register_parameter("bias", Tensor<T>::zeros(features, 1));
  }
  running_mean_ = this->register_buffer("running_mean", Tensor<T>::zeros(features, 1));
  running_var_ = this->register_buffer("running_var", Tensor<T>::ones(features, 1));
  batches_tracked_ = this->register_buffer("num_batches_tracked", Tensor<T>::zeros(1, 1));
}

template <typename T>
long long BatchNorm<T>::batches_tracked() const {
  return static_cast<long long>(batches_tracked_.value()(0, 0));
}

template <typename T>
void BatchNorm<T>::update_running_statistics(const Matrix<T>& batch_mean, const Matrix<T>& batch_variance, Index n) {
  Matrix<T> variance = batch_variance;
  if (options_.running_variance == RunningVariance::unbiased) variance *= static_cast<T>(n) / static_cast<T>(n - 1);
  Matrix<T>& mean = running_mean_.mutable_value();
  Matrix<T>& var = running_var_.mutable_value();
  if (options_.running_start == RunningStart::first_batch && batches_tracked() == 0) {
    mean = batch_mean;
    var = variance;
  } else {
    const T momentum = static_cast<T>(options_.momentum);
    mean = (T(1) - momentum) * mean + momentum * batch_mean;
    var = (T(1) - momentum) * var + momentum * variance;
  }
  batches_tracked_.mutable_value()(0, 0) += T(1);
}

template <typename T>
Tensor<T> BatchNorm<T>::forward(const Tensor<T>& input) {
  if (input.rows() != features()) {
    throw_error(fmt::format("BatchNorm({}): the input {} has {} rows; it must have {} (one row per feature, one "
                            "column per example)",
                            features(), input.shape_string(), input.rows(), features()));
  }
  if (this->is_training()) {
    if (input.cols() < 2) {
      throw_error(fmt::format("BatchNorm({}): a training batch needs at least 2 examples (columns) to normalise "
                              "by their spread, but the input is {}; use eval() for single examples",
                              features(), input.shape_string()));
    }
    BatchStatistics<T> statistics;
    Tensor<T> out = options_.affine ? batch_norm(input, gamma_, beta_, options_.eps, &statistics)
                                    : batch_norm(input, options_.eps, &statistics);
    update_running_statistics(statistics.mean, statistics.variance, input.cols());
    return out;
  }
  // Evaluation: an affine map per feature, out = scale .* s + shift with scale = gamma / sqrt(running_var + eps)
  // and shift = beta - running_mean .* scale, recorded through the ordinary ops so that gradients still reach the
  // input and gamma / beta (fine-tuning or inspecting a frozen network).
  const Tensor<T> inverse_std(
      (running_var_.value().array() + static_cast<T>(options_.eps)).rsqrt().matrix());
  Tensor<T> scale = options_.affine ? mul(gamma_, inverse_std) : inverse_std;
  Tensor<T> shift = mul(Tensor<T>(-running_mean_.value()), scale);
  if (options_.affine) shift = add(shift, beta_);
  return add(mul(input, scale), shift);
}

template <typename T>
std::string BatchNorm<T>::type_name() const {
  return fmt::format("BatchNorm({})", features());
}

template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace tapegrad::nn
