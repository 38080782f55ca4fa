// The PyTorch comparison of tapegrad_bench_torch: the same models (torch::nn::Linear, ReLU or tanh,
// cross-entropy, for softmax and two_layer the reports' L2 term added to the loss) trained with torch::optim::SGD
// or (mlp) torch::optim::Adam on the same batches, from the same initial parameters, on the same thread budget;
// and torch::nn::BatchNorm1d's forward and backward.
#include "apps/benchmarks/pytorch.h"

#include <ATen/Version.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace tapegrad::apps {
namespace {

template <typename T>
torch::Dtype torch_dtype() {
  return std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
}

// A column-major Eigen matrix is the row-major transpose of itself: view it as (cols x rows) and transpose the
// view, without copying.
template <typename T>
torch::Tensor view_of(const Matrix<T>& matrix) {
  return torch::from_blob(const_cast<T*>(matrix.data()), {matrix.cols(), matrix.rows()},
                          torch::TensorOptions().dtype(torch_dtype<T>()))
      .t();
}

// Examples are the columns of X (d x n), which is exactly PyTorch's (n x d) batch with examples as rows.
template <typename T>
torch::Tensor batch_view(const Matrix<T>& inputs) {
  return torch::from_blob(const_cast<T*>(inputs.data()), {inputs.cols(), inputs.rows()},
                          torch::TensorOptions().dtype(torch_dtype<T>()));
}

// The thread-count function of whatever OpenBLAS the process has loaded (through libblas.so.3), if any.
using SetThreadsFunction = void (*)(int);
using GetConfigFunction = char* (*)();

SetThreadsFunction openblas_set_threads() {
  return reinterpret_cast<SetThreadsFunction>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

std::string blas_library() {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "no sgemm_ found";
  char resolved[PATH_MAX];
  const char* path = realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname;
  std::string description = path;
  if (auto get_config = reinterpret_cast<GetConfigFunction>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    description += fmt::format(" ({})", get_config());
  }
  return description;
}

int configured_blas_threads = 0;

template <typename T>
class PytorchImplementation : public TrainingImplementation<T> {
 public:
  PytorchImplementation(WorkloadModel kind, const BenchmarkProblem& problem, const std::vector<Matrix<T>>& initial)
      : lambda_(kind == WorkloadModel::mlp ? 0.0 : problem.lambda), tanh_(kind == WorkloadModel::mlp) {
    const std::vector<Index> sizes = layer_sizes(kind, problem);
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l)
      layers_.emplace_back(torch::nn::LinearOptions(sizes[l], sizes[l + 1]));
    std::vector<torch::Tensor> parameters;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      torch::nn::Linear& layer = layers_[i];
      layer->to(torch_dtype<T>());
      torch::NoGradGuard no_grad;
      layer->weight.copy_(view_of(initial.at(2 * i)));
      layer->bias.copy_(view_of(initial.at(2 * i + 1)).reshape({-1}));
      parameters.push_back(layer->weight);
      parameters.push_back(layer->bias);
    }
    if (kind == WorkloadModel::mlp) {
      optimizer_ =
          std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(problem.mlp_learning_rate));
    } else {
      optimizer_ =
          std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(problem.learning_rate));
    }
  }

  std::string name() const override { return "pytorch"; }

  double step(Matrix<T>& inputs, std::span<const int> labels) override {
    const torch::Tensor targets = targets_of(labels);
    optimizer_->zero_grad();
    torch::Tensor cost = torch::nn::functional::cross_entropy(forward(batch_view(inputs)), targets);
    if (lambda_ > 0) {
      torch::Tensor penalty = layers_[0]->weight.square().sum();
      for (std::size_t i = 1; i < layers_.size(); ++i) penalty = penalty + layers_[i]->weight.square().sum();
      cost = cost + lambda_ * penalty;
    }
    cost.backward();
    optimizer_->step();
    return cost.item<double>();
  }

  double evaluate(const Matrix<T>& inputs, std::span<const int> labels) override {
    torch::NoGradGuard no_grad;
    const torch::Tensor predictions = forward(batch_view(inputs)).argmax(1);
    const auto correct = predictions.eq(targets_of(labels)).sum().template item<std::int64_t>();
    return static_cast<double>(correct) / static_cast<double>(labels.size());
  }

 private:
  torch::Tensor forward(torch::Tensor x) {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      if (i > 0) x = tanh_ ? torch::tanh(x) : torch::relu(x);
      x = layers_[i]->forward(x);
    }
    return x;
  }

  // Class indices as int64, which cross_entropy wants; the buffer is reused, and torch only views it.
  torch::Tensor targets_of(std::span<const int> labels) {
    targets_.assign(labels.begin(), labels.end());
    return torch::from_blob(targets_.data(), {static_cast<std::int64_t>(targets_.size())}, torch::kInt64);
  }

  double lambda_;
  bool tanh_;
  std::vector<torch::nn::Linear> layers_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::int64_t> targets_;
};

// Examples as rows, as torch wants them: the column-major features x batch matrix viewed row-major.
template <typename T>
class PytorchBatchNorm : public BatchNormImplementation<T> {
 public:
  explicit PytorchBatchNorm(const BatchNormData<T>& data)
      : layer_(torch::nn::BatchNorm1dOptions(data.input.rows())),
        input_(batch_view(data.input).clone().requires_grad_(true)),
        upstream_(batch_view(data.upstream).clone()) {
    layer_->to(torch_dtype<T>());
    layer_->train();
  }

  std::string name() const override { return "pytorch"; }

  double forward_backward() override {
    input_.mutable_grad() = torch::Tensor();  // set_to_none, as optimizers' zero_grad does
    layer_->zero_grad();
    const torch::Tensor output = layer_->forward(input_);
    output.backward(upstream_);
    torch::NoGradGuard no_grad;
    return output.mul(upstream_).sum().template item<double>();
  }

 private:
  torch::nn::BatchNorm1d layer_;
  torch::Tensor input_;
  torch::Tensor upstream_;
};

}  // namespace

bool pytorch_available() { return true; }

std::string pytorch_cpu_capability() {
  const std::string config = at::show_config();
  const std::string key = "CPU capability usage: ";
  const auto at = config.find(key);
  if (at == std::string::npos) return "unknown";
  const auto end = config.find('\n', at);
  return config.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
}

std::string pytorch_description() {
  const SetThreadsFunction set_threads = openblas_set_threads();
  return fmt::format(
      "PyTorch {} (libtorch), intra-op threads {} (torch::set_num_threads), matrix products through {}; "
      "OpenBLAS threads {} (openblas_set_num_threads{}), OPENBLAS_NUM_THREADS={}",
      TORCH_VERSION, torch::get_num_threads(), blas_library(), configured_blas_threads,
      set_threads != nullptr ? "" : ": not found, OpenBLAS absent", [] {
        const char* value = std::getenv("OPENBLAS_NUM_THREADS");
        return value != nullptr ? std::string(value) : std::string("(unset)");
      }());
}

void set_pytorch_threads(int threads, int blas_threads) {
  torch::set_num_threads(threads);
  if (const SetThreadsFunction set_threads = openblas_set_threads()) {
    set_threads(blas_threads);
    configured_blas_threads = blas_threads;
  }
}

template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_pytorch_implementation(WorkloadModel kind,
                                                                       const BenchmarkProblem& problem,
                                                                       const std::vector<Matrix<T>>& initial) {
  return std::make_unique<PytorchImplementation<T>>(kind, problem, initial);
}

template <typename T>
std::unique_ptr<BatchNormImplementation<T>> make_pytorch_batchnorm(const BatchNormData<T>& data) {
  return std::make_unique<PytorchBatchNorm<T>>(data);
}

template std::unique_ptr<BatchNormImplementation<float>> make_pytorch_batchnorm(const BatchNormData<float>&);
template std::unique_ptr<BatchNormImplementation<double>> make_pytorch_batchnorm(const BatchNormData<double>&);
template std::unique_ptr<TrainingImplementation<float>> make_pytorch_implementation(
    WorkloadModel, const BenchmarkProblem&, const std::vector<Matrix<float>>&);
template std::unique_ptr<TrainingImplementation<double>> make_pytorch_implementation(
    WorkloadModel, const BenchmarkProblem&, const std::vector<Matrix<double>>&);

}  // namespace tapegrad::apps
