#include "apps/benchmarks/level_environment.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <tapegrad/core/kernels/isa.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tapegrad::apps {
namespace {

// The names of the variables this program set, so that the process it executes can say so.
constexpr const char* kMarker = "TAPEGRAD_BENCH_SET_VARIABLES";

struct Choice {
  const char* name;
  std::string value;  // empty: leave PyTorch's own choice
};

bool cpu_has_skylake_x_set() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// The core names are those OpenBLAS 0.3.21's DYNAMIC_ARCH accepts (it ignores an unknown name silently and keeps
// its own detection, hence the check of openblas_core_in_use() in the reports). PyTorch's ATEN_CPU_CAPABILITY
// takes default, avx2 or avx512; oneDNN (DNNL_ in 2.6, ONEDNN_ later) takes SSE41, AVX2, AVX512_CORE, ...
std::vector<Choice> choices_for(kernels::Isa level) {
#if defined(__x86_64__)
  switch (level) {
    case kernels::Isa::avx512:
      // SkylakeX is the AVX-512 core every later one (Cooperlake, SapphireRapids) reuses for s/dgemm. PyTorch's
      // AVX-512 kernels need the same four extensions; without BW, AVX2 is the best both have.
      if (cpu_has_skylake_x_set()) return {{"OPENBLAS_CORETYPE", "SkylakeX"}, {"ATEN_CPU_CAPABILITY", "avx512"}};
      return {{"OPENBLAS_CORETYPE", "Haswell"}, {"ATEN_CPU_CAPABILITY", "avx2"}};
    case kernels::Isa::avx2:
      return {{"OPENBLAS_CORETYPE", "Haswell"},
              {"ATEN_CPU_CAPABILITY", "avx2"},
              {"DNNL_MAX_CPU_ISA", "AVX2"},
              {"ONEDNN_MAX_CPU_ISA", "AVX2"}};
    case kernels::Isa::portable:
      // tapegrad's portable level is baseline x86-64 (SSE2): PyTorch without AVX, OpenBLAS on 128-bit SSE kernels.
      return {{"OPENBLAS_CORETYPE", "Nehalem"},
              {"ATEN_CPU_CAPABILITY", "default"},
              {"DNNL_MAX_CPU_ISA", "SSE41"},
              {"ONEDNN_MAX_CPU_ISA", "SSE41"}};
  }
#else
  (void)level;
#endif
  return {};
}

const char* environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

void hold_pytorch_to_tapegrad_level(char** argv) {
  if (environment(kMarker) != nullptr) return;  // this is the executed-again process
  std::string set;
  for (const Choice& choice : choices_for(kernels::active_isa())) {
    if (choice.value.empty() || environment(choice.name) != nullptr) continue;  // the user's setting wins
    setenv(choice.name, choice.value.c_str(), 1);
    set += set.empty() ? choice.name : fmt::format(",{}", choice.name);
  }
  setenv(kMarker, set.empty() ? "none" : set.c_str(), 1);
  if (set.empty() || openblas_core_in_use().empty()) return;  // Python children read the variables themselves
  execv("/proc/self/exe", argv);
  // Only reached when the executable cannot be run again; the run goes on with OpenBLAS's own choice, which the
  // header reports.
  std::fprintf(stderr, "tapegrad_bench: could not execute itself again (%s); OpenBLAS keeps its own core\n",
               std::strerror(errno));
}

std::vector<LevelVariable> level_variables() {
  const std::string set = environment(kMarker) != nullptr ? environment(kMarker) : "";
  const std::string level = kernels::isa_name(kernels::active_isa());
  std::vector<LevelVariable> variables;
  for (const char* name : {"OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA"}) {
    const char* value = environment(name);
    const bool ours = (',' + set + ',').find(fmt::format(",{},", name)) != std::string::npos;
    variables.push_back({name, value != nullptr ? value : "",
                         value == nullptr ? "unset: the library's own choice"
                         : ours           ? fmt::format("set by tapegrad_bench for level {}", level)
                                          : std::string("set by the user")});
  }
  return variables;
}

std::string openblas_core_in_use() {
  using CoreName = char* (*)();
  const auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return core_name != nullptr ? std::string(core_name()) : std::string();
}

}  // namespace tapegrad::apps
