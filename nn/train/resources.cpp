#include <fmt/format.h>
#include <tapegrad/nn/train/resources.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <system_error>

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

}  // namespace tapegrad::train
