// The instruction-set level the library's own kernels run at, chosen once per process from the CPU.
//
// Why one place: every kernel compiled for a level (levels/gemm_avx512.cpp, ...) may only run after the CPU has been
// checked for it, and a forced level (to measure every level on one machine) must reach all of them alike.
//
// The level is the best of avx512 (AVX-512 F, DQ and VL), avx2 (AVX2 and FMA) and portable (the build's own
// flags) that this CPU and the kernels compiled in support, lowered by the environment:
//   TAPEGRAD_ISA=avx512|avx2|portable  forces that level (never above what the CPU runs: asking for more than
//                                      the CPU has gives what it has, and tapegrad::isa_note() says so);
//   TAPEGRAD_AVX512=0                  the older switch, kept as an alias of TAPEGRAD_ISA=avx2.
// Any other TAPEGRAD_ISA value throws tapegrad::Error naming the accepted ones on the first call.
#pragma once

#include <vector>

namespace tapegrad::kernels {

enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

// The best level this CPU runs (and the build compiled kernels for), ignoring the environment.
Isa cpu_isa();

// The level in force: cpu_isa() lowered by TAPEGRAD_ISA / TAPEGRAD_AVX512. Decided once per process.
Isa active_isa();

// The levels up to cpu_isa(), portable first: those a test or a benchmark of every level can run here.
std::vector<Isa> runnable_levels();

// "avx512", "avx2" or "portable".
const char* isa_name(Isa isa);

// Empty, or why the level in force is below the one asked for in TAPEGRAD_ISA (for run reports).
const char* isa_note();

}  // namespace tapegrad::kernels
