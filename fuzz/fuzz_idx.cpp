// libFuzzer target. IDX readers, plain files: load_idx_images and load_idx_labels on the input as a file.
// What is done with an input, and what counts as a finding, is in fuzz/harness.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tapegrad::fuzz::ScratchDirectory scratch;
  tapegrad::fuzz::run_idx(data, size, scratch.path());
  return 0;
}
