// libFuzzer target. safetensors reader: nn::load_safetensors<float> and <double>; every file that loads is saved
// and loaded again. What is done with an input, and what counts as a finding, is in fuzz/harness.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tapegrad::fuzz::ScratchDirectory scratch;
  tapegrad::fuzz::run_safetensors(data, size, scratch.path());
  return 0;
}
