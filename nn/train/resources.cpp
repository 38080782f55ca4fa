#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tapegrad/nn/train/resources.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <thread>

namespace tapegrad::train {

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
  for (; value >= 1024 && unit + 1 < std::size(units); ++unit) value /= 1024;
  return unit == 0 ? fmt::format("{} bytes", bytes.value()) : fmt::format("{:.1f} {}", value, units[unit]);
}

namespace {

// The value of the environment variable `name` when it is a whole number of bytes.
std::optional<std::uint64_t> limit_from_environment(const char* name) {
  const char* limit = std::getenv(name);
  if (limit == nullptr || *limit == '\0') return std::nullopt;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(limit, &end, 10);
  if (*end != '\0') return std::nullopt;
  return value;
}

}  // namespace

std::uint64_t physical_memory_bytes() {
  if (const auto limit = limit_from_environment("TAPEGRAD_MEMORY_LIMIT")) return *limit;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  return (pages <= 0 || page_size <= 0) ? 0 : (Amount(pages) * Amount(page_size)).value();
}

std::uint64_t available_disk_bytes(const std::filesystem::path& directory) {
  if (const auto limit = limit_from_environment("TAPEGRAD_DISK_LIMIT")) return *limit;
  std::error_code error;
  const std::filesystem::space_info space = std::filesystem::space(directory, error);
  if (error || space.available == static_cast<std::uintmax_t>(-1)) return 0;
  return space.available;
}

int hardware_thread_count() {
  const unsigned reported = std::thread::hardware_concurrency();
  return reported == 0 ? 1 : static_cast<int>(reported);
}

SettingValue::SettingValue(std::string setting, double given)
    : SettingValue(std::move(setting), fmt::format("{}", given)) {}

std::string settings_with_values(const SettingValues& settings) {
  std::vector<std::string> parts;
  for (const auto& s : settings) parts.push_back(s.name + " " + s.value);
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string setting_names(const SettingValues& settings, const std::string& conjunction) {
  std::vector<std::string> names;
  for (const auto& s : settings)
    if (std::ranges::find(names, s.name) == names.end()) names.push_back(s.name);
  if (names.size() < 2) return fmt::format("{}", fmt::join(names, ""));
  const std::string last = names.back();
  names.pop_back();
  return fmt::format("{} {} {}", fmt::join(names, ", "), conjunction, last);
}

namespace {

// Refuses `amount` of `what` above `cap` ("update steps"), which `settings` decide; `why` says what the cap stands
// for.
void require_at_most(Amount amount, std::uint64_t cap, const std::string& what, const std::string& why,
                     const SettingValues& settings) {
  if (!(Amount(cap) < amount)) return;
  throw ResourceLimitExceeded(
      fmt::format("{} {} {} {}, more than {}", settings_with_values(settings),
                  settings.size() == 1 ? "makes" : "make", describe_count(amount), what, why),
      fmt::format("give a smaller {}", setting_names(settings)));
}

}  // namespace

void ResourceEstimate::require_steps(Amount steps, const SettingValues& settings) const {
  require_at_most(steps, kMaxUpdateSteps, "update steps",
                  fmt::format("the {:.0e} a run may have (at 10 microseconds a step, more than a day of training)",
                              static_cast<double>(kMaxUpdateSteps)),
                  settings);
}

void ResourceEstimate::require_evaluation_points(Amount points, const SettingValues& settings) const {
  require_at_most(points, kMaxEvaluationPoints, "evaluation points (rows of metrics.csv)",
                  fmt::format("the {} a run may have (each one evaluates the whole training and validation sets)",
                              kMaxEvaluationPoints),
                  settings);
}

void ResourceEstimate::require_trials(Amount trials, const SettingValues& settings) const {
  require_at_most(trials, kMaxTrials, "trials", fmt::format("the {} a search may have", kMaxTrials), settings);
}

void ResourceEstimate::add_memory(Amount bytes, std::string what, SettingValues settings) {
  items_.push_back({bytes, std::move(what), std::move(settings)});
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
  SettingValues named;
  for (const Item* item : largest) {
    // The items that make most of the total: the first always, the others while they are a tenth of it or more.
    if (!parts.empty() && item->bytes.value() < total.value() / 10) break;
    parts += fmt::format("{}{} {} ({})", parts.empty() ? "" : "; ", item->what, describe_bytes(item->bytes),
                         settings_with_values(item->settings));
    named.insert(named.end(), item->settings.begin(), item->settings.end());
  }
  throw ResourceLimitExceeded(
      fmt::format("the settings need about {} of memory at once, more than this machine's {}: {}",
                  describe_bytes(total), describe_bytes(available), parts),
      fmt::format("give a smaller {}", setting_names(named)));
}

void require_disk_room(const std::filesystem::path& directory, const std::string& directory_setting, Amount bytes,
                       const std::string& what, const SettingValues& settings) {
  const Amount available(available_disk_bytes(directory));
  if (available.value() == 0 || !(available < bytes)) return;
  const std::string decided_by =
      settings.empty() ? std::string() : fmt::format(" ({})", settings_with_values(settings));
  const std::string elsewhere = fmt::format("give {} a directory on a disk with more room", directory_setting);
  throw ResourceLimitExceeded(fmt::format("{} need about {} on the disk of {} '{}' at once{}, and it has {} free",
                                          what, describe_bytes(bytes), directory_setting, directory.string(),
                                          decided_by, describe_bytes(available)),
                              settings.empty() ? fmt::format("make room on that disk, or {}", elsewhere)
                                               : fmt::format("make room on that disk, {}, or give a smaller {}",
                                                             elsewhere, setting_names(settings)));
}

NetworkFootprint fully_connected_footprint(const std::vector<long>& widths, bool batch_norm) {
  NetworkFootprint network;
  if (widths.empty()) return network;
  // Per example: the input and its normalised copy; per hidden unit the pre-activation and the activation with
  // their gradients (with batch normalisation also the normalised and scaled values with theirs); the scores, the
  // probabilities and their gradients.
  network.values_per_example = Amount(2) * Amount(widths.front());
  for (std::size_t layer = 1; layer < widths.size(); ++layer) {
    const Amount fan_in(widths[layer - 1]), units(widths[layer]);
    const bool hidden = layer + 1 < widths.size();
    const bool normalised = hidden && batch_norm;
    network.parameters = network.parameters + fan_in * units + units * Amount(normalised ? 5 : 1);
    network.values_per_example = network.values_per_example + units * Amount(normalised ? 8 : 4);
  }
  return network;
}

DiskNeed check_training_memory(ResourceEstimate& estimate, const TrainingFootprint& training) {
  const Amount runs = training.runs_side_by_side;
  const Amount weights = training.network.parameters * training.scalar_bytes;
  const Amount rows = training.evaluation_points * Amount(kBytesPerEvaluationPoint);
  // Values, gradients, the checkpoint's copy and its serialised bytes, the best weights: about six copies.
  estimate.add_memory(runs * weights * Amount(6),
                      fmt::format("the {}'s weights, gradients and saved copies", training.network_name),
                      training.network_settings);
  estimate.add_memory(runs * training.batch_examples * training.network.values_per_example * training.scalar_bytes,
                      fmt::format("a batch and what the {} computes on it", training.network_name),
                      training.batch_settings);
  estimate.add_memory(runs * rows, "the evaluation points kept", training.evaluation_settings);
  estimate.check_memory();
  DiskNeed disk{runs * (Amount(3) * weights + Amount(2) * rows), training.network_settings};
  disk.settings.insert(disk.settings.end(), training.evaluation_settings.begin(),
                       training.evaluation_settings.end());
  return disk;
}

}  // namespace tapegrad::train
