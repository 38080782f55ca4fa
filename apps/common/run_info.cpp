#include "apps/common/run_info.h"

#include <fmt/format.h>
#include <spdlog/version.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/build_record.h>

#include <CLI/Version.hpp>
#include <ctime>

#include "apps/common/threads.h"

namespace tapegrad::apps {

NLOHMANN_JSON_SERIALIZE_ENUM(Verbosity, {{Verbosity::quiet, "quiet"},
                                         {Verbosity::normal, "normal"},
                                         {Verbosity::verbose, "verbose"}})

nlohmann::json build_info_json() {
  const train::BuildRecord library = train::build_record();
  return {{"tapegrad", library.tapegrad},
          {"compiler", library.compiler},
          {"cxx_standard", library.cxx_standard},
          {"assertions", library.assertions},
          {"eigen", library.eigen},
          {"eigen_simd", library.eigen_simd},
          {"isa", library.isa},  // tapegrad's own kernels' level
          {"gemm", library.gemm},
          {"fmt", library.fmt},
          {"nlohmann_json", library.nlohmann_json},
          {"spdlog", fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH)},
          {"cli11", CLI11_VERSION}};
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

nlohmann::json run_record_json(const CommonOptions& options) {
  return nlohmann::json{
      {"common", options},
      {"build", build_info_json()},
      {"runtime", {{"product_threads", product_threads()}, {"hardware_threads", hardware_thread_count()}}},
      {"written_at", utc_timestamp()}};
}

}  // namespace tapegrad::apps
