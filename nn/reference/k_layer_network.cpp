#include <tapegrad/nn/reference/k_layer_network.h>

#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/validation.h>

#include <cmath>
#include <string>

namespace tapegrad::reference {
namespace {

template <typename T>
using Column = Eigen::Array<T, Eigen::Dynamic, 1>;

std::string layer_name(const char* symbol, std::size_t layer) {
  return std::string(symbol) + std::to_string(layer);
}

template <typename T>
void check_parameters(const char* function, const KLayerParameters<T>& parameters, Eigen::Index input_rows,
                      Eigen::Index examples) {
  const std::size_t k = parameters.layers();
  check_argument(function, "the number of layers k (entries of weights)", static_cast<double>(k), k >= 1, ">= 1");
  const std::string per_layer = "one per layer, " + std::to_string(k);
  check_argument(function, "the number of biases", static_cast<double>(parameters.biases.size()),
                 parameters.biases.size() == k, per_layer);
  const std::string per_hidden_layer =
      "0 (no batch normalisation) or one per hidden layer, " + std::to_string(k - 1);
  const bool normalised = parameters.batch_normalised();
  check_argument(function, "the number of gammas", static_cast<double>(parameters.gammas.size()),
                 parameters.gammas.empty() || parameters.gammas.size() == k - 1, per_hidden_layer);
  check_argument(function, "the number of betas", static_cast<double>(parameters.betas.size()),
                 parameters.betas.size() == (normalised ? k - 1 : 0),
                 normalised ? "as many as gammas, " + std::to_string(k - 1) : std::string("0, as many as gammas"));
  Eigen::Index fan_in = input_rows;
  for (std::size_t layer = 1; layer <= k; ++layer) {
    const Matrix<T>& weights = parameters.weights[layer - 1];
    const Eigen::Index units = weights.rows();
    const std::string previous =
        layer == 1 ? "the inputs' rows (d)" : "the units of layer " + std::to_string(layer - 1);
    check_shape(function, layer_name("W", layer) + " (one column per " + previous + ")", shape_of(weights),
                {units, fan_in});
    check_argument(function, layer_name("the units of layer ", layer), static_cast<double>(units), units >= 1,
                   ">= 1");
    check_shape(function, layer_name("b", layer), shape_of(parameters.biases[layer - 1]), {units, 1});
    if (normalised && layer < k) {
      check_shape(function, layer_name("gamma", layer), shape_of(parameters.gammas[layer - 1]), {units, 1});
      check_shape(function, layer_name("beta", layer), shape_of(parameters.betas[layer - 1]), {units, 1});
    }
    fan_in = units;
  }
  check_nonempty_batch(function, examples);
}

void check_eps(const char* function, double eps) {
  check_argument(function, "eps", eps, std::isfinite(eps) && eps > 0, "finite and > 0");
}

template <typename T>
void check_statistics(const char* function, const KLayerParameters<T>& parameters,
                      const BatchStatistics<T>& statistics) {
  const std::size_t hidden = parameters.layers() - 1;
  const std::string expected = "one per hidden layer, " + std::to_string(hidden);
  check_argument(function, "the number of means", static_cast<double>(statistics.means.size()),
                 statistics.means.size() == hidden, expected);
  check_argument(function, "the number of variances", static_cast<double>(statistics.variances.size()),
                 statistics.variances.size() == hidden, expected);
  for (std::size_t layer = 1; layer <= hidden; ++layer) {
    const Shape column{parameters.weights[layer - 1].rows(), 1};
    check_shape(function, layer_name("mu", layer), shape_of(statistics.means[layer - 1]), column);
    check_shape(function, layer_name("v", layer), shape_of(statistics.variances[layer - 1]), column);
    const double smallest = static_cast<double>(statistics.variances[layer - 1].minCoeff());
    check_argument(function, layer_name("the smallest entry of v", layer), smallest, smallest >= 0, ">= 0");
  }
}

// x_{l-1}: the inputs for layer 1, the previous layer's activations after that.
template <typename T>
InputView<T> layer_input(const InputView<T>& inputs, const KLayerForward<T>& forward, std::size_t layer) {
  if (layer == 1) return inputs;
  return InputView<T>(forward.activations[layer - 2]);
}

// The forward pass of the header's formulas; `given` is null in training mode (batch statistics).
template <typename T>
KLayerForward<T> forward_pass(const KLayerParameters<T>& parameters, const InputView<T>& inputs,
                              const BatchStatistics<T>* given, T eps) {
  const std::size_t k = parameters.layers();
  KLayerForward<T> forward;
  for (std::size_t layer = 1; layer < k; ++layer) {
    const Matrix<T>& W = parameters.weights[layer - 1];
    const Matrix<T>& b = parameters.biases[layer - 1];
    // s_l = W_l x_{l-1} + b_l 1^T
    Matrix<T> s = (W * layer_input(inputs, forward, layer)).colwise() + b.col(0);
    Matrix<T> pre_activation;
    if (parameters.batch_normalised()) {
      Matrix<T> mu;
      Matrix<T> v;
      if (given == nullptr) {
        mu = s.rowwise().mean();                                                   // mu_l = (1/n) s_l 1
        v = (s.colwise() - mu.col(0)).array().square().rowwise().mean().matrix();  // v_l = (1/n) (D .^ 2) 1
      } else {
        mu = given->means[layer - 1];
        v = given->variances[layer - 1];
      }
      // s^_l = (s_l - mu_l 1^T) .* ((v_l + eps) .^ (-1/2) 1^T)
      const Column<T> sigma1 = (v.array() + eps).pow(T(-0.5)).col(0);
      Matrix<T> s_hat = ((s.colwise() - mu.col(0)).array().colwise() * sigma1).matrix();
      // s~_l = gamma_l 1^T .* s^_l + beta_l 1^T
      const Column<T> gamma = parameters.gammas[layer - 1].array().col(0);
      pre_activation = ((s_hat.array().colwise() * gamma).matrix()).colwise() + parameters.betas[layer - 1].col(0);
      forward.normalised.push_back(std::move(s_hat));
      forward.statistics.means.push_back(std::move(mu));
      forward.statistics.variances.push_back(std::move(v));
    } else {
      pre_activation = s;
    }
    forward.scores.push_back(std::move(s));
    forward.activations.push_back(pre_activation.cwiseMax(T(0)));  // x_l = max(0, s~_l)
    forward.pre_activations.push_back(std::move(pre_activation));
  }
  // s = W_k x_{k-1} + b_k 1^T
  forward.output_scores =
      (parameters.weights[k - 1] * layer_input(inputs, forward, k)).colwise() + parameters.biases[k - 1].col(0);
  return forward;
}

// lambda sum_l ||W_l||_F^2
template <typename T>
T penalty(const KLayerParameters<T>& parameters, T lambda) {
  T sum = 0;
  for (const Matrix<T>& W : parameters.weights) sum += W.squaredNorm();
  return lambda * sum;
}

}  // namespace

template <typename T>
KLayerForward<T> k_layer_forward(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                 ScalarArgument<T> eps) {
  constexpr const char* function = "k_layer_forward";
  check_parameters(function, parameters, inputs.rows(), inputs.cols());
  check_eps(function, eps);
  return forward_pass<T>(parameters, inputs, nullptr, eps);
}

template <typename T>
KLayerForward<T> k_layer_forward(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                 const BatchStatistics<T>& statistics, ScalarArgument<T> eps) {
  constexpr const char* function = "k_layer_forward (evaluation)";
  check_parameters(function, parameters, inputs.rows(), inputs.cols());
  check_eps(function, eps);
  if (!parameters.batch_normalised()) return forward_pass<T>(parameters, inputs, nullptr, eps);
  check_statistics(function, parameters, statistics);
  return forward_pass<T>(parameters, inputs, &statistics, eps);
}

template <typename T>
LossAndCost<T> k_layer_cost(const KLayerParameters<T>& parameters, InputView<T> inputs,
                            std::span<const int> labels, ScalarArgument<T> lambda, ScalarArgument<T> eps) {
  constexpr const char* function = "k_layer_cost";
  check_parameters(function, parameters, inputs.rows(), inputs.cols());
  check_labels(function, labels, parameters.weights.back().rows(), inputs.cols());
  check_regularisation(function, lambda);
  check_eps(function, eps);
  const KLayerForward<T> forward = forward_pass<T>(parameters, inputs, nullptr, eps);
  const Eigen::Index K = parameters.weights.back().rows();
  const T loss = cross_entropy(forward.output_scores, one_hot<T>(labels, K));
  return {loss, loss + penalty(parameters, T(lambda))};
}

template <typename T>
Matrix<T> batch_norm_backward(const Matrix<T>& normalised_gradient, const Matrix<T>& scores, const Matrix<T>& mean,
                              const Matrix<T>& variance, ScalarArgument<T> eps) {
  constexpr const char* function = "batch_norm_backward";
  check_nonempty_batch(function, scores.cols());
  check_shape(function, "the gradient with respect to s^", shape_of(normalised_gradient), shape_of(scores));
  check_shape(function, "mu", shape_of(mean), {scores.rows(), 1});
  check_shape(function, "v", shape_of(variance), {scores.rows(), 1});
  check_eps(function, eps);
  const Matrix<T>& G = normalised_gradient;
  const T n = static_cast<T>(scores.cols());
  // sigma1 = (v + eps) .^ (-1/2),  sigma2 = (v + eps) .^ (-3/2)
  const Column<T> sigma1 = (variance.array() + eps).pow(T(-0.5)).col(0);
  const Column<T> sigma2 = (variance.array() + eps).pow(T(-1.5)).col(0);
  // G1 = G .* (sigma1 1^T),  G2 = G .* (sigma2 1^T)
  const Matrix<T> G1 = (G.array().colwise() * sigma1).matrix();
  const Matrix<T> G2 = (G.array().colwise() * sigma2).matrix();
  // D = s - mu 1^T,  c = (G2 .* D) 1
  const Matrix<T> D = scores.colwise() - mean.col(0);
  const Column<T> c = (G2.array() * D.array()).rowwise().sum();
  // G = G1 - (1/n) (G1 1) 1^T - (1/n) D .* (c 1^T)
  Matrix<T> result = G1.colwise() - G1.rowwise().sum() / n;
  result -= (D.array().colwise() * c).matrix() / n;
  return result;
}

template <typename T>
KLayerResult<T> k_layer_gradients(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                  std::span<const int> labels, ScalarArgument<T> lambda, ScalarArgument<T> eps) {
  constexpr const char* function = "k_layer_gradients";
  check_parameters(function, parameters, inputs.rows(), inputs.cols());
  check_labels(function, labels, parameters.weights.back().rows(), inputs.cols());
  check_regularisation(function, lambda);
  check_eps(function, eps);
  const std::size_t k = parameters.layers();
  const bool normalised = parameters.batch_normalised();
  const T n = static_cast<T>(inputs.cols());
  const KLayerForward<T> forward = forward_pass<T>(parameters, inputs, nullptr, eps);

  KLayerResult<T> result;
  KLayerGradients<T>& gradients = result.gradients;
  gradients.weights.resize(k);
  gradients.biases.resize(k);
  gradients.gammas.resize(normalised ? k - 1 : 0);
  gradients.betas.resize(normalised ? k - 1 : 0);

  const Matrix<T> Y = one_hot<T>(labels, parameters.weights.back().rows());
  const Matrix<T> P = softmax(forward.output_scores);
  result.loss = cross_entropy(forward.output_scores, Y);
  result.cost = result.loss + penalty(parameters, T(lambda));
  Matrix<T> G = P - Y;

  for (std::size_t layer = k; layer >= 1; --layer) {
    const Matrix<T>& W = parameters.weights[layer - 1];
    if (layer < k) {
      // G = W_{l+1}^T G,  G = G .* 1[x_l > 0]
      G = (parameters.weights[layer].transpose() * G).eval();
      G.array() *= (forward.activations[layer - 1].array() > T(0)).template cast<T>();
      if (normalised) {
        // dgamma_l = (1/n) (G .* s^_l) 1,  dbeta_l = (1/n) G 1
        gradients.gammas[layer - 1] =
            (G.array() * forward.normalised[layer - 1].array()).rowwise().sum().matrix() / n;
        gradients.betas[layer - 1] = G.rowwise().sum() / n;
        // G = G .* (gamma_l 1^T), then BatchNormBackPass
        G = (G.array().colwise() * parameters.gammas[layer - 1].array().col(0)).matrix();
        G = batch_norm_backward<T>(G, forward.scores[layer - 1], forward.statistics.means[layer - 1],
                                   forward.statistics.variances[layer - 1], eps);
      }
    }
    // dW_l = (1/n) G x_{l-1}^T + 2 lambda W_l,  db_l = (1/n) G 1
    gradients.weights[layer - 1] = G * layer_input(inputs, forward, layer).transpose() / n + 2 * T(lambda) * W;
    gradients.biases[layer - 1] = G.rowwise().sum() / n;
  }
  result.statistics = forward.statistics;
  return result;
}

template <typename T>
BatchStatistics<T> k_layer_batch_statistics(const KLayerParameters<T>& parameters, InputView<T> inputs,
                                            ScalarArgument<T> eps) {
  constexpr const char* function = "k_layer_batch_statistics";
  check_parameters(function, parameters, inputs.rows(), inputs.cols());
  check_argument(function, "batch normalisation (gammas and betas)", static_cast<double>(parameters.gammas.size()),
                 parameters.batch_normalised(), "present: a network without it has no statistics");
  check_eps(function, eps);
  // eps matters beyond layer 1: it scales s^_l, whose successors' statistics follow.
  return forward_pass<T>(parameters, inputs, nullptr, eps).statistics;
}

template <typename T>
void update_running_statistics(BatchStatistics<T>& average, const BatchStatistics<T>& batch,
                               ScalarArgument<T> alpha) {
  constexpr const char* function = "update_running_statistics";
  check_argument(function, "alpha", static_cast<double>(alpha), alpha >= 0 && alpha <= 1, "in [0, 1]");
  if (average.means.empty() && average.variances.empty()) {
    average = batch;
    return;
  }
  const std::string expected = "as many layers as the batch statistics, " + std::to_string(batch.means.size());
  check_argument(function, "the layers of the running means", static_cast<double>(average.means.size()),
                 average.means.size() == batch.means.size(), expected);
  check_argument(
      function, "the layers of the running variances", static_cast<double>(average.variances.size()),
      average.variances.size() == batch.variances.size() && batch.variances.size() == batch.means.size(),
      expected);
  for (std::size_t layer = 1; layer <= batch.means.size(); ++layer) {
    check_shape(function, layer_name("running mu", layer), shape_of(average.means[layer - 1]),
                shape_of(batch.means[layer - 1]));
    check_shape(function, layer_name("running v", layer), shape_of(average.variances[layer - 1]),
                shape_of(batch.variances[layer - 1]));
    // mu_av = alpha mu_av + (1 - alpha) mu,  v_av = alpha v_av + (1 - alpha) v
    average.means[layer - 1] = alpha * average.means[layer - 1] + (1 - alpha) * batch.means[layer - 1];
    average.variances[layer - 1] = alpha * average.variances[layer - 1] + (1 - alpha) * batch.variances[layer - 1];
  }
}

#define TAPEGRAD_INSTANTIATE_K_LAYER_NETWORK(T)                                                                 \
  template KLayerForward<T> k_layer_forward<T>(const KLayerParameters<T>&, InputView<T>, ScalarArgument<T>);    \
  template KLayerForward<T> k_layer_forward<T>(const KLayerParameters<T>&, InputView<T>,                        \
                                               const BatchStatistics<T>&, ScalarArgument<T>);                   \
  template LossAndCost<T> k_layer_cost<T>(const KLayerParameters<T>&, InputView<T>, std::span<const int>,       \
                                          ScalarArgument<T>, ScalarArgument<T>);                                \
  template KLayerResult<T> k_layer_gradients<T>(const KLayerParameters<T>&, InputView<T>, std::span<const int>, \
                                                ScalarArgument<T>, ScalarArgument<T>);                          \
  template Matrix<T> batch_norm_backward<T>(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,               \
                                            const Matrix<T>&, ScalarArgument<T>);                               \
  template BatchStatistics<T> k_layer_batch_statistics<T>(const KLayerParameters<T>&, InputView<T>,             \
                                                          ScalarArgument<T>);                                   \
  template void update_running_statistics<T>(BatchStatistics<T>&, const BatchStatistics<T>&, ScalarArgument<T>);

TAPEGRAD_INSTANTIATE_K_LAYER_NETWORK(float)
TAPEGRAD_INSTANTIATE_K_LAYER_NETWORK(double)

}  // namespace tapegrad::reference
