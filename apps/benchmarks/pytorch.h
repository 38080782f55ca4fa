// The PyTorch comparison in C++: the same models with torch::nn::Linear and torch::optim::SGD or Adam, and
// torch::nn::BatchNorm1d. Built into
// tapegrad_bench_torch only (when find_package(Torch) succeeds); tapegrad_bench links the stand-in that reports
// PyTorch as absent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/benchmarks/workloads.h"

namespace tapegrad::apps {

bool pytorch_available();

// Version, the BLAS that serves torch's matrix products, and the thread settings in use.
std::string pytorch_description();

// The kernels ATen dispatches to ("AVX512", "AVX2", "NO AVX" from at::show_config), empty without PyTorch.
std::string pytorch_cpu_capability();

// Sets PyTorch's intra-op threads (torch::set_num_threads) and the thread pool of the OpenBLAS that torch's
// products run on (openblas_set_num_threads), which torch::set_num_threads does not govern. No-op without PyTorch.
void set_pytorch_threads(int threads, int blas_threads);

// A model starting from `initial` (W1, b1, W2, b2, ... as initial_parameters gives them); nullptr without
// PyTorch.
template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_pytorch_implementation(WorkloadModel kind,
                                                                       const BenchmarkProblem& problem,
                                                                       const std::vector<Matrix<T>>& initial);

// torch::nn::BatchNorm1d in training mode on the same input and upstream gradient; nullptr without PyTorch.
template <typename T>
std::unique_ptr<BatchNormImplementation<T>> make_pytorch_batchnorm(const BatchNormData<T>& data);

}  // namespace tapegrad::apps
