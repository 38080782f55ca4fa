#include <fmt/format.h>
#include <tapegrad/core/error.h>
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/nn/train/build_record.h>

#include <Eigen/Core>
#include <ctime>
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

std::string build_record_json(const BuildRecord& build) {
  const nlohmann::json record = {{"tapegrad", build.tapegrad},
                                 {"compiler", build.compiler},
                                 {"cxx_standard", build.cxx_standard},
                                 {"assertions", build.assertions},
                                 {"eigen", build.eigen},
                                 {"eigen_simd", build.eigen_simd},
                                 {"isa", build.isa},
                                 {"gemm", build.gemm},
                                 {"fmt", build.fmt},
                                 {"nlohmann_json", build.nlohmann_json}};
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  if (::gmtime_r(&seconds, &parts) == nullptr)
    throw_error("utc_timestamp: the time is outside the calendar's range");
  char text[32];
  return std::string(text, std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts));
}

}  // namespace tapegrad::train
