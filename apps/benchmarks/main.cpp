// tapegrad_bench (and tapegrad_bench_torch, the same program with the PyTorch comparison built in).
#include "apps/benchmarks/level_environment.h"
#include "apps/benchmarks/options.h"
#include "apps/benchmarks/runner.h"
#include "apps/common/app_error.h"

int main(int argc, char** argv) {
  return tapegrad::apps::run_app(argc, argv, [](int count, char** arguments) {
    // Before anything else: PyTorch's OpenBLAS reads the variables only when it loads.
    tapegrad::apps::hold_pytorch_to_tapegrad_level(arguments);
    tapegrad::apps::run_benchmarks(tapegrad::apps::parse_benchmark_options(count, arguments));
    return tapegrad::apps::exit_code::success;
  });
}
