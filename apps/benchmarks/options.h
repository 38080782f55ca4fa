// The command line of tapegrad_bench and how many repetitions each kind of measurement gets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::apps {

// Every workload the program knows, in the order it runs them.
const std::vector<std::string>& known_workloads();
// Every implementation: the two gradient paths, PyTorch and the GEMM backends.
const std::vector<std::string>& known_implementations();

struct BenchmarkOptions {
  bool quick = false;            // few repetitions: a smoke test, not a measurement
  bool csv_only = false;         // only the `bench,...` lines
  bool malloc_defaults = false;  // leave glibc's malloc thresholds as they are (see keep_freed_memory)
  std::vector<int> threads{1, 2};
  std::vector<std::string> dtypes{"float", "double"};
  std::vector<std::string> workloads = known_workloads();
  std::vector<std::string> implementations = known_implementations();
  // PyTorch's intra-op threads (torch::set_num_threads) and the threads of the OpenBLAS its products run on;
  // 0: the run's thread count, so that PyTorch gets the same budget as tapegrad.
  int pytorch_threads = 0;
  int pytorch_blas_threads = 0;
  // Timed rounds of every measurement instead of the plan's (0: the plan's), e.g. for a long run under a profiler.
  int rounds = 0;
  std::uint64_t seed = 42;
  std::string python = "/usr/bin/python3";
  std::string python_script = TAPEGRAD_BENCH_PYTORCH_SCRIPT;
  std::string cifar_directory = "data/cifar-10-batches-bin";

  bool wants_workload(std::string_view name) const;
  bool wants_implementation(std::string_view name) const;
};

// Parses argv; throws UsageError (exit 2) for bad flags and InfoRequested for --help.
BenchmarkOptions parse_benchmark_options(int argc, char** argv);

// Warm-up and timed repetitions of each kind of measurement; every timed value is a median over `rounds` samples.
struct RepetitionPlan {
  int step_warmup_rounds;
  int step_rounds;
  int steps_per_sample;  // consecutive steps timed as one sample, so the weights stay in cache as in training
  int epoch_warmup_rounds;
  int epoch_rounds;
  int evaluation_warmup_rounds;
  int evaluation_rounds;
  int gemm_warmup_rounds;
  int gemm_rounds;
  double gemm_flops_per_sample;  // small products are repeated within a sample up to this many FLOPs
  // The peak is the best of many short runs: on a shared core a long run is always cut by other jobs, and a few
  // milliseconds often are not (5 runs of 0.2 s measured half the peak at load 8 on 2 cores).
  int peak_repetitions;
  double peak_seconds_per_run;
  // Wall-clock budget of one measurement: once it is spent, warm-up ends and timing stops after the round under
  // way (at least one timed round always runs), so a busy machine slows the run down only so much.
  double seconds_per_measurement;
};

RepetitionPlan repetition_plan(const BenchmarkOptions& options);

}  // namespace tapegrad::apps
