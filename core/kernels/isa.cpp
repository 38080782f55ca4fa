#include <tapegrad/core/kernels/isa.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <tapegrad/core/error.h>

namespace tapegrad::kernels {

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_supports takes only a string literal, hence a macro rather than a function.
#define TAPEGRAD_CPU_HAS(feature) (__builtin_cpu_init(), __builtin_cpu_supports(feature))
#else
#define TAPEGRAD_CPU_HAS(feature) false
#endif

// The levels above portable exist only where their kernels are compiled in (core/kernels/levels/, CMakeLists.txt).
#if defined(TAPEGRAD_KERNEL_LEVELS)
constexpr bool levels_compiled = true;
#else
constexpr bool levels_compiled = false;
#endif

Isa detect() {
  if (levels_compiled && TAPEGRAD_CPU_HAS("avx512f") && TAPEGRAD_CPU_HAS("avx512dq") &&
      TAPEGRAD_CPU_HAS("avx512vl")) {
    return Isa::avx512;
  }
  if (levels_compiled && TAPEGRAD_CPU_HAS("avx2") && TAPEGRAD_CPU_HAS("fma")) return Isa::avx2;
  return Isa::portable;
}

struct Choice {
  Isa isa;
  std::string note;
};

Choice choose() {
  const Isa best = cpu_isa();
  Isa wanted = best;
  const char* forced = std::getenv("TAPEGRAD_ISA");
  const char* old_switch = std::getenv("TAPEGRAD_AVX512");
  if (forced != nullptr && *forced != '\0') {
    if (std::strcmp(forced, "avx512") == 0) {
      wanted = Isa::avx512;
    } else if (std::strcmp(forced, "avx2") == 0) {
      wanted = Isa::avx2;
    } else if (std::strcmp(forced, "portable") == 0) {
      wanted = Isa::portable;
    } else {
      throw_error(fmt::format("TAPEGRAD_ISA is '{}': set it to avx512, avx2 or portable, or unset it to use the "
                              "best level this CPU runs ({})",
                              forced, isa_name(best)));
    }
  } else if (old_switch != nullptr && std::strcmp(old_switch, "0") == 0) {
    wanted = Isa::avx2;  // TAPEGRAD_AVX512=0 meant "no AVX-512 kernel": the level below it
  }
  if (wanted > best) {
    return {best, fmt::format("TAPEGRAD_ISA={} asked for more than this CPU runs; using {}", isa_name(wanted),
                              isa_name(best))};
  }
  return {wanted, {}};
}

const Choice& choice() {
  static const Choice chosen = choose();
  return chosen;
}

}  // namespace

Isa cpu_isa() {
  static const Isa detected = detect();
  return detected;
}

Isa active_isa() { return choice().isa; }

const char* isa_note() { return choice().note.c_str(); }

std::vector<Isa> runnable_levels() {
  std::vector<Isa> levels;
  for (const Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
    if (isa <= cpu_isa()) levels.push_back(isa);
  }
  return levels;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    case Isa::portable:
      return "portable";
  }
  return "portable";
}

}  // namespace tapegrad::kernels
