#!/usr/bin/env bash
# Smoke test of tapegrad_bench: the tiniest run must succeed and print a well-formed bench line for each
# workload and implementation asked for. No timing is asserted: the numbers only have to be positive.
# Usage: tests/bench_smoke.sh path/to/tapegrad_bench
set -euo pipefail
program="$1"
output="$("$program" --quick --csv-only --threads 1 --dtype float --workloads gemm,softmax_step,two_layer_step \
          --implementations gemm,tape,reference)"
echo "$output"
number='[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'
for expected in "fma_peak,fma_loop,float,1,$number,GFLOP/s" \
                "gemm_50x3072x100,gemm-[a-z0-9]+,float,1,$number,ms" \
                "softmax_step,tape,float,1,$number,ms" "softmax_step,reference,float,1,$number,ms" \
                "two_layer_step,tape,float,1,$number,ms" "two_layer_step,reference,float,1,$number,ms"; do
  if ! grep -Eq "^bench,$expected\$" <<<"$output"; then
    echo "bench_smoke: no line matching 'bench,$expected'" >&2
    exit 1
  fi
  if grep -Eq "^bench,${expected%%,*},.*,0(\.0+)?,(ms|GFLOP/s)\$" <<<"$output"; then
    echo "bench_smoke: a zero measurement for ${expected%%,*}" >&2
    exit 1
  fi
done
echo "bench_smoke: every expected bench line is there"
