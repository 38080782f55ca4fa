#include "apps/common/run_info.h"

#include <fmt/format.h>
#include <spdlog/version.h>

#include <CLI/Version.hpp>
#include <Eigen/Core>
#include <ctime>

#include "apps/common/threads.h"
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>

namespace tapegrad::apps {

NLOHMANN_JSON_SERIALIZE_ENUM(Verbosity, {{Verbosity::quiet, "quiet"},
                                         {Verbosity::normal, "normal"},
                                         {Verbosity::verbose, "verbose"}})

nlohmann::json build_info_json() {
  nlohmann::json build;
  build["tapegrad"] = TAPEGRAD_VERSION;
  build["compiler"] = TAPEGRAD_COMPILER;
  build["cxx_standard"] = __cplusplus;
#ifdef NDEBUG
  build["assertions"] = false;
#else
  build["assertions"] = true;
#endif
  build["eigen"] = fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  build["eigen_simd"] = Eigen::SimdInstructionSetsInUse();
  build["isa"] = kernels::isa_name(kernels::active_isa());  // tapegrad's own kernels' level
  build["gemm"] = gemm_backend();
  build["spdlog"] = fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
  build["fmt"] = fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
  build["nlohmann_json"] = fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                       NLOHMANN_JSON_VERSION_PATCH);
  build["cli11"] = CLI11_VERSION;
  return build;
}

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return std::string(text, length);
}

void to_json(nlohmann::json& json, const CommonOptions& options) {
  json = nlohmann::json{{"data", options.data_directory.string()},
                        {"out", options.output_directory.string()},
                        {"preset", options.preset},
                        {"seed", options.seed},
                        {"threads", options.threads},
                        {"verbosity", options.verbosity},
                        {"command_line", options.command_line}};
}

void from_json(const nlohmann::json& json, CommonOptions& options) {
  options.data_directory = json.at("data").get<std::string>();
  options.output_directory = json.at("out").get<std::string>();
  options.preset = json.at("preset").get<std::string>();
  options.seed = json.at("seed").get<std::uint64_t>();
  options.threads = json.at("threads").get<int>();
  options.verbosity = json.at("verbosity").get<Verbosity>();
  options.command_line = json.at("command_line").get<std::vector<std::string>>();
}

nlohmann::json run_record_json(const CommonOptions& options) {
  return nlohmann::json{
      {"common", options},
      {"build", build_info_json()},
      {"runtime", {{"product_threads", product_thread_count()}, {"hardware_threads", hardware_thread_count()}}},
      {"written_at", utc_timestamp()}};
}

}  // namespace tapegrad::apps
