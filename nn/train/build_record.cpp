#include <fmt/format.h>
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/nn/train/build_record.h>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace tapegrad::train {

BuildRecord build_record() {
  BuildRecord build;
  build.tapegrad = TAPEGRAD_VERSION;
  build.compiler = TAPEGRAD_COMPILER;
  build.cxx_standard = __cplusplus;
#ifndef NDEBUG
  build.assertions = true;
#endif
  build.eigen = fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  build.eigen_simd = Eigen::SimdInstructionSetsInUse();
  build.isa = kernels::isa_name(kernels::active_isa());
  build.gemm = gemm_backend();
  build.fmt = fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
  build.nlohmann_json = fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                    NLOHMANN_JSON_VERSION_PATCH);
  return build;
}

}  // namespace tapegrad::train
