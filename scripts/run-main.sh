#!/usr/bin/env bash
# The main job from a fresh Debian machine: installs what is missing, gets CIFAR-10 (falling back to
# Fashion-MNIST when it cannot be had), builds, and runs apps/cifar_softmax.
# Usage: scripts/run-main.sh [cifar_softmax flags...]   (default: --preset setting2 --out runs/cifar_softmax; the
#                                                      run goes to runs/cifar_softmax/setting2/)
#        scripts/run-main.sh --preset all                the whole study, with runs/cifar_softmax/report.md
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/install-deps.sh --with-data
if ! scripts/get-cifar10.sh; then
  echo "run-main: CIFAR-10 is not available; cifar_softmax will run the same study on Fashion-MNIST" >&2
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target cifar_softmax
args=("$@")
has_out=false
for a in "${args[@]}"; do
  [[ "$a" == --out* ]] && has_out=true
done
if ! $has_out; then
  # A run directory holds one run (the app refuses to mix two): a second run of this command goes to the next free
  # runs/cifar_softmax-N instead of failing or replacing the first.
  out=runs/cifar_softmax
  n=1
  while [[ -e "$out" ]]; do
    n=$((n + 1))
    out="runs/cifar_softmax-$n"
  done
  echo "run-main: the run goes to $out" >&2
  args+=(--out "$out")
fi
# Without --threads the app uses every core (tapegrad's own product threads; sweeps run that many trials side by
# side). On a machine busy with other work, --threads 1 can be faster: see README.md, Performance.
exec build/bin/cifar_softmax "${args[@]}"
