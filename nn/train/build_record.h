// What built the library a run uses, for the run's record (the apps' config.json and summary.json keep it under
// "build"), so that a result can be traced back to the code, compiler and kernels that produced it.
//
//   const train::BuildRecord build = train::build_record();
//   std::printf("tapegrad %s (%s), products: %s\n", build.tapegrad.c_str(), build.compiler.c_str(),
//               build.gemm.c_str());
#pragma once

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

}  // namespace tapegrad::train
