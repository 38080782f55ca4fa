#include <fmt/format.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/kernels/elementwise.h>
#include <tapegrad/core/kernels/levels/elementwise_level.h>

#include <type_traits>

namespace tapegrad::kernels {

namespace {

#ifdef TAPEGRAD_ELEMENTWISE_LEVELS
constexpr bool levels_compiled = true;
#else
constexpr bool levels_compiled = false;
#endif

template <typename T>
const ElementwiseKernels<T>& of_level(Isa isa) {
  if constexpr (levels_compiled) {
    if constexpr (std::is_same_v<T, float>) {
      if (isa == Isa::avx512) return levels::elementwise_float_avx512();
      if (isa == Isa::avx2) return levels::elementwise_float_avx2();
      return levels::elementwise_float_portable();
    } else {
      if (isa == Isa::avx512) return levels::elementwise_double_avx512();
      if (isa == Isa::avx2) return levels::elementwise_double_avx2();
      return levels::elementwise_double_portable();
    }
  } else if constexpr (std::is_same_v<T, float>) {
    return levels::elementwise_float_portable();
  } else {
    return levels::elementwise_double_portable();
  }
}

}  // namespace

bool elementwise_level_runs(Isa isa) { return isa == Isa::portable || (levels_compiled && isa <= cpu_isa()); }

template <typename T>
const ElementwiseKernels<T>& elementwise() {
  // Looked up once: the level in force never changes within a process.
  static const ElementwiseKernels<T>& chosen =
      of_level<T>(elementwise_level_runs(active_isa()) ? active_isa() : Isa::portable);
  return chosen;
}

template <typename T>
const ElementwiseKernels<T>& elementwise_at(Isa isa) {
  if (!elementwise_level_runs(isa)) {
    throw_error(
        fmt::format("the {} element-wise kernels cannot run here (this CPU and build run up to {}); ask "
                    "elementwise_level_runs first",
                    isa_name(isa), isa_name(levels_compiled ? cpu_isa() : Isa::portable)));
  }
  return of_level<T>(isa);
}

template const ElementwiseKernels<float>& elementwise<float>();
template const ElementwiseKernels<double>& elementwise<double>();
template const ElementwiseKernels<float>& elementwise_at<float>(Isa);
template const ElementwiseKernels<double>& elementwise_at<double>(Isa);

}  // namespace tapegrad::kernels
