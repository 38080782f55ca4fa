#include <tapegrad/optim/option_checks.h>

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/core/error.h>

namespace tapegrad::optim {

namespace {

// The comparisons below are written so that NaN fails every one of them.
[[noreturn]] void reject(std::string_view owner, std::string_view option, double value, std::string_view range) {
  throw_error(fmt::format("{}.{} must be in {}, got {}", owner, option, range, value));
}

}  // namespace

void require_at_least(std::string_view owner, std::string_view option, double value, double low) {
  if (!(value >= low && std::isfinite(value))) reject(owner, option, value, fmt::format("[{}, inf)", low));
}

void require_positive(std::string_view owner, std::string_view option, double value) {
  if (!(value > 0 && std::isfinite(value))) reject(owner, option, value, "(0, inf)");
}

void require_in_half_open(std::string_view owner, std::string_view option, double value, double low, double high) {
  if (!(value >= low && value < high)) reject(owner, option, value, fmt::format("[{}, {})", low, high));
}

void require_in_closed(std::string_view owner, std::string_view option, double value, double low, double high) {
  if (!(value >= low && value <= high)) reject(owner, option, value, fmt::format("[{}, {}]", low, high));
}

void require_positive_count(std::string_view owner, std::string_view option, long value) {
  if (value < 1) throw_error(fmt::format("{}.{} must be an integer >= 1, got {}", owner, option, value));
}

}  // namespace tapegrad::optim
