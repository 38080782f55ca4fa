// libFuzzer target. IDX readers, gzip files: .gz inputs (1f 8b ...) as they are, any other input gzipped first.
// What is done with an input, and what counts as a finding, is in fuzz/harness.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tapegrad::fuzz::ScratchDirectory scratch;
  tapegrad::fuzz::run_idx_gzip(data, size, scratch.path());
  return 0;
}
