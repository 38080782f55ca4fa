#!/usr/bin/env bash
# Installs what is missing, builds tapegrad (Release, warnings on) and runs the whole test suite.
# Usage: scripts/test.sh [build-dir] [extra cmake arguments...]
#   TAPEGRAD_JOBS=N    parallel build jobs (default: number of cores)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shift || true
jobs="${TAPEGRAD_JOBS:-$(nproc)}"

"$root/scripts/install-deps.sh"

start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
built=$(date +%s)
echo "test.sh: build took $((built - start)) s"

# Real-data tests find CIFAR-10 here when it is present; without it they skip with a message.
if [[ -z "${CIFAR10_DIR:-}" && -f "$root/data/cifar-10-batches-bin/data_batch_1.bin" ]]; then
  export CIFAR10_DIR="$root/data/cifar-10-batches-bin"
fi
ctest --test-dir "$build" --output-on-failure -j "$jobs"
echo "test.sh: tests took $(( $(date +%s) - built )) s"
