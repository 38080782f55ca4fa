#!/usr/bin/env bash
# Smoke test of tapegrad_bench: the tiniest run must succeed and print a well-formed bench line for each
# workload and implementation asked for. No timing is asserted: the numbers only have to be positive.
# PyTorch from Python and the two_layer_cyclic final run need python3-torch and CIFAR-10: without them the
# program must say so in a bench-info line instead.
# Usage: tests/bench_smoke.sh path/to/tapegrad_bench [CIFAR10_DIR]
set -euo pipefail
program="$1"
cifar="${2:-data/cifar-10-batches-bin}"
output="$("$program" --quick --csv-only --threads 1 --dtype float --cifar "$cifar" \
          --workloads gemm,softmax_step,two_layer_step,mlp_step,batchnorm,mlp_epoch,cyclic_final \
          --implementations gemm,tape,reference,pytorch-python)"
echo "$output"
number='[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'
expected=("fma_peak,portable,float,1,$number,GFLOP/s"
          "gemm_50x3072x100,gemm-[a-z0-9]+,float,1,$number,ms"
          "gemm_256x100x3072,gemm-[a-z0-9]+,float,1,$number,ms"
          "softmax_step,tape,float,1,$number,ms" "softmax_step,reference,float,1,$number,ms"
          "two_layer_step,tape,float,1,$number,ms" "two_layer_step,reference,float,1,$number,ms"
          "mlp_step,tape,float,1,$number,ms" "mlp_epoch,tape,float,1,$number,ms"
          "batchnorm_50x100,tape,float,1,$number,ms" "batchnorm_256x100,tape,float,1,$number,ms")
# The level in force has its peak line too.
level="$(grep -E '^bench-info,tapegrad,level,' <<<"$output" | cut -d, -f4)"
[[ -n "$level" ]] || { echo "bench_smoke: no bench-info,tapegrad,level line" >&2; exit 1; }
expected+=("fma_peak,$level,float,1,$number,GFLOP/s")
if grep -q '^bench-info,pytorch-python,absent,' <<<"$output"; then
  echo "bench_smoke: PyTorch from Python absent, as the program says; its lines are not expected"
else
  for workload in softmax_step two_layer_step mlp_step batchnorm_50x100 batchnorm_256x100 mlp_epoch; do
    expected+=("$workload,pytorch-python,float,1,$number,ms")
  done
fi
if grep -q '^bench-info,cyclic_final,skipped,' <<<"$output"; then
  echo "bench_smoke: cyclic_final skipped, as the program says (no CIFAR-10 or no two_layer_cyclic)"
else
  expected+=("cyclic_final,tape,float,1,$number,ms")
fi
for line in "${expected[@]}"; do
  if ! grep -Eq "^bench,$line\$" <<<"$output"; then
    echo "bench_smoke: no line matching 'bench,$line'" >&2
    exit 1
  fi
  if grep -Eq "^bench,${line%%,*},.*,0(\.0+)?,(ms|GFLOP/s)\$" <<<"$output"; then
    echo "bench_smoke: a zero measurement for ${line%%,*}" >&2
    exit 1
  fi
done
echo "bench_smoke: every expected bench line is there"
