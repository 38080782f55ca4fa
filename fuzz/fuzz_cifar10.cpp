// libFuzzer target. CIFAR-10 batch reader: tapegrad::data::load_cifar10_batch on the input as a batch file.
// What is done with an input, and what counts as a finding, is in fuzz/harness.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static tapegrad::fuzz::ScratchDirectory scratch;
  tapegrad::fuzz::run_cifar10(data, size, scratch.path());
  return 0;
}
