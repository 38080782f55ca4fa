// What a run will ask of the machine, told before it starts: sizes counted without overflow, the machine's memory,
// threads and the free room on a directory's disk, and the checks that refuse settings which cannot fit at once
// (ResourceLimitExceeded, naming the settings that decide the amount), instead of ending in std::bad_alloc or a
// full disk after hours of training.
//
//   const train::Amount weights = train::Amount(hidden) * train::Amount(3072) * train::Amount(sizeof(float));
//   train::ResourceEstimate estimate;
//   estimate.require_steps(train::Amount(epochs) * train::Amount(steps_per_epoch), {{"epochs", epochs}});
//   estimate.add_memory(train::Amount(6) * weights, "the weights, gradients and copies", {{"hidden", hidden}});
//   estimate.check_memory();
//   const train::Amount checkpoints = train::Amount(3) * weights;  // the new file beside the old, and the best
//   train::require_disk_room(run.root(), "run_dir", checkpoints, "the checkpoints", {{"hidden", hidden}});
//
// For a fully connected network, check_training_memory counts these items from the layers' widths.
#pragma once

#include <tapegrad/core/error.h>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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

// The hardware threads of this machine; at least 1 even when the standard library cannot tell.
int hardware_thread_count();

// A setting that decides an amount, and the value it had, as a refusal names it: "--n-s 1000000000", "hidden 50".
struct SettingValue {
  std::string name;
  std::string value;
  SettingValue(std::string setting, std::string given) : name(std::move(setting)), value(std::move(given)) {}
  SettingValue(std::string setting, const char* given) : SettingValue(std::move(setting), std::string(given)) {}
  template <std::integral Integer>
  requires(!std::same_as<Integer, bool>) SettingValue(std::string setting, Integer given)
      : SettingValue(std::move(setting), std::to_string(given)) {}
  // The shortest text that reads back as `given`: "0.2", "1e-05".
  SettingValue(std::string setting, double given);
};
using SettingValues = std::vector<SettingValue>;

// "--n-s 1000000000 --cycles 1000000000", and "--n-s or --cycles" (each name once, in their order).
std::string settings_with_values(const SettingValues& settings);
std::string setting_names(const SettingValues& settings, const std::string& conjunction = "or");

// Settings that cannot fit, refused before anything is allocated or written: what() says the amount, the limit and
// the settings with their values; advice() says what to change ("give a smaller --n-s or --cycles").
class ResourceLimitExceeded : public Error {
 public:
  ResourceLimitExceeded(const std::string& message, std::string advice)
      : Error(message), advice_(std::move(advice)) {}
  const std::string& advice() const { return advice_; }

 private:
  std::string advice_;
};

// Sane caps, far above any sensible run: at 10 microseconds a step, 10^10 steps take 28 hours of the fastest
// update; 10^6 evaluation points are 10^6 metrics rows, each also kept in the checkpoint.
inline constexpr std::uint64_t kMaxUpdateSteps = 10'000'000'000ULL;
inline constexpr std::uint64_t kMaxEvaluationPoints = 1'000'000;
inline constexpr std::uint64_t kMaxTrials = 10'000;
// What one evaluation point (a metrics row) holds in memory and in the checkpoint's copy of the rows, about.
inline constexpr std::uint64_t kBytesPerEvaluationPoint = 512;

// What a run's settings will ask for, checked item by item as they are known. Every check throws
// ResourceLimitExceeded naming the settings given with the amount.
class ResourceEstimate {
 public:
  // Refuse an amount above its cap (kMaxUpdateSteps, ...).
  void require_steps(Amount steps, const SettingValues& settings) const;
  void require_evaluation_points(Amount points, const SettingValues& settings) const;
  void require_trials(Amount trials, const SettingValues& settings) const;

  // Memory that the run holds at once, for `what` ("the weights of the hidden layer"), decided by `settings`.
  void add_memory(Amount bytes, std::string what, SettingValues settings);
  Amount total_memory() const;
  // Refuses the memory added up when it exceeds physical_memory_bytes(), naming the items that make up most of
  // it, largest first, and their settings.
  void check_memory() const;

 private:
  struct Item {
    Amount bytes;
    std::string what;
    SettingValues settings;
  };
  std::vector<Item> items_;
};

// Refuses `bytes` that `what` (plural: "the run's checkpoints") need at once on the disk that holds `directory`
// when available_disk_bytes(directory) is less; `directory_setting` names the setting that chose the directory
// ("--out", "run_dir"), `settings` those that decide the amount. A disk whose room cannot be told passes.
void require_disk_room(const std::filesystem::path& directory, const std::string& directory_setting, Amount bytes,
                       const std::string& what, const SettingValues& settings);

// The size of a fully connected network: a stack of nn::Linear layers of `widths` (the input's, each hidden
// layer's, the output's), each hidden layer followed by nn::BatchNorm when `batch_norm`, as
// fully_connected_footprint counts it.
struct NetworkFootprint {
  Amount parameters;          // every W and b, and BatchNorm's scale, shift, running mean and variance
  Amount values_per_example;  // what a batch holds per example while a step computes forward and back
};
NetworkFootprint fully_connected_footprint(const std::vector<long>& widths, bool batch_norm = false);

// What training a network holds at once, with the settings that decide each amount for the refusals.
struct TrainingFootprint {
  NetworkFootprint network;
  Amount scalar_bytes{4};                // 4 for float, 8 for double
  Amount batch_examples;                 // a batch, never larger than the training set
  Amount evaluation_points;              // the metrics rows a run keeps, and its checkpoints with them
  Amount runs_side_by_side{1};           // runs trained at once (a search's workers), each with all of the above
  std::string network_name = "network";  // as the refusal calls it: "the network's weights, ..."
  SettingValues network_settings;        // e.g. {"hidden", 50}
  SettingValues batch_settings;          // e.g. {"batch", 100}
  SettingValues evaluation_settings;     // e.g. {"epochs", 40}
};

// What the checkpoints need on a disk at once, and the settings that decide it, for require_disk_room.
struct DiskNeed {
  Amount bytes;
  SettingValues settings;
};

// Adds to `estimate` the network's weights, gradients and saved copies, a batch with what the network computes on
// it, and the evaluation points kept, for every run side by side, then checks the memory (check_memory). Returns
// what the checkpoints of those runs need on disk at once: a checkpoint (the weights and the evaluation rows)
// twice while the new one replaces the old, and the best weights.
DiskNeed check_training_memory(ResourceEstimate& estimate, const TrainingFootprint& training);

}  // namespace tapegrad::train
