// What a run will ask of the machine, told before it starts: sizes counted without overflow, the machine's memory
// and the free room on a directory's disk. A run whose model, batches or checkpoints cannot fit is then refused at
// once, instead of ending in std::bad_alloc or a full disk after hours of training.
//
//   const train::Amount weights = train::Amount(hidden) * train::Amount(3072) * train::Amount(sizeof(float));
//   const train::Amount checkpoints = train::Amount(3) * weights;  // the new file beside the old, and the best
//   if (train::Amount(train::available_disk_bytes(run.root())) < checkpoints)
//     throw MyError("the checkpoints need " + train::describe_bytes(checkpoints));
#pragma once

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>

namespace tapegrad::train {

// A count in saturating unsigned 64-bit arithmetic: a sum or product that would overflow stays at the largest
// value (which every bound refuses), so no estimate wraps around to something small.
class Amount {
 public:
  constexpr Amount() = default;
  // A negative value counts as 0.
  template <std::integral Integer>
  constexpr explicit Amount(Integer value) : value_(value < 0 ? 0 : static_cast<std::uint64_t>(value)) {}

  static constexpr Amount saturated() { return Amount(std::numeric_limits<std::uint64_t>::max()); }
  constexpr std::uint64_t value() const { return value_; }
  constexpr bool is_saturated() const { return value_ == std::numeric_limits<std::uint64_t>::max(); }

  friend constexpr Amount operator+(Amount a, Amount b) {
    std::uint64_t sum = 0;
    return __builtin_add_overflow(a.value_, b.value_, &sum) ? saturated() : Amount(sum);
  }
  friend constexpr Amount operator*(Amount a, Amount b) {
    std::uint64_t product = 0;
    return __builtin_mul_overflow(a.value_, b.value_, &product) ? saturated() : Amount(product);
  }
  // Rounded up; a division by 0 saturates.
  friend constexpr Amount divide_rounding_up(Amount a, Amount b) {
    if (b.value_ == 0) return saturated();
    return Amount(a.value_ / b.value_ + (a.value_ % b.value_ != 0 ? 1 : 0));
  }
  friend constexpr bool operator<(Amount a, Amount b) { return a.value_ < b.value_; }
  friend constexpr bool operator==(Amount a, Amount b) = default;

 private:
  std::uint64_t value_ = 0;
};

// "123", "1.2e+10" from a million on; "more than 1.8e19" when saturated.
std::string describe_count(Amount amount);
// "512 bytes", "24.6 GiB"; "more than 16 EiB" when saturated.
std::string describe_bytes(Amount bytes);

// The machine's physical memory in bytes, or 0 when it cannot be told. TAPEGRAD_MEMORY_LIMIT (bytes) overrides it,
// so that a test can stand in for a small machine.
std::uint64_t physical_memory_bytes();

// The bytes free to this process on the file system that holds `directory`, or 0 when it cannot be told.
// TAPEGRAD_DISK_LIMIT (bytes) overrides it, so that a test can stand in for a nearly full disk.
std::uint64_t available_disk_bytes(const std::filesystem::path& directory);

}  // namespace tapegrad::train
