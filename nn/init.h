// Parameter initialisation: the distributions that fill a weight matrix before training, each drawing from an
// explicit Generator so that the same seed gives the same network.
//
// A weight W is (out x in), so fan_in = W.cols() and fan_out = W.rows(). Entries are drawn in column-major order,
// which is part of the reproducibility contract: the same generator state gives the same matrix.
#pragma once

#include <string>

#include <tapegrad/core/generator.h>
#include <tapegrad/core/tensor.h>

namespace tapegrad::nn {

// The standard deviations and bounds of the named schemes, exposed so that callers and tests use one formula.
// Glorot and Bengio (2010): Var(W) = 2 gain^2 / (fan_in + fan_out).
double xavier_normal_std(Index fan_in, Index fan_out, double gain = 1.0);
// Uniform on [-a, a] with the same variance: a = gain sqrt(6 / (fan_in + fan_out)).
double xavier_uniform_bound(Index fan_in, Index fan_out, double gain = 1.0);
// He et al. (2015), for ReLU layers: Var(W) = 2 / fan_in.
double he_normal_std(Index fan_in);
double he_uniform_bound(Index fan_in);
// LeCun: Var(W) = 1 / fan_in; the reports' W ~ N(0, 1/d) for the two-layer network.
double lecun_normal_std(Index fan_in);

// One initialisation scheme, chosen by the caller and applied later to a tensor of any shape. Built through the
// named factories, which check their arguments at once (a negative std fails here, not after training).
class Init {
 public:
  enum class Kind {
    zeros,
    constant,
    normal,
    uniform,
    xavier_normal,
    xavier_uniform,
    he_normal,
    he_uniform,
    lecun_normal
  };

  static Init zeros();
  static Init constant(double value);
  static Init normal(double stddev, double mean = 0.0);
  static Init uniform(double low, double high);
  static Init xavier_normal(double gain = 1.0);
  static Init xavier_uniform(double gain = 1.0);
  static Init he_normal();
  static Init he_uniform();
  static Init lecun_normal();

  Kind kind() const { return kind_; }
  // True for the schemes whose scale comes from the tensor's fans (Xavier, He, LeCun).
  bool depends_on_fans() const;
  // e.g. "normal(mean 0, std 0.01)", for messages and logs.
  std::string description() const;

  // Fills the leaf `tensor` in place, column by column.
  template <typename T>
  void apply(const Tensor<T>& tensor, Generator& generator) const;

 private:
  Init(Kind kind, double first, double second) : kind_(kind), first_(first), second_(second) {}
  Kind kind_;
  double first_;   // constant value, normal std, uniform low, or gain
  double second_;  // normal mean or uniform high
};

// Free-function forms, for filling a tensor directly.
template <typename T>
void init_normal(const Tensor<T>& tensor, Generator& generator, double stddev, double mean = 0.0);
template <typename T>
void init_uniform(const Tensor<T>& tensor, Generator& generator, double low, double high);
template <typename T>
void init_xavier_normal(const Tensor<T>& tensor, Generator& generator, double gain = 1.0);
template <typename T>
void init_xavier_uniform(const Tensor<T>& tensor, Generator& generator, double gain = 1.0);
template <typename T>
void init_he_normal(const Tensor<T>& tensor, Generator& generator);
template <typename T>
void init_he_uniform(const Tensor<T>& tensor, Generator& generator);
template <typename T>
void init_lecun_normal(const Tensor<T>& tensor, Generator& generator);
template <typename T>
void init_constant(const Tensor<T>& tensor, double value);

}  // namespace tapegrad::nn
