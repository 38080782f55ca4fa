// What a run's settings will ask of the machine, estimated from the flags before anything is allocated or written:
// update steps, evaluation points (metrics rows), trials, and the memory of the model and its batches. Settings
// that cannot fit are refused at once with exit 2, naming the flags that decide the amount, instead of growing for
// minutes and ending in std::bad_alloc.
//
//   ResourceEstimate estimate;
//   const Amount steps = Amount(2) * Amount(n_s) * Amount(cycles);
//   estimate.require_steps(steps, {{"--n-s", n_s}, {"--cycles", cycles}});
//   estimate.add_memory(Amount(hidden) * Amount(3072) * Amount(4), "the hidden layer's weights",
//                       {{"--hidden", hidden}});
//   estimate.check_memory();
#pragma once

#include <fmt/format.h>
#include <tapegrad/nn/train/resources.h>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace tapegrad::apps {

// The library's overflow-free counts and the machine's memory and disk (resources.h), as the apps use them.
using train::Amount;
using train::available_disk_bytes;
using train::describe_bytes;
using train::describe_count;
using train::physical_memory_bytes;

// A flag and the value it had (given or from the preset), as a message shows it: "--n-s 1000000000".
struct FlagValue {
  std::string flag;
  std::string value;
  template <class Value>
  FlagValue(std::string flag_name, const Value& given)
      : flag(std::move(flag_name)), value(fmt::format("{}", given)) {}
};
using FlagValues = std::vector<FlagValue>;

// Sane caps, far above any run of the course's experiments: at 10 microseconds a step, 10^10 steps take 28 hours
// of the fastest update; 10^6 evaluation points are 10^6 metrics rows, each also kept in the checkpoint.
inline constexpr std::uint64_t kMaxUpdateSteps = 10'000'000'000ULL;
inline constexpr std::uint64_t kMaxEvaluationPoints = 1'000'000;
inline constexpr std::uint64_t kMaxTrials = 10'000;
// What one evaluation point holds in memory and in the checkpoint's copy of the rows, about.
inline constexpr std::uint64_t kBytesPerEvaluationPoint = 512;

// The disk that --out is on must hold, at once, the largest checkpoint a run writes twice (the new one is written
// beside the old before the rename) and its best weights, for every run side by side. The apps' bound checks note
// what their settings need (the largest noted counts: checking the same settings again changes nothing), and
// prepare_output_directory calls check_disk_for_checkpoints before anything is written into --out.
void note_checkpoint_bytes(Amount bytes, FlagValues flags);
// Throws UsageError (exit 2) naming the directory, both amounts and the flags that decide the larger one when the
// file system that holds `directory` has less room than the largest amount noted.
void check_disk_for_checkpoints(const std::filesystem::path& directory);

class ResourceEstimate {
 public:
  // Each throws UsageError (exit 2) naming `flags` and their values when the amount exceeds the cap.
  void require_steps(Amount steps, const FlagValues& flags) const;
  void require_evaluation_points(Amount points, const FlagValues& flags) const;
  void require_trials(Amount trials, const FlagValues& flags) const;

  // Memory that the run holds at once, for `what` ("the weights of the hidden layer"), decided by `flags`.
  void add_memory(Amount bytes, std::string what, FlagValues flags);
  Amount total_memory() const;
  // Throws UsageError when the memory added up exceeds the machine's physical memory, naming the flags of the
  // items that make up most of it, largest first.
  void check_memory() const;

 private:
  struct Item {
    Amount bytes;
    std::string what;
    FlagValues flags;
  };
  std::vector<Item> items_;
};

// "--n-s 1000000000 --cycles 1000000000" and "--n-s or --cycles".
std::string flags_with_values(const FlagValues& flags);
std::string flag_names(const FlagValues& flags, const std::string& conjunction = "or");

}  // namespace tapegrad::apps
