// What config.json and summary.json record about every run besides its settings: the common flags (seed,
// threads, preset, directories, command line), the build (tapegrad, compiler, Eigen and library versions) and
// when the file was written, so that a result can be traced back to what produced it.
#pragma once

#include <tapegrad/nn/train/build_record.h>

#include <nlohmann/json.hpp>

#include "apps/common/cli.h"

namespace tapegrad::apps {

// The library's train::build_record() ({"tapegrad", "compiler", "cxx_standard", "assertions", "eigen",
// "eigen_simd", "isa", "gemm", "fmt", "nlohmann_json"}) and the apps' own libraries ({"spdlog", "cli11"}).
nlohmann::json build_info_json();

using train::utc_timestamp;  // "2024-05-01T12:34:56Z" (build_record.h)

// {"data", "out", "preset", "seed", "threads", "verbosity", "command_line"}
void to_json(nlohmann::json& json, const CommonOptions& options);

// The record to start config.json and summary.json with: {"common": options, "build": build_info_json(),
// "runtime": {"product_threads", "hardware_threads"}, "written_at": utc_timestamp()}. Apps add their own keys.
nlohmann::json run_record_json(const CommonOptions& options);

}  // namespace tapegrad::apps
