#!/usr/bin/env bash
# Builds tapegrad with sanitizers and runs its tests under them, the apps that tests run as subprocesses included.
#
#   scripts/sanitize.sh [build-dir] [extra cmake arguments...]            (default build dir: build-sanitize)
#     AddressSanitizer and UndefinedBehaviorSanitizer (-DTAPEGRAD_SANITIZE=ON, g++, RelWithDebInfo), the whole
#     suite. Any sanitizer report fails the test that triggered it.
#
#   scripts/sanitize.sh --thread [build-dir] [extra cmake arguments...]   (default build dir: build-tsan)
#     ThreadSanitizer (g++ -fsanitize=thread, RelWithDebInfo), the concurrency tests only: the product thread pool,
#     products, the batch loader, the normaliser and the optimisers on two threads, the apps' trials side by side
#     and runs on two product threads, and the end-to-end runs with two real processes at once (the run-directory
#     lock, two --resume at once).
#     The whole suite would take hours under TSan and adds nothing: the other tests run one thread. Every report
#     goes to a file under <build-dir>/tsan-reports (a report in an app that a test runs as a subprocess would
#     otherwise only change its exit code); any report fails the script, and is printed. So does running any other
#     number of tests than the names are known to select (expected_tests below).
#
#   TAPEGRAD_JOBS=N    parallel build and test jobs (default: number of cores)
# The libtorch comparison benchmark is left out (-DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode=address
if [[ "${1:-}" == "--thread" ]]; then
  mode=thread
  shift
fi

if [[ "$mode" == address ]]; then
  build="${1:-$root/build-sanitize}"
  shift || true
  # Leaks count too; a report stops the program (UBSan is built with -fno-sanitize-recover) with a stack trace.
  # Options already set in the environment win.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # Memory a system library keeps until exit on purpose (each entry with its reason in scripts/lsan.supp).
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp:print_suppressions=0}"

  # The same build and test run as scripts/test.sh, with the sanitizers on. g++ 12's -Wmaybe-uninitialized gives
  # false positives inside libstdc++'s <regex> and <functional> when ASan is on (seen in tests/main.cpp through
  # Catch2, and the benchmarks); the normal build keeps the warning.
  exec "$root/scripts/test.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_SANITIZE=ON \
    -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON -DCMAKE_CXX_FLAGS=-Wno-maybe-uninitialized "$@"
fi

build="${1:-$root/build-tsan}"
shift || true
jobs="${TAPEGRAD_JOBS:-$(nproc)}"
# The test programs that hold concurrency tests; their apps are built with them (tests/CMakeLists.txt).
targets=(test_gemm test_data test_optim test_tensor test_app_common test_apps_reliability test_app_cifar_softmax
         test_app_mnist_logistic test_app_two_layer_cyclic test_app_k_layer_batchnorm test_train_trials test_apps_shards)
# The concurrency tests among them, by name: two threads or processes at once, trials side by side, an app
# training and evaluating on two product threads. Left out: the long single-threaded end-to-end runs of
# test_apps_reliability (signals, determinism, the bad-input table), which start one process at a time.
concurrency='thread|side by side|grid ranks|coarse|sensitivity|all runs every preset|lambda-sweep|binary: logistic|second process|two --resume|continues a sweep|shard'
single='on one thread'
# How many tests those names select: a program left unbuilt or a test renamed would otherwise pass by running
# fewer (or none). Change it with the names above.
expected_tests=32

"$root/scripts/install-deps.sh"
start=$(date +%s)
# The whole program is instrumented (every library is tapegrad's own or header-only, except libstdc++, whose
# threads and atomics TSan intercepts), so a report is a race in code we build.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON \
  "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread "$@"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
built=$(date +%s)
echo "sanitize.sh: build took $((built - start)) s"

reports="$build/tsan-reports"
rm -rf "$reports"
mkdir -p "$reports"
# second_deadlock_stack: a lock-order report shows where both locks were taken. Options set in the environment win.
export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1:history_size=4}:log_path=$reports/report"
if [[ -z "${CIFAR10_DIR:-}" && -f "$root/data/cifar-10-batches-bin/data_batch_1.bin" ]]; then
  export CIFAR10_DIR="$root/data/cifar-10-batches-bin"
fi
listed=$(ctest --test-dir "$build" -N -R "$concurrency" -E "$single" | sed -n 's/^Total Tests: //p')
if [[ "$listed" != "$expected_tests" ]]; then
  echo "sanitize.sh: the concurrency names select ${listed:-no} tests, not $expected_tests: a test program not built" \
       "or a test renamed? Fix the names (or expected_tests) in $0" >&2
  exit 1
fi
status=0
log="$build/tsan-ctest.log"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$jobs" -R "$concurrency" -E "$single" \
  | tee "$log" || status=$?
ran=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$log")
if [[ "$ran" != "$expected_tests" ]]; then
  echo "sanitize.sh: ctest ran ${ran:-no} tests, not $expected_tests" >&2
  status=1
fi
echo "sanitize.sh: tests took $(( $(date +%s) - built )) s"
if compgen -G "$reports/report*" > /dev/null; then
  echo "sanitize.sh: ThreadSanitizer reported:" >&2
  cat "$reports"/report* >&2
  exit 1
fi
exit "$status"
