#!/usr/bin/env bash
# Builds all of tapegrad (library, apps, tests) with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DTAPEGRAD_SANITIZE=ON, g++, RelWithDebInfo) and runs the whole test suite under them, the apps that tests run
# as subprocesses included. Any sanitizer report fails the test that triggered it.
# Usage: scripts/sanitize.sh [build-dir] [extra cmake arguments...]     (default build dir: build-sanitize)
#   TAPEGRAD_JOBS=N    parallel build and test jobs (default: number of cores)
# The libtorch comparison benchmark is left out (-DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-sanitize}"
shift || true

# Leaks count too; a report stops the program (UBSan is built with -fno-sanitize-recover) with a stack trace.
# Options already set in the environment win.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The same build and test run as scripts/test.sh, with the sanitizers on. g++ 12's -Wmaybe-uninitialized gives
# false positives inside libstdc++'s <regex> and <functional> when ASan is on (seen in tests/main.cpp through
# Catch2, and the benchmarks); the normal build keeps the warning.
exec "$root/scripts/test.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON -DCMAKE_CXX_FLAGS=-Wno-maybe-uninitialized "$@"
