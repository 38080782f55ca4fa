#!/usr/bin/env bash
# Fuzzes tapegrad's file readers with libFuzzer: installs what is missing (clang, its runtime libraries), builds
# the targets of fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer (-DTAPEGRAD_FUZZ=ON,
# RelWithDebInfo), writes the seed corpora, runs each target for the given time and prints what each did.
# Exits nonzero when a target finds a crash, a sanitizer report, a failed harness check, a leak, a timeout or an
# allocation larger than its input can justify (-malloc_limit_mb below).
#
# Usage: scripts/fuzz.sh [seconds-per-target] [build-dir]      (defaults: 60, build-fuzz)
#   TAPEGRAD_JOBS=N              parallel build jobs (default: number of cores)
#   TAPEGRAD_FUZZ_TARGETS="..."  the targets to run (default: cifar10 idx idx_gzip checkpoint safetensors)
#   TAPEGRAD_FUZZ_PARALLEL=N     targets fuzzed at the same time (default 1)
#
# Kept under the build dir: fuzz-seeds/<target> (rewritten every run), fuzz-corpus/<target> (what the fuzzer
# found, grows from run to run), fuzz-artifacts/<target>/ (crashing inputs) and fuzz-logs/<target>.log.
# Reproduce a finding with: <build-dir>/fuzz/fuzz_<target> <artifact file>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
build="${2:-$root/build-fuzz}"
jobs="${TAPEGRAD_JOBS:-$(nproc)}"
read -r -a targets <<< "${TAPEGRAD_FUZZ_TARGETS:-cifar10 idx idx_gzip checkpoint safetensors}"
parallel="${TAPEGRAD_FUZZ_PARALLEL:-1}"
if ! [[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]]; then
  echo "fuzz.sh: seconds-per-target must be a positive whole number, not '$seconds'" >&2
  exit 2
fi

# --- What the build needs: the project's dependencies, plus clang and its sanitizer/libFuzzer runtimes.
"$root/scripts/install-deps.sh" --with-fuzz
# The compiler is chosen when the build dir is first configured (changing it later would make CMake drop the
# cache); a build dir configured with g++ stops at configure with a message saying to use another one.
compiler=()
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  compiler=("-DCMAKE_CXX_COMPILER=$(command -v clang++ || command -v clang++-14)")
fi

# --- Build.
start=$(date +%s)
cmake -S "$root" -B "$build" "${compiler[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_BUILD_APPS=OFF -DTAPEGRAD_BUILD_TESTS=OFF
cmake --build "$build" -j "$jobs" --target fuzz_all
built=$(date +%s)
echo "fuzz.sh: build took $((built - start)) s"

rm -rf "$build/fuzz-seeds"
"$build/fuzz/make_seeds" "$build/fuzz-seeds"

# --- Run. The inputs are capped (-max_len) at sizes that cover several records of each format; an allocation
# above -malloc_limit_mb is a finding: a plain file of at most 16 KiB justifies no 8 MiB allocation, and a
# 4 KiB .gz (at most about 4 MiB decompressed, read into a buffer that at most doubles) no 16 MiB one.
max_len_of() { [[ "$1" == cifar10 ]] && echo 16384 || echo 4096; }
malloc_limit_of() { [[ "$1" == idx_gzip ]] && echo 16 || echo 8; }

# Sets `command` to the libFuzzer command line of a target.
command_for() {
  local target="$1"
  command=("$build/fuzz/fuzz_$target" "-max_total_time=$seconds" "-max_len=$(max_len_of "$target")"
           "-malloc_limit_mb=$(malloc_limit_of "$target")" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
           "-artifact_prefix=$build/fuzz-artifacts/$target/" "$build/fuzz-corpus/$target" "$build/fuzz-seeds/$target")
}

run_target() {
  local target="$1" status=0 command
  mkdir -p "$build/fuzz-corpus/$target" "$build/fuzz-artifacts/$target" "$build/fuzz-logs"
  command_for "$target"
  "${command[@]}" > "$build/fuzz-logs/$target.log" 2>&1 || status=$?
  echo "$status" > "$build/fuzz-logs/$target.status"
}

for target in "${targets[@]}"; do
  if [[ ! -x "$build/fuzz/fuzz_$target" ]]; then
    echo "fuzz.sh: no target '$target' (known: cifar10 idx idx_gzip checkpoint safetensors)" >&2
    exit 2
  fi
done

echo "fuzz.sh: fuzzing ${targets[*]} for $seconds s each, $parallel at a time"
running=0
for target in "${targets[@]}"; do
  command_for "$target"
  echo "fuzz.sh: ${command[*]}"
  run_target "$target" &
  running=$((running + 1))
  if [[ $running -ge $parallel ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

# --- Report.
stat_of() { grep -m1 "^stat::$1:" "$2" | awk '{print $2}'; }
found=0
printf '\n%-11s %6s %12s %8s %8s %8s  %s\n' target seconds runs exec/s corpus cov result
for target in "${targets[@]}"; do
  log="$build/fuzz-logs/$target.log"
  status="$(cat "$build/fuzz-logs/$target.status")"
  runs="$(stat_of number_of_executed_units "$log" || true)"
  rate="$(stat_of average_exec_per_sec "$log" || true)"
  corpus="$(find "$build/fuzz-corpus/$target" -type f | wc -l)"
  cov="$(grep -E '#[0-9]+.*cov: ' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*/\1/' || true)"
  if [[ "$status" == 0 ]]; then
    result=ok
  else
    found=1
    artifact="$(find "$build/fuzz-artifacts/$target" -type f | head -1)"
    result="FOUND ($(grep -m1 -E 'ERROR: |SUMMARY: |invariant violated' "$log" | sed -E 's/^==[0-9]+== ?//' || true))"
    result+=" exit $status; input: ${artifact:-none}; log: $log"
  fi
  printf '%-11s %6s %12s %8s %8s %8s  %s\n' "$target" "$seconds" "${runs:-?}" "${rate:-?}" "$corpus" "${cov:-?}" \
    "$result"
done
echo "fuzz.sh: corpus = inputs the fuzzer kept in $build/fuzz-corpus/<target> (seeds not counted); total $(( $(date +%s) - start )) s"
exit "$found"
