// tapegrad_bench without PyTorch: the comparison reports itself absent (see pytorch.cpp for the real one).
#include "apps/benchmarks/pytorch.h"

namespace tapegrad::apps {

bool pytorch_available() { return false; }

std::string pytorch_description() {
  return "not built in (tapegrad_bench_torch has it when libtorch-dev is installed)";
}

std::string pytorch_cpu_capability() { return {}; }

void set_pytorch_threads(int, int) {}

template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_pytorch_implementation(WorkloadModel, const BenchmarkProblem&,
                                                                       const std::vector<Matrix<T>>&) {
  return nullptr;
}

template <typename T>
std::unique_ptr<BatchNormImplementation<T>> make_pytorch_batchnorm(const BatchNormData<T>&) {
  return nullptr;
}

template std::unique_ptr<BatchNormImplementation<float>> make_pytorch_batchnorm(const BatchNormData<float>&);
template std::unique_ptr<BatchNormImplementation<double>> make_pytorch_batchnorm(const BatchNormData<double>&);
template std::unique_ptr<TrainingImplementation<float>> make_pytorch_implementation(
    WorkloadModel, const BenchmarkProblem&, const std::vector<Matrix<float>>&);
template std::unique_ptr<TrainingImplementation<double>> make_pytorch_implementation(
    WorkloadModel, const BenchmarkProblem&, const std::vector<Matrix<double>>&);

}  // namespace tapegrad::apps
