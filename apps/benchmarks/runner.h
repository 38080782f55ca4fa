// Runs the chosen workloads for every chosen scalar type and thread count and reports them.
#pragma once

#include "apps/benchmarks/options.h"

namespace tapegrad::apps {

void run_benchmarks(const BenchmarkOptions& options);

}  // namespace tapegrad::apps
