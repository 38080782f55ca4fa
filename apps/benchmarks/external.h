// The measurements taken by other processes: PyTorch from Python (pytorch_bench.py, the pytorch-python column)
// and the whole two_layer_cyclic final run, timed as a process.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/benchmarks/options.h"
#include "apps/benchmarks/report.h"
#include "apps/benchmarks/workloads.h"

namespace tapegrad::apps {

// The workloads pytorch_bench.py knows (every training workload, not gemm or cyclic_final).
bool python_knows(const std::string& workload);

// Runs pytorch_bench.py with options.python for one dtype and thread count, with the same problem, repetition
// plan and environment (OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY, ...) as this process. Its bench and bench-info
// lines are printed as they come; each measurement goes to `report`, completed by `complete` (FLOPs, examples).
// When Python or its torch is missing, or the script fails, a note says so and nothing is recorded.
void run_pytorch_python(const BenchmarkOptions& options, const BenchmarkProblem& problem,
                        const RepetitionPlan& plan, const std::string& dtype, int threads,
                        const std::vector<std::string>& workloads, BenchmarkReport& report,
                        const std::function<void(Measurement&)>& complete);

// The lambda the final run trains with (any fixed value: the time does not depend on it; the course's usual one).
inline constexpr const char* kCyclicFinalLambda = "0.0025";

// Runs `two_layer_cyclic --preset final --lambda kCyclicFinalLambda` (next to this program) on options.cifar_directory for this dtype and
// thread count into a temporary directory and returns its wall time in seconds; a smaller run for --quick.
// Returns a negative number after a note saying why it did not run (no CIFAR-10, no program, a failure).
double time_cyclic_final(const BenchmarkOptions& options, const std::string& dtype, int threads,
                         const BenchmarkReport& report);

}  // namespace tapegrad::apps
