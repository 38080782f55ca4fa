#include "apps/benchmarks/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>

#include "apps/common/app_error.h"

namespace tapegrad::apps {

const std::vector<std::string>& known_workloads() {
  static const std::vector<std::string> names{"gemm",      "softmax_step",  "two_layer_step",  "mlp_step",
                                              "batchnorm", "softmax_epoch", "two_layer_epoch", "mlp_epoch",
                                              "eval_10k",  "cyclic_final"};
  return names;
}

const std::vector<std::string>& known_implementations() {
  static const std::vector<std::string> names{"tape", "reference", "pytorch", "pytorch-python", "gemm",
                                              "eigen", "blas",      "manual",  "manual-fused"};
  return names;
}

bool BenchmarkOptions::wants_workload(std::string_view name) const {
  return std::find(workloads.begin(), workloads.end(), name) != workloads.end();
}

bool BenchmarkOptions::wants_implementation(std::string_view name) const {
  return std::find(implementations.begin(), implementations.end(), name) != implementations.end();
}

namespace {

// "all" stands for every known name; anything unknown is a usage error naming the flag and the choices.
std::vector<std::string> checked_names(const std::vector<std::string>& given,
                                       const std::vector<std::string>& known, const char* flag) {
  if (std::find(given.begin(), given.end(), "all") != given.end()) return known;
  for (const std::string& name : given) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw UsageError(
          fmt::format("{}: unknown name '{}'; choose from {} or all", flag, name, fmt::join(known, ", ")));
    }
  }
  if (given.empty())
    throw UsageError(fmt::format("{}: the list is empty; choose from {}", flag, fmt::join(known, ", ")));
  return given;
}

}  // namespace

BenchmarkOptions parse_benchmark_options(int argc, char** argv) {
  BenchmarkOptions options;
  CLI::App app{
      "tapegrad_bench: times SGD steps, epochs and evaluation of softmax regression (3072 -> 10) and the "
      "two-layer network (3072-50-10), Adam steps and epochs of an MLP (3072-256-256-10, tanh), a BatchNorm "
      "layer's forward and backward, and the whole two_layer_cyclic final run, through the tape, the reference "
      "gradients, PyTorch in C++ (tapegrad_bench_torch) and PyTorch from Python (pytorch_bench.py), next to the "
      "GEMM throughput for the same shapes and the FMA peak of every instruction-set level. PyTorch is held to "
      "tapegrad's level (TAPEGRAD_ISA). Prints a table and one line "
      "bench,WORKLOAD,IMPLEMENTATION,DTYPE,THREADS,MEDIAN,UNIT per measurement.",
      "tapegrad_bench"};
  app.add_flag("--quick", options.quick, "few repetitions: a smoke test that finishes in seconds");
  app.add_flag("--csv-only", options.csv_only, "print only the bench,... lines");
  app.add_flag("--malloc-defaults", options.malloc_defaults,
               "keep glibc's default malloc thresholds (by default they are fixed so that freed memory is kept)");
  app.add_option("--threads", options.threads, "thread counts to run, e.g. 1,2")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option("--dtype", options.dtypes, "scalar types: float, double")
      ->delimiter(',')
      ->check(CLI::IsMember({"float", "double"}));
  app.add_option("--workloads", options.workloads,
                 fmt::format("workloads to run: {} or all", fmt::join(known_workloads(), ", ")))
      ->delimiter(',');
  app.add_option("--implementations", options.implementations,
                 fmt::format("implementations to run: {} or all", fmt::join(known_implementations(), ", ")))
      ->delimiter(',');
  app.add_option("--pytorch-threads", options.pytorch_threads,
                 "PyTorch's intra-op threads, torch::set_num_threads (default: the run's thread count)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--pytorch-blas-threads", options.pytorch_blas_threads,
                 "OpenBLAS threads for PyTorch's products (default: the run's thread count)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--rounds", options.rounds,
                 "timed rounds of every measurement instead of the defaults (e.g. a long run for a profiler)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--seed", options.seed, "seed of the synthetic data and of the initial weights");
  app.add_option("--python", options.python,
                 "the Python that runs pytorch_bench.py for the pytorch-python column (Debian's python3-torch is "
                 "for /usr/bin/python3)");
  app.add_option("--python-script", options.python_script, "pytorch_bench.py (default: the one in the sources)");
  app.add_option("--cifar", options.cifar_directory,
                 "CIFAR-10 (cifar-10-batches-bin) for the cyclic_final workload; without it that workload is "
                 "skipped with a message");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) throw InfoRequested(app.help());
    throw UsageError(error.what());
  }
  options.workloads = checked_names(options.workloads, known_workloads(), "--workloads");
  options.implementations = checked_names(options.implementations, known_implementations(), "--implementations");
  return options;
}

namespace {

RepetitionPlan default_plan(bool quick) {
  if (quick) {
    return {.step_warmup_rounds = 2,
            .step_rounds = 8,
            .steps_per_sample = 3,
            .epoch_warmup_rounds = 0,
            .epoch_rounds = 1,
            .evaluation_warmup_rounds = 1,
            .evaluation_rounds = 3,
            .gemm_warmup_rounds = 2,
            .gemm_rounds = 10,
            .gemm_flops_per_sample = 2e6,
            .peak_repetitions = 20,
            .peak_seconds_per_run = 0.002,
            .seconds_per_measurement = 0.3};
  }
  return {.step_warmup_rounds = 4,
          .step_rounds = 60,
          .steps_per_sample = 5,
          .epoch_warmup_rounds = 1,
          .epoch_rounds = 7,
          .evaluation_warmup_rounds = 2,
          .evaluation_rounds = 11,
          .gemm_warmup_rounds = 5,
          .gemm_rounds = 60,
          .gemm_flops_per_sample = 1e7,
          .peak_repetitions = 200,
          .peak_seconds_per_run = 0.002,
          .seconds_per_measurement = 30.0};
}

}  // namespace

RepetitionPlan repetition_plan(const BenchmarkOptions& options) {
  RepetitionPlan plan = default_plan(options.quick);
  if (options.rounds > 0) {
    plan.step_rounds = plan.epoch_rounds = plan.evaluation_rounds = plan.gemm_rounds = options.rounds;
    plan.seconds_per_measurement = 1e9;  // the rounds asked for, however long they take
  }
  return plan;
}

}  // namespace tapegrad::apps
