// The element-wise passes of the ops and optimisers, compiled once per instruction-set level (isa.h) and run at
// the level in force (internal to the library; it knows no Tensor: raw column-major storage, sizes in elements).
//
// Why: the library is compiled for baseline x86-64, so Adam's update, tanh and the softmax ran two (double) or
// four (float) lanes wide even on CPUs with AVX-512. The same source, core/kernels/levels/elementwise_level.inc,
// is compiled for portable, AVX2+FMA and AVX-512; the AVX objects export only their entry points (CMakeLists.txt).
//
// What callers can rely on:
//  - Results do not depend on alignment or position: the last, partial vector is computed from a padded copy,
//    never by a scalar tail with other arithmetic (the few plain loops left to the compiler do only
//    correctly rounded additions and products, which give the same bits in any lane).
//  - Passes without a transcendental function (optimisers, relu, leaky_relu, the backward rules, the sums) give
//    the same bits at every level: no contraction into FMA, an exact sqrt, and sums add in one fixed order
//    (64 bytes of lanes, then a fixed tree; BatchNorm's per-feature sums in column order) whatever the vector
//    width, and a column's softmax (and its backward rules) does not depend on the columns next to it.
//  - exp, log1p and float tanh are Eigen's vectorised ones of the level (double tanh: Cephes' split of exp and a
//    rational fit), exp taken as 0 below log(smallest normal). The passes using them (tanh, sigmoid, softplus, the
//    softmax, the BCE sum) agree across levels within 4 machine epsilons of max(|result|, 1), about 4 units in the
//    last place.
//  - NaN in an input gives NaN in the matching output (relu, leaky_relu, sigmoid, tanh; a column's softmax).
#pragma once

#include <tapegrad/core/kernels/isa.h>

#include <cstddef>
#include <cstdint>

namespace tapegrad::kernels {

using Count = std::ptrdiff_t;

// One Adam step's scalars (optim/adam.cpp computes them; the kernel only applies them).
template <typename T>
struct AdamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T step_size;              // learning rate / (1 - beta1^t)
  T sqrt_bias_correction2;  // sqrt(1 - beta2^t)
  T eps;
  T weight_decay;  // added to the gradient as weight_decay * w when l2_in_gradient
  T weight_keep;   // w is first scaled by it when decoupled_decay (AdamW)
  bool l2_in_gradient;
  bool decoupled_decay;
};

// One SGD step's scalars (optim/sgd.cpp).
template <typename T>
struct SgdCoefficients {
  T learning_rate, weight_decay, momentum, gradient_share;  // gradient_share = 1 - dampening
  bool nesterov;
  bool first_momentum_step;  // the buffer is set to the decayed gradient instead of blended
};

// The passes of one level for scalar type T. Sizes: n elements, or rows x cols column-major without gaps.
template <typename T>
struct ElementwiseKernels {
  // m = b1 m + (1-b1) g', v = b2 v + (1-b2) g'^2, w = keep w - step m / (sqrt(v)/sqrt(bc2) + eps); g' = g + wd w.
  void (*adam_update)(Count n, T* w, const T* g, T* m, T* v, const AdamCoefficients<T>& c);
  // Plain, momentum or Nesterov SGD; momentum_buffer is null when the momentum is 0.
  void (*sgd_update)(Count n, T* w, const T* g, T* momentum_buffer, const SgdCoefficients<T>& c);

  void (*relu_forward)(Count n, const T* x, T* out);                             // max(x, 0), NaN kept
  void (*relu_backward)(Count n, const T* out, const T* g, T* dx);               // out > 0 ? g : 0
  void (*leaky_relu_forward)(Count n, const T* x, T slope, T* out);              // x > 0 ? x : slope x
  void (*leaky_relu_backward)(Count n, const T* x, const T* g, T slope, T* dx);  // x > 0 ? g : slope g
  void (*sigmoid_forward)(Count n, const T* x, T* out);                          // 1 / (1 + e^-x), no overflow
  void (*sigmoid_backward)(Count n, const T* p, const T* g, T* dx);              // g p (1 - p)
  void (*tanh_forward)(Count n, const T* x, T* out);
  void (*tanh_backward)(Count n, const T* t, const T* g, T* dx);  // g (1 - t^2)

  // Per column: probabilities = softmax(scores), log_sum_exp[j] = log sum_k e^scores(k, j) (shifted by the
  // column's maximum, so finite scores give finite results).
  void (*column_softmax)(Count rows, Count cols, const T* scores, T* probabilities, T* log_sum_exp);
  // Per column: dx = p (g - <g, p>) (softmax's backward).
  void (*softmax_backward)(Count rows, Count cols, const T* p, const T* g, T* dx);
  // Per column: dx = g - p sum(g) (log-softmax's backward).
  void (*log_softmax_backward)(Count rows, Count cols, const T* p, const T* g, T* dx);
  // (sigmoid(s) - y) * scale: the multiple binary cross-entropy's gradient with respect to the scores.
  void (*sigmoid_minus_target)(Count n, const T* s, const T* y, T scale, T* dx);
  // log(1 + e^x) as max(x, 0) + log1p(e^-|x|), finite for any finite x.
  void (*softplus_forward)(Count n, const T* x, T* out);
  // The sum of softplus(s) - s y (the binary cross-entropy with logits, before the mean), in a fixed order.
  T (*binary_cross_entropy_sum)(Count n, const T* s, const T* y);

  // x(:, j) += column for every column j (a bias added across a batch).
  void (*add_column)(Count rows, Count cols, T* x, const T* column);
  // out[r] = sum over j of x(r, j), in column order (the bias's gradient).
  void (*sum_across_columns)(Count rows, Count cols, const T* x, T* out);
  // out[j] = sum over r of x(r, j), in the fixed order above.
  void (*sum_down_columns)(Count rows, Count cols, const T* x, T* out);
  // sum of x[0..n), in the fixed order above.
  T (*sum)(Count n, const T* x);
  // sum of x[i]^2 (the L2 term), in the same order.
  T (*sum_of_squares)(Count n, const T* x);
  // out = factor x, and out += factor x (the L2 term's backward, into a fresh or a filled gradient).
  void (*scale)(Count n, const T* x, T factor, T* out);
  void (*add_scaled)(Count n, const T* x, T factor, T* out);

  // Training-mode batch normalisation of x (rows = features, cols = examples): per row, mean = (sum_j x) / n,
  // variance = (sum_j (x - mean)^2) / n (sums in column order), inverse_std = 1 / sqrt(variance + eps), and
  // out = (x - mean) * (inverse_std * gamma) + beta, or (x - mean) * inverse_std when gamma and beta are null.
  void (*batch_norm_forward)(Count rows, Count cols, const T* x, const T* gamma, const T* beta, T eps, T* out,
                             T* mean, T* variance, T* inverse_std);
  // Its backward for the upstream gradient g, with sg = sum_j g and sgd = sum_j g (x - mean) per row (column
  // order) and a = inverse_std * gamma (inverse_std without gamma): dx = g a - a sg / n - (x - mean) a
  // inverse_std^2 sgd / n, dgamma = sgd inverse_std, dbeta = sg. Each output is written, not added to; a null
  // output is skipped (gamma may be null only when dgamma and dbeta are).
  void (*batch_norm_backward)(Count rows, Count cols, const T* x, const T* g, const T* mean, const T* inverse_std,
                              const T* gamma, T* dx, T* dgamma, T* dbeta);

  // out[i] = (pixels[i] - center[i]) * scale[i]: one image standardised feature by feature (the normaliser).
  void (*standardize_pixels)(Count n, const std::uint8_t* pixels, const T* center, const T* scale, T* out);
};

// The passes at the level in force (active_isa()).
template <typename T>
const ElementwiseKernels<T>& elementwise();

// Whether the passes of a level were compiled in and this CPU runs them.
bool elementwise_level_runs(Isa isa);

// The passes of one level (for tests and benchmarks); throws tapegrad::Error when elementwise_level_runs is false.
template <typename T>
const ElementwiseKernels<T>& elementwise_at(Isa isa);

}  // namespace tapegrad::kernels
