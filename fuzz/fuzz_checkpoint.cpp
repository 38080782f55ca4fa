// libFuzzer target. Checkpoint loader: load_checkpoint<float> and <double>, as is and with the CRC-32 made right.
// What is done with an input, and what counts as a finding, is in fuzz/harness.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tapegrad::fuzz::ScratchDirectory scratch;
  tapegrad::fuzz::run_checkpoint(data, size, scratch.path());
  return 0;
}
