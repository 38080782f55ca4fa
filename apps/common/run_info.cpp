#include "apps/common/run_info.h"

#include <fmt/format.h>
#include <spdlog/version.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/build_record.h>

#include <CLI/Version.hpp>

#include "apps/common/threads.h"

namespace tapegrad::apps {

NLOHMANN_JSON_SERIALIZE_ENUM(Verbosity, {{Verbosity::quiet, "quiet"},
                                         {Verbosity::normal, "normal"},
                                         {Verbosity::verbose, "verbose"}})

nlohmann::json build_info_json() {
  nlohmann::json build = nlohmann::json::parse(train::build_record_json());
  build["spdlog"] = fmt::format("{}.{}.{}", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
  build["cli11"] = CLI11_VERSION;
  return build;
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
