#!/usr/bin/env bash
# Builds the benchmark in Release with -march=native in its own build directory and runs it.
# Usage: scripts/bench.sh [tapegrad_bench flags...]       e.g. scripts/bench.sh --quick
#   TAPEGRAD_BENCH_BUILD   build directory (default: build-bench at the repository root)
#   TAPEGRAD_JOBS=N        parallel build jobs (default: number of cores)
# Runs tapegrad_bench_torch (the same program with the PyTorch comparison) when libtorch-dev was found, else
# tapegrad_bench. Flags: --quick, --threads 1,2, --dtype float,double, --workloads LIST, --implementations LIST,
# --pytorch-threads N, --pytorch-blas-threads N, --rounds N, --malloc-defaults, --csv-only, --seed N; see --help.
# Numbers are only as good as the machine is quiet: the program prints the load average next to them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${TAPEGRAD_BENCH_BUILD:-$root/build-bench}"
jobs="${TAPEGRAD_JOBS:-$(nproc)}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_NATIVE=ON >/dev/null
program=tapegrad_bench
if cmake --build "$build" --target help | grep 'tapegrad_bench_torch' >/dev/null; then
  program=tapegrad_bench_torch
fi
cmake --build "$build" -j "$jobs" --target tapegrad_bench "$program" >/dev/null

echo "bench.sh: $build/bin/$program $*" >&2
exec "$build/bin/$program" "$@"
