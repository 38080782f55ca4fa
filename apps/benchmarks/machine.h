// What the numbers of a benchmark run depend on: the CPU, the compile flags, and the floating-point peak of this
// machine measured in the same run, plus the process's resident memory.
#pragma once

#include <tapegrad/core/kernels/isa.h>

#include <string>
#include <vector>

namespace tapegrad::apps {

// "model name" from /proc/cpuinfo, or "unknown CPU" when it cannot be read.
std::string cpu_model();

// The build type and the compiler flags the benchmark (and, through tapegrad_warnings, the library) was built
// with, and whether they include -march=native.
std::string build_description();

// The best FLOP/s of a register-resident loop of independent multiply-adds at `level`, running on `threads`
// threads at once (each on its own chains), as the best of `repetitions` runs of about `seconds_per_run` each. A
// multiply-add counts as 2 FLOPs. portable: Eigen's widest packet of T at the build's own flags; avx2 and avx512:
// fma_levels.h's loops. Only levels up to kernels::cpu_isa() can run: fma_peak_levels() lists them.
template <typename T>
double measure_fma_peak(kernels::Isa level, int threads, int repetitions, double seconds_per_run);

// The levels this CPU and this build can measure a peak at, best first.
std::vector<kernels::Isa> fma_peak_levels();

// Lanes of Eigen's packet of T (16 floats with AVX-512, 8 with AVX2, 1 without vectorisation).
template <typename T>
int packet_lanes();

// Resident set size of this process in MiB (from /proc/self/statm), 0 when unavailable.
double resident_memory_mib();

// Fixes glibc's malloc thresholds so that freed blocks up to 32 MiB stay in the process. By default glibc returns
// large freed blocks to the system and adjusts its thresholds from the process's history, so an implementation
// that frees and reallocates temporaries of hundreds of KiB every step (PyTorch's gradients) pays page faults, or
// not, depending on what ran before it. Returns a description of what was done.
std::string keep_freed_memory();

}  // namespace tapegrad::apps
