// Holding PyTorch to the instruction-set level tapegrad runs at, so that each side of a comparison runs its best
// kernels for the same level (issue 18's fairness rules).
//
// Debian's OpenBLAS 0.3.21 misdetects CPUs newer than itself (AVX2 or generic kernels on AVX-512 CPUs), and
// PyTorch 1.13 runs its AVX2 kernels on AVX-512 CPUs unless asked for more. Both read their choice from the
// environment once, when they load: OpenBLAS when the program starts (libtorch links it), so the variables are
// set here and the program executes itself again to let OpenBLAS read them.
#pragma once

#include <string>
#include <vector>

namespace tapegrad::apps {

// One variable PyTorch's stack reads, and where its value came from.
struct LevelVariable {
  std::string name;    // OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY, ...
  std::string value;   // empty: unset
  std::string origin;  // "set by tapegrad_bench for level avx2", "set by the user", ...
};

// Sets OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY and oneDNN's ISA limit for tapegrad's level in force (TAPEGRAD_ISA)
// unless the user set them; when OpenBLAS is already loaded, executes /proc/self/exe again with the same arguments
// so that it reads them (once: a marker in the environment stops a loop). Call first thing in main.
void hold_pytorch_to_tapegrad_level(char** argv);

// The variables as they stand in this process, for the run's header and `bench-info` lines.
std::vector<LevelVariable> level_variables();

// The core OpenBLAS runs (openblas_get_corename) when this process has loaded OpenBLAS, else empty.
std::string openblas_core_in_use();

}  // namespace tapegrad::apps
