#!/usr/bin/env bash
# Builds the benchmark in Release in its own build directory and runs it, one run (one set of tables) per
# instruction-set level asked for, with PyTorch held to the same level in C++ and from Python.
# Usage: scripts/bench.sh [--levels all|LIST] [--native] [tapegrad_bench flags...]
#   e.g. scripts/bench.sh --levels all                  every level this CPU runs: avx512, avx2, portable
#        scripts/bench.sh --levels avx2 --quick --threads 1 --dtype float
#   --levels LIST  avx512, avx2, portable (comma-separated) or all; each run gets TAPEGRAD_ISA=LEVEL, and the
#                  program holds PyTorch to it (OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY; a value you set wins).
#                  Levels the CPU cannot run are skipped with a message. Without --levels: one run at the level
#                  TAPEGRAD_ISA (or the CPU) gives.
#   --native       build with -DTAPEGRAD_NATIVE=ON (build-bench-native/) instead of the default, portable build
#   TAPEGRAD_BENCH_BUILD   build directory (default: build-bench at the repository root)
#   TAPEGRAD_JOBS=N        parallel build jobs (default: number of cores)
#   TAPEGRAD_BENCH_NO_INSTALL=1   do not run scripts/install-deps.sh --with-bench first
# Runs tapegrad_bench_torch (the same program with PyTorch in C++) when libtorch-dev was found, else
# tapegrad_bench; both time PyTorch from Python (apps/benchmarks/pytorch_bench.py with /usr/bin/python3) when
# python3-torch is there, and the whole two_layer_cyclic final run when CIFAR-10 is in data/cifar-10-batches-bin
# (scripts/get-cifar10.sh). Flags: --quick, --threads 1,2, --dtype float,double, --workloads LIST,
# --implementations LIST, --pytorch-threads N, --rounds N, --csv-only, --seed N, --python, --cifar; see --help.
# Numbers are only as good as the machine is quiet: the program prints the load average next to them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${TAPEGRAD_JOBS:-$(nproc)}"

levels=""
native=OFF
arguments=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --levels) [[ $# -ge 2 ]] || { echo "bench.sh: --levels needs a value: all or avx512,avx2,portable" >&2; exit 2; }
              levels="$2"; shift 2 ;;
    --levels=*) levels="${1#--levels=}"; shift ;;
    --native) native=ON; shift ;;
    *) arguments+=("$1"); shift ;;
  esac
done
if [[ "$levels" == all ]]; then levels="avx512,avx2,portable"; fi
IFS=, read -r -a wanted <<<"$levels"
for level in "${wanted[@]}"; do
  case "$level" in
    avx512|avx2|portable) ;;
    *) echo "bench.sh: unknown level '$level' (allowed: avx512, avx2, portable, all)" >&2; exit 2 ;;
  esac
done

default_build="$root/build-bench"
[[ $native == ON ]] && default_build="$root/build-bench-native"
build="${TAPEGRAD_BENCH_BUILD:-$default_build}"

if [[ "${TAPEGRAD_BENCH_NO_INSTALL:-0}" != 1 ]]; then
  "$root/scripts/install-deps.sh" --with-bench ||
    echo "bench.sh: install-deps.sh --with-bench failed; the PyTorch columns may be missing" >&2
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_NATIVE=$native >/dev/null
program=tapegrad_bench
if cmake --build "$build" --target help | grep 'tapegrad_bench_torch' >/dev/null; then
  program=tapegrad_bench_torch
fi
cmake --build "$build" -j "$jobs" --target tapegrad_bench "$program" two_layer_cyclic >/dev/null

# Whether this CPU runs a level, by the features core/kernels/isa.h checks.
cpu_runs() {
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  case "$1" in
    avx512) for f in avx512f avx512dq avx512vl avx2 fma; do [[ "$flags" == *" $f "* ]] || return 1; done ;;
    avx2) for f in avx2 fma; do [[ "$flags" == *" $f "* ]] || return 1; done ;;
    portable) return 0 ;;
  esac
}

cd "$root"  # the default --cifar is data/cifar-10-batches-bin
if [[ -z "$levels" ]]; then
  echo "bench.sh: $build/bin/$program ${arguments[*]}" >&2
  exec "$build/bin/$program" "${arguments[@]}"
fi
for variable in OPENBLAS_CORETYPE ATEN_CPU_CAPABILITY DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA; do
  if [[ -n "${!variable:-}" ]]; then
    echo "bench.sh: $variable=${!variable} is set and holds PyTorch there at every level (unset it to let each" \
         "level choose)" >&2
  fi
done
for level in "${wanted[@]}"; do
  if ! cpu_runs "$level"; then
    echo "bench.sh: level $level skipped: this CPU lacks its instructions" >&2
    echo "bench-info,level,$level,skipped: the CPU lacks its instructions"
    continue
  fi
  echo "bench.sh: TAPEGRAD_ISA=$level $build/bin/$program ${arguments[*]}" >&2
  echo
  echo "==================== level $level ===================="
  TAPEGRAD_ISA=$level "$build/bin/$program" "${arguments[@]}"
done
