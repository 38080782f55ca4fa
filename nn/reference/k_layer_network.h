// The k-layer ReLU network, with or without batch normalisation, as the reports derive it by hand. It is the
// oracle the tape is held against, so it is written in plain Eigen and the standard library only: nothing here
// shares code with the engine, the ops or the library's layers.
//
// Notation (examples are columns, X is d x n; layer l = 1..k has m_l units, m_0 = d, m_k = K classes):
//   x_0 = X
//   for l = 1..k-1:
//     s_l = W_l x_{l-1} + b_l 1^T                         W_l is m_l x m_{l-1}, b_l m_l x 1
//     with batch normalisation:
//       mu_l = (1/n) s_l 1                                the batch mean per unit
//       v_l  = (1/n) ((s_l - mu_l 1^T) .^ 2) 1            the biased variance per unit
//       s^_l = (s_l - mu_l 1^T) .* ((v_l + eps) .^ (-1/2) 1^T)
//       s~_l = gamma_l 1^T .* s^_l + beta_l 1^T           gamma_l, beta_l are m_l x 1
//       x_l  = max(0, s~_l)
//     without:
//       x_l  = max(0, s_l)
//   s = W_k x_{k-1} + b_k 1^T,  P = softmax(s) per column
//   J = -(1/n) sum_i log P[y_i, i] + lambda sum_l ||W_l||_F^2     (gamma, beta and the biases are not penalised)
//
// Evaluation replaces mu_l and v_l by given statistics (the running averages, or those of a whole set).
//
// The backward pass (G is the gradient of the SUMMED loss; the 1/n of the mean appears where G is consumed):
//   G = P - Y
//   dW_k = (1/n) G x_{k-1}^T + 2 lambda W_k,   db_k = (1/n) G 1
//   G = W_k^T G,  G = G .* 1[x_{k-1} > 0]
//   for l = k-1..1:
//     with batch normalisation:
//       dgamma_l = (1/n) (G .* s^_l) 1,   dbeta_l = (1/n) G 1
//       G = G .* (gamma_l 1^T)
//       G = BatchNormBackPass(G, s_l, mu_l, v_l):
//         sigma1 = (v_l + eps) .^ (-1/2),   sigma2 = (v_l + eps) .^ (-3/2)
//         G1 = G .* (sigma1 1^T),           G2 = G .* (sigma2 1^T)
//         D  = s_l - mu_l 1^T,              c  = (G2 .* D) 1
//         G  = G1 - (1/n) (G1 1) 1^T - (1/n) D .* (c 1^T)
//     dW_l = (1/n) G x_{l-1}^T + 2 lambda W_l,   db_l = (1/n) G 1
//     if l > 1: G = W_l^T G,  G = G .* 1[x_{l-1} > 0]
//
// With batch normalisation db_l (l < k) is zero up to rounding: the mean subtraction removes any shift b_l.
#pragma once

#include <tapegrad/nn/reference/types.h>

#include <cstddef>
#include <span>
#include <vector>

namespace tapegrad::reference {

// Matlab's eps, the course's choice: with tiny initial weights a larger eps (a library's 1e-5) swamps v.
inline constexpr double k_layer_default_eps = 2.220446049250313e-16;

// W_1..W_k and b_1..b_k; with batch normalisation also gamma_1..gamma_{k-1} and beta_1..beta_{k-1} (empty
// without). Index l - 1 holds layer l.
template <typename T>
struct KLayerParameters {
  std::vector<Matrix<T>> weights;
  std::vector<Matrix<T>> biases;
  std::vector<Matrix<T>> gammas;
  std::vector<Matrix<T>> betas;

  std::size_t layers() const { return weights.size(); }
  bool batch_normalised() const { return !gammas.empty(); }
};

// The gradient of J with respect to each parameter, in the same layout and shapes as KLayerParameters.
template <typename T>
using KLayerGradients = KLayerParameters<T>;

// mu_l and v_l (each m_l x 1) of the hidden layers l = 1..k-1.
template <typename T>
struct BatchStatistics {
  std::vector<Matrix<T>> means;
  std::vector<Matrix<T>> variances;
};

// Every intermediate of one forward pass, named as in the formulas; index l - 1 holds layer l. Without batch
// normalisation `normalised`, `statistics` stay empty and `pre_activations` equal `scores`.
template <typename T>
struct KLayerForward {
  std::vector<Matrix<T>> scores;           // s_l, before batch normalisation
  std::vector<Matrix<T>> normalised;       // s^_l
  std::vector<Matrix<T>> pre_activations;  // s~_l (or s_l without batch normalisation): what the ReLU sees
  std::vector<Matrix<T>> activations;      // x_l = max(0, s~_l)
  BatchStatistics<T> statistics;           // mu_l, v_l of this batch (or the given ones, in evaluation)
  Matrix<T> output_scores;                 // s, K x n
};

template <typename T>
struct KLayerResult {
  T loss = 0;
  T cost = 0;
  KLayerGradients<T> gradients;
  BatchStatistics<T> statistics;  // the batch's mu_l, v_l, for the running averages
};

// The forward pass in training mode: each hidden layer is normalised with its batch's own statistics.
template <typename T>
KLayerForward<T> k_layer_forward(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                 ScalarArgument<T> eps = static_cast<T>(k_layer_default_eps));
// The forward pass in evaluation mode: normalised with the given mu_l, v_l (ignored without batch normalisation).
template <typename T>
KLayerForward<T> k_layer_forward(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                 const BatchStatistics<T>& statistics,
                                 ScalarArgument<T> eps = static_cast<T>(k_layer_default_eps));

// J and its data term, in training mode.
template <typename T>
LossAndCost<T> k_layer_cost(const KLayerParameters<T>& parameters, InputView<T> inputs,
                            std::span<const int> labels, ScalarArgument<T> lambda,
                            ScalarArgument<T> eps = static_cast<T>(k_layer_default_eps));

// J, every gradient by the backward pass above, and the batch statistics, in training mode.
template <typename T>
KLayerResult<T> k_layer_gradients(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                  std::span<const int> labels, ScalarArgument<T> lambda,
                                  ScalarArgument<T> eps = static_cast<T>(k_layer_default_eps));

// The backward pass of batch normalisation alone, in closed form (the block BatchNormBackPass above): the gradient
// with respect to s_l from the gradient with respect to s^_l, both m x n.
template <typename T>
Matrix<T> batch_norm_backward(const Matrix<T>& normalised_gradient, const Matrix<T>& scores, const Matrix<T>& mean,
                              const Matrix<T>& variance, ScalarArgument<T> eps);

// mu = (1/n) s 1 and the biased v = (1/n) ((s - mu 1^T) .^ 2) 1 of every hidden layer of a forward pass over
// `inputs` in training mode; for statistics of a whole set, pass the whole set.
template <typename T>
BatchStatistics<T> k_layer_batch_statistics(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                            ScalarArgument<T> eps = static_cast<T>(k_layer_default_eps));

// The course's exponential moving average, mu_av = alpha mu_av + (1 - alpha) mu (and so v_av), applied to every
// layer; an empty `average` is started from `batch`, as the course starts it from the first mini-batch.
template <typename T>
void update_running_statistics(BatchStatistics<T>& average, const BatchStatistics<T>& batch,
                               ScalarArgument<T> alpha);

}  // namespace tapegrad::reference
