#include "apps/common/bounds.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <system_error>
#include <unistd.h>

#include "apps/common/app_error.h"

namespace tapegrad::apps {

std::string describe_count(Amount amount) {
  if (amount.is_saturated()) return "more than 1.8e19";
  if (amount.value() < 1'000'000) return fmt::format("{}", amount.value());
  return fmt::format("{:.3g}", static_cast<double>(amount.value()));
}

std::string describe_bytes(Amount bytes) {
  if (bytes.is_saturated()) return "more than 16 EiB";
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes.value());
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} bytes", bytes.value()) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string flags_with_values(const FlagValues& flags) {
  std::string text;
  for (const auto& f : flags) {
    if (!text.empty()) text += ' ';
    text += f.flag;
    text += ' ';
    text += f.value;
  }
  return text;
}

std::string flag_names(const FlagValues& flags, const std::string& conjunction) {
  std::vector<std::string> names;
  for (const auto& f : flags) {
    if (std::find(names.begin(), names.end(), f.flag) == names.end()) names.push_back(f.flag);
  }
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " " + conjunction + " " : ", ";
    text += names[i];
  }
  return text;
}

namespace {

// The value of the environment variable `name` when it is a whole number of bytes.
std::optional<std::uint64_t> limit_from_environment(const char* name) {
  const char* limit = std::getenv(name);
  if (limit == nullptr || *limit == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(limit, &end, 10);
  if (end == limit || *end != '\0') return std::nullopt;
  return value;
}

}  // namespace

std::uint64_t physical_memory_bytes() {
  if (const auto limit = limit_from_environment("TAPEGRAD_MEMORY_LIMIT")) return *limit;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return (Amount(pages) * Amount(page_size)).value();
}

std::uint64_t available_disk_bytes(const std::filesystem::path& directory) {
  if (const auto limit = limit_from_environment("TAPEGRAD_DISK_LIMIT")) return *limit;
  std::error_code error;
  const std::filesystem::space_info space = std::filesystem::space(directory, error);
  if (error || space.available == static_cast<std::uintmax_t>(-1)) return 0;
  return space.available;
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
  const std::string flags = need.flags.empty() ? std::string() : fmt::format(" ({})", flags_with_values(need.flags));
  throw UsageError(
      fmt::format("the run's checkpoints need about {} on the disk of --out '{}' at once{}, and it has {} free",
                  describe_bytes(need.bytes), directory.string(), flags, describe_bytes(available)),
      need.flags.empty() ? std::string("make room on that disk, or give --out a directory on a disk with more room")
                         : fmt::format("make room on that disk, give --out a directory on a disk with more room, or "
                                       "give a smaller {}",
                                       flag_names(need.flags)));
}

namespace {

[[noreturn]] void refuse(const FlagValues& flags, const std::string& what_they_make, const std::string& limit) {
  throw UsageError(fmt::format("{} {} {}, more than {}", flags_with_values(flags),
                               flags.size() == 1 ? "makes" : "make", what_they_make, limit),
                   fmt::format("give a smaller {}", flag_names(flags)));
}

}  // namespace

void ResourceEstimate::require_steps(Amount steps, const FlagValues& flags) const {
  if (Amount(kMaxUpdateSteps) < steps) {
    refuse(flags, describe_count(steps) + " update steps",
           fmt::format("the {:.0e} a run may have (at 10 microseconds a step, more than a day of training)",
                       static_cast<double>(kMaxUpdateSteps)));
  }
}

void ResourceEstimate::require_evaluation_points(Amount points, const FlagValues& flags) const {
  if (Amount(kMaxEvaluationPoints) < points) {
    refuse(flags, describe_count(points) + " evaluation points (rows of metrics.csv)",
           fmt::format("the {} a run may have (each one evaluates the whole training and validation sets)",
                       kMaxEvaluationPoints));
  }
}

void ResourceEstimate::require_trials(Amount trials, const FlagValues& flags) const {
  if (Amount(kMaxTrials) < trials) {
    refuse(flags, describe_count(trials) + " trials", fmt::format("the {} a search may have", kMaxTrials));
  }
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
