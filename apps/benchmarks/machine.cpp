#include "apps/benchmarks/machine.h"

#include <fmt/format.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "apps/benchmarks/fma_levels.h"

namespace tapegrad::apps {

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

std::string build_description() {
#ifndef TAPEGRAD_BENCH_BUILD_TYPE
#define TAPEGRAD_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef TAPEGRAD_BENCH_CXX_FLAGS
#define TAPEGRAD_BENCH_CXX_FLAGS "unknown"
#endif
  const std::string flags = TAPEGRAD_BENCH_CXX_FLAGS;
  const bool native = flags.find("-march=native") != std::string::npos;
  return fmt::format("{} build, flags '{}' ({})", TAPEGRAD_BENCH_BUILD_TYPE, flags,
                     native ? "-march=native" : "no -march=native: baseline x86-64 SIMD only");
}

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the accumulators observable so that the loop is not removed.
std::atomic<double> fma_sink{0.0};

// Enough independent chains to cover the multiply-add latency on two pipes (4 cycles x 2), few enough to stay in
// the 16 vector registers of AVX2 with the two constant operands.
constexpr int kChains = 12;

template <typename T>
double fma_loop_seconds(long iterations) {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  // volatile: the compiler must not know the operands, or it could fold the loop.
  volatile T multiplier_source = T(0.999999);
  volatile T addend_source = T(1e-7);
  const T multiplier_value = multiplier_source;
  const T addend_value = addend_source;
  const Packet multiplier = Eigen::internal::pset1<Packet>(multiplier_value);
  const Packet addend = Eigen::internal::pset1<Packet>(addend_value);
  Packet chains[kChains];
  for (int c = 0; c < kChains; ++c) chains[c] = Eigen::internal::pset1<Packet>(T(c));
  const auto start = Clock::now();
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) chains[c] = Eigen::internal::pmadd(chains[c], multiplier, addend);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  T total = 0;
  T lanes[Eigen::internal::packet_traits<T>::size];
  for (int c = 0; c < kChains; ++c) {
    Eigen::internal::pstoreu(lanes, chains[c]);
    for (const T lane : lanes) total += lane;
  }
  fma_sink.store(fma_sink.load(std::memory_order_relaxed) + static_cast<double>(total), std::memory_order_relaxed);
  return seconds;
}

// fma_levels.h's loop for one level, timed like fma_loop_seconds.
template <typename T, T (*Loop)(long, T, T)>
double level_loop_seconds(long iterations) {
  volatile T multiplier_source = T(0.999999);
  volatile T addend_source = T(1e-7);
  const T multiplier = multiplier_source;
  const T addend = addend_source;
  const auto start = Clock::now();
  const T total = Loop(iterations, multiplier, addend);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  fma_sink.store(fma_sink.load(std::memory_order_relaxed) + static_cast<double>(total), std::memory_order_relaxed);
  return seconds;
}

using LoopSeconds = double (*)(long);

// The timed loop of a level and the FLOPs of one of its iterations.
template <typename T>
std::pair<LoopSeconds, double> fma_loop_of(kernels::Isa level) {
  switch (level) {
#ifdef TAPEGRAD_BENCH_FMA_LEVELS
    case kernels::Isa::avx512:
      return {&level_loop_seconds<T, static_cast<T (*)(long, T, T)>(&fma_levels::avx512)>,
              2.0 * fma_levels::kChains * fma_levels::avx512_lanes<T>};
    case kernels::Isa::avx2:
      return {&level_loop_seconds<T, static_cast<T (*)(long, T, T)>(&fma_levels::avx2)>,
              2.0 * fma_levels::kChains * fma_levels::avx2_lanes<T>};
#endif
    default:
      return {&fma_loop_seconds<T>, 2.0 * kChains * packet_lanes<T>()};
  }
}

// Wall time of `threads` loops started together.
template <typename T>
double parallel_fma_seconds(LoopSeconds loop_seconds, int threads, long iterations) {
  if (threads == 1) return loop_seconds(iterations);
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  const auto start_gate = [&ready, threads] {
    ready.fetch_add(1);
    while (ready.load() < threads) std::this_thread::yield();
  };
  Clock::time_point start;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start_gate();
      if (t == 0) start = Clock::now();
      loop_seconds(iterations);
    });
  }
  for (std::thread& worker : workers) worker.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

template <typename T>
int packet_lanes() {
  return Eigen::internal::packet_traits<T>::size;
}

bool fma_levels::available() {
#ifdef TAPEGRAD_BENCH_FMA_LEVELS
  return true;
#else
  return false;
#endif
}

std::vector<kernels::Isa> fma_peak_levels() {
  std::vector<kernels::Isa> levels;
  const std::vector<kernels::Isa> here = kernels::runnable_levels();
  for (auto level = here.rbegin(); level != here.rend(); ++level) {  // the best first
    if (*level == kernels::Isa::portable || fma_levels::available()) levels.push_back(*level);
  }
  return levels;
}

template <typename T>
double measure_fma_peak(kernels::Isa level, int threads, int repetitions, double seconds_per_run) {
  const auto [loop_seconds, flops_per_iteration] = fma_loop_of<T>(level);
  // Calibrate the iteration count on one short run.
  long iterations = 1 << 16;
  const double calibration = loop_seconds(iterations);
  iterations = std::max(
      1L, static_cast<long>(static_cast<double>(iterations) * seconds_per_run / std::max(calibration, 1e-9)));
  double best = 0;
  for (int r = 0; r < repetitions; ++r) {
    const double seconds = parallel_fma_seconds<T>(loop_seconds, threads, iterations);
    best = std::max(best, flops_per_iteration * static_cast<double>(iterations) * threads / seconds);
  }
  return best;
}

double resident_memory_mib() {
  std::ifstream statm("/proc/self/statm");
  long total_pages = 0;
  long resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0.0;
  return static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

std::string keep_freed_memory() {
#ifdef __GLIBC__
  constexpr int mmap_threshold = 32 << 20;  // glibc's largest allowed value
  constexpr int trim_threshold = 256 << 20;
  if (mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1) {
    return "malloc: glibc keeps freed blocks (M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 256 MiB) for every "
           "implementation alike; --malloc-defaults leaves glibc's adaptive thresholds instead";
  }
  return "malloc: glibc refused the fixed thresholds; its defaults apply";
#else
  return "malloc: not glibc; the C library's defaults apply";
#endif
}

template double measure_fma_peak<float>(kernels::Isa, int, int, double);
template double measure_fma_peak<double>(kernels::Isa, int, int, double);
template int packet_lanes<float>();
template int packet_lanes<double>();

}  // namespace tapegrad::apps
