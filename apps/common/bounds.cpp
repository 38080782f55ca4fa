#include "apps/common/bounds.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <mutex>

#include "apps/common/app_error.h"

namespace tapegrad::apps {

std::string flags_with_values(const FlagValues& flags) {
  std::vector<std::string> parts;
  for (const auto& f : flags) parts.push_back(f.flag + " " + f.value);
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string flag_names(const FlagValues& flags, const std::string& conjunction) {
  std::vector<std::string> names;
  for (const auto& f : flags)
    if (std::ranges::find(names, f.flag) == names.end()) names.push_back(f.flag);
  if (names.size() < 2) return fmt::format("{}", fmt::join(names, ""));
  const std::string last = names.back();
  names.pop_back();
  return fmt::format("{} {} {}", fmt::join(names, ", "), conjunction, last);
}

namespace {

// The largest disk need noted so far, with its flags. Guarded: the apps check settings on their main thread, but
// nothing forbids a trial to.
struct CheckpointNeed {
  std::mutex mutex;
  Amount bytes;
  FlagValues flags;
};
CheckpointNeed& checkpoint_need() {
  static CheckpointNeed need;
  return need;
}

}  // namespace

void note_checkpoint_bytes(Amount bytes, FlagValues flags) {
  CheckpointNeed& need = checkpoint_need();
  const std::lock_guard lock(need.mutex);
  if (!(need.bytes < bytes)) return;
  need.bytes = bytes;
  need.flags = std::move(flags);
}

void check_disk_for_checkpoints(const std::filesystem::path& directory) {
  CheckpointNeed& need = checkpoint_need();
  const std::lock_guard lock(need.mutex);
  const Amount available(available_disk_bytes(directory));
  if (available.value() == 0 || !(available < need.bytes)) return;
  const std::string flags =
      need.flags.empty() ? std::string() : fmt::format(" ({})", flags_with_values(need.flags));
  throw UsageError(
      fmt::format("the run's checkpoints need about {} on the disk of --out '{}' at once{}, and it has {} free",
                  describe_bytes(need.bytes), directory.string(), flags, describe_bytes(available)),
      need.flags.empty()
          ? std::string("make room on that disk, or give --out a directory on a disk with more room")
          : fmt::format("make room on that disk, give --out a directory on a disk with more room, or "
                        "give a smaller {}",
                        flag_names(need.flags)));
}

namespace {

// Refuses `amount` of `what` above `cap` ("update steps"), which `flags` decide; `why` says what the cap stands
// for.
void require_at_most(Amount amount, std::uint64_t cap, const std::string& what, const std::string& why,
                     const FlagValues& flags) {
  if (!(Amount(cap) < amount)) return;
  throw UsageError(fmt::format("{} {} {} {}, more than {}", flags_with_values(flags),
                               flags.size() == 1 ? "makes" : "make", describe_count(amount), what, why),
                   fmt::format("give a smaller {}", flag_names(flags)));
}

}  // namespace

void ResourceEstimate::require_steps(Amount steps, const FlagValues& flags) const {
  require_at_most(steps, kMaxUpdateSteps, "update steps",
                  fmt::format("the {:.0e} a run may have (at 10 microseconds a step, more than a day of training)",
                              static_cast<double>(kMaxUpdateSteps)),
                  flags);
}

void ResourceEstimate::require_evaluation_points(Amount points, const FlagValues& flags) const {
  require_at_most(points, kMaxEvaluationPoints, "evaluation points (rows of metrics.csv)",
                  fmt::format("the {} a run may have (each one evaluates the whole training and validation sets)",
                              kMaxEvaluationPoints),
                  flags);
}

void ResourceEstimate::require_trials(Amount trials, const FlagValues& flags) const {
  require_at_most(trials, kMaxTrials, "trials", fmt::format("the {} a search may have", kMaxTrials), flags);
}

void ResourceEstimate::add_memory(Amount bytes, std::string what, FlagValues flags) {
  items_.push_back({bytes, std::move(what), std::move(flags)});
}

Amount ResourceEstimate::total_memory() const {
  Amount total;
  for (const auto& item : items_) total = total + item.bytes;
  return total;
}

void ResourceEstimate::check_memory() const {
  const Amount available(physical_memory_bytes());
  const Amount total = total_memory();
  if (available.value() == 0 || !(available < total)) return;
  std::vector<const Item*> largest;
  for (const auto& item : items_) largest.push_back(&item);
  std::sort(largest.begin(), largest.end(), [](const Item* a, const Item* b) { return b->bytes < a->bytes; });
  std::string parts;
  FlagValues named;
  for (const Item* item : largest) {
    // The items that make most of the total: the first always, the others while they are a tenth of it or more.
    if (!parts.empty() && item->bytes.value() < total.value() / 10) break;
    parts += fmt::format("{}{} {} ({})", parts.empty() ? "" : "; ", item->what, describe_bytes(item->bytes),
                         flags_with_values(item->flags));
    named.insert(named.end(), item->flags.begin(), item->flags.end());
  }
  throw UsageError(fmt::format("the settings need about {} of memory at once, more than this machine's {}: {}",
                               describe_bytes(total), describe_bytes(available), parts),
                   fmt::format("give a smaller {}", flag_names(named)));
}

}  // namespace tapegrad::apps
