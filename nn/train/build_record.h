// What built the library a run uses, and when the run's record was written, for that record (the apps'
// config.json and summary.json keep them under "build" and "written_at"), so that a result can be traced back to
// the code, compiler and kernels that produced it.
//
//   const train::BuildRecord build = train::build_record();
//   std::printf("tapegrad %s (%s), products: %s\n", build.tapegrad.c_str(), build.compiler.c_str(),
//               build.gemm.c_str());
//   settings["build"] = nlohmann::json::parse(train::build_record_json());  // in a config.json of one's own
//   settings["written_at"] = train::utc_timestamp();
#pragma once

#include <chrono>
#include <string>

namespace tapegrad::train {

struct BuildRecord {
  std::string tapegrad;     // the library's version, "0.1.0"
  std::string compiler;     // "GNU 12.2.0"
  long cxx_standard = 0;    // __cplusplus of the library's build, 202002
  bool assertions = false;  // built without NDEBUG
  std::string eigen;        // "3.4.0"
  std::string eigen_simd;   // the instruction sets Eigen's code was compiled for: "SSE, SSE2"
  std::string isa;          // the level tapegrad's own kernels run at now: "avx2" (TAPEGRAD_ISA may lower it)
  std::string gemm;         // the backend of the matrix products (gemm_backend(), core/gemm.h)
  std::string fmt;          // the versions of the libraries it was built with
  std::string nlohmann_json;
};

BuildRecord build_record();

// `build` as the text of a JSON object, one entry per member under the member's name ({"tapegrad": "0.1.0",
// "compiler": ..., "cxx_standard": 202002, "assertions": false, ...}).
std::string build_record_json(const BuildRecord& build = build_record());

// `when` in ISO 8601, in UTC to the second: "2024-05-01T12:34:56Z".
std::string utc_timestamp(std::chrono::system_clock::time_point when = std::chrono::system_clock::now());

}  // namespace tapegrad::train
