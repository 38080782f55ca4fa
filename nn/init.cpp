#include <tapegrad/nn/init.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/error.h>

namespace tapegrad::nn {
namespace {

void check_finite(const char* scheme, const char* what, double value) {
  if (!std::isfinite(value))
    throw_error(fmt::format("Init::{}: the {} must be finite, got {}", scheme, what, value));
}

void check_fans(const char* scheme, Index fan_in, Index fan_out) {
  if (fan_in <= 0 || fan_out <= 0) {
    throw_error(fmt::format(
        "{}: the tensor has fan_in {} and fan_out {}; the scheme scales by the fans, so both must be positive",
        scheme, fan_in, fan_out));
  }
}

template <typename T>
void fill_normal(const Tensor<T>& tensor, Generator& generator, double mean, double stddev) {
  Matrix<T>& value = tensor.mutable_value();
  for (Index i = 0; i < value.size(); ++i) value.data()[i] = static_cast<T>(generator.normal(mean, stddev));
}

template <typename T>
void fill_uniform(const Tensor<T>& tensor, Generator& generator, double low, double high) {
  Matrix<T>& value = tensor.mutable_value();
  for (Index i = 0; i < value.size(); ++i) value.data()[i] = static_cast<T>(generator.uniform(low, high));
}

}  // namespace

double xavier_normal_std(Index fan_in, Index fan_out, double gain) {
  check_fans("xavier_normal", fan_in, fan_out);
  return gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
}

double xavier_uniform_bound(Index fan_in, Index fan_out, double gain) {
  check_fans("xavier_uniform", fan_in, fan_out);
  return gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
}

double he_normal_std(Index fan_in) {
  check_fans("he_normal", fan_in, 1);
  return std::sqrt(2.0 / static_cast<double>(fan_in));
}

double he_uniform_bound(Index fan_in) {
  check_fans("he_uniform", fan_in, 1);
  return std::sqrt(6.0 / static_cast<double>(fan_in));
}

double lecun_normal_std(Index fan_in) {
  check_fans("lecun_normal", fan_in, 1);
  return 1.0 / std::sqrt(static_cast<double>(fan_in));
}

Init Init::zeros() { return Init(Kind::zeros, 0.0, 0.0); }

Init Init::constant(double value) {
  check_finite("constant", "value", value);
  return Init(Kind::constant, value, 0.0);
}

Init Init::normal(double stddev, double mean) {
  check_finite("normal", "standard deviation", stddev);
  check_finite("normal", "mean", mean);
  if (stddev < 0) throw_error(fmt::format("Init::normal: the standard deviation must be >= 0, got {}", stddev));
  return Init(Kind::normal, stddev, mean);
}

Init Init::uniform(double low, double high) {
  check_finite("uniform", "lower bound", low);
  check_finite("uniform", "upper bound", high);
  if (low > high) {
    throw_error(
        fmt::format("Init::uniform: the lower bound {} is above the upper bound {}; swap them", low, high));
  }
  return Init(Kind::uniform, low, high);
}

Init Init::xavier_normal(double gain) {
  check_finite("xavier_normal", "gain", gain);
  if (gain <= 0) throw_error(fmt::format("Init::xavier_normal: the gain must be positive, got {}", gain));
  return Init(Kind::xavier_normal, gain, 0.0);
}

Init Init::xavier_uniform(double gain) {
  check_finite("xavier_uniform", "gain", gain);
  if (gain <= 0) throw_error(fmt::format("Init::xavier_uniform: the gain must be positive, got {}", gain));
  return Init(Kind::xavier_uniform, gain, 0.0);
}

Init Init::he_normal() { return Init(Kind::he_normal, 1.0, 0.0); }
Init Init::he_uniform() { return Init(Kind::he_uniform, 1.0, 0.0); }
Init Init::lecun_normal() { return Init(Kind::lecun_normal, 1.0, 0.0); }

bool Init::depends_on_fans() const {
  switch (kind_) {
    case Kind::xavier_normal:
    case Kind::xavier_uniform:
    case Kind::he_normal:
    case Kind::he_uniform:
    case Kind::lecun_normal:
      return true;
    default:
      return false;
  }
}

std::string Init::description() const {
  switch (kind_) {
    case Kind::zeros:
      return "zeros";
    case Kind::constant:
      return fmt::format("constant({})", first_);
    case Kind::normal:
      return fmt::format("normal(mean {}, std {})", second_, first_);
    case Kind::uniform:
      return fmt::format("uniform({}, {})", first_, second_);
    case Kind::xavier_normal:
      return fmt::format("xavier_normal(gain {})", first_);
    case Kind::xavier_uniform:
      return fmt::format("xavier_uniform(gain {})", first_);
    case Kind::he_normal:
      return "he_normal";
    case Kind::he_uniform:
      return "he_uniform";
    case Kind::lecun_normal:
      return "lecun_normal";
  }
  return "unknown";
}

template <typename T>
void Init::apply(const Tensor<T>& tensor, Generator& generator) const {
  const Index fan_in = tensor.cols();
  const Index fan_out = tensor.rows();
  switch (kind_) {
    case Kind::zeros:
      tensor.mutable_value().setZero();
      return;
    case Kind::constant:
      tensor.mutable_value().setConstant(static_cast<T>(first_));
      return;
    case Kind::normal:
      fill_normal(tensor, generator, second_, first_);
      return;
    case Kind::uniform:
      fill_uniform(tensor, generator, first_, second_);
      return;
    case Kind::xavier_normal:
      fill_normal(tensor, generator, 0.0, xavier_normal_std(fan_in, fan_out, first_));
      return;
    case Kind::xavier_uniform: {
      const double bound = xavier_uniform_bound(fan_in, fan_out, first_);
      fill_uniform(tensor, generator, -bound, bound);
      return;
    }
    case Kind::he_normal:
      fill_normal(tensor, generator, 0.0, he_normal_std(fan_in));
      return;
    case Kind::he_uniform: {
      const double bound = he_uniform_bound(fan_in);
      fill_uniform(tensor, generator, -bound, bound);
      return;
    }
    case Kind::lecun_normal:
      fill_normal(tensor, generator, 0.0, lecun_normal_std(fan_in));
      return;
  }
}

template <typename T>
void init_normal(const Tensor<T>& tensor, Generator& generator, double stddev, double mean) {
  Init::normal(stddev, mean).apply(tensor, generator);
}

template <typename T>
void init_uniform(const Tensor<T>& tensor, Generator& generator, double low, double high) {
  Init::uniform(low, high).apply(tensor, generator);
}

template <typename T>
void init_xavier_normal(const Tensor<T>& tensor, Generator& generator, double gain) {
  Init::xavier_normal(gain).apply(tensor, generator);
}

template <typename T>
void init_xavier_uniform(const Tensor<T>& tensor, Generator& generator, double gain) {
  Init::xavier_uniform(gain).apply(tensor, generator);
}

template <typename T>
void init_he_normal(const Tensor<T>& tensor, Generator& generator) {
  Init::he_normal().apply(tensor, generator);
}

template <typename T>
void init_he_uniform(const Tensor<T>& tensor, Generator& generator) {
  Init::he_uniform().apply(tensor, generator);
}

template <typename T>
void init_lecun_normal(const Tensor<T>& tensor, Generator& generator) {
  Init::lecun_normal().apply(tensor, generator);
}

template <typename T>
void init_constant(const Tensor<T>& tensor, double value) {
  Generator unused;
  Init::constant(value).apply(tensor, unused);
}

#define TAPEGRAD_INSTANTIATE_INIT(T)                                        \
  template void Init::apply(const Tensor<T>&, Generator&) const;            \
  template void init_normal(const Tensor<T>&, Generator&, double, double);  \
  template void init_uniform(const Tensor<T>&, Generator&, double, double); \
  template void init_xavier_normal(const Tensor<T>&, Generator&, double);   \
  template void init_xavier_uniform(const Tensor<T>&, Generator&, double);  \
  template void init_he_normal(const Tensor<T>&, Generator&);               \
  template void init_he_uniform(const Tensor<T>&, Generator&);              \
  template void init_lecun_normal(const Tensor<T>&, Generator&);            \
  template void init_constant(const Tensor<T>&, double);

TAPEGRAD_INSTANTIATE_INIT(float)
TAPEGRAD_INSTANTIATE_INIT(double)

}  // namespace tapegrad::nn
