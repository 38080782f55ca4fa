// Checks shared by the option structs of optimizers and schedules: each throws tapegrad::Error with a message of
// the form "SGDOptions.momentum must be in [0, 1), got 1.5" so that a bad setting fails when the object is built.
#pragma once

#include <string_view>

namespace tapegrad::optim {

// value finite and >= low: "[low, inf)".
void require_at_least(std::string_view owner, std::string_view option, double value, double low);
// value finite and > 0: "(0, inf)".
void require_positive(std::string_view owner, std::string_view option, double value);
// low <= value < high: "[low, high)".
void require_in_half_open(std::string_view owner, std::string_view option, double value, double low, double high);
// low <= value <= high: "[low, high]".
void require_in_closed(std::string_view owner, std::string_view option, double value, double low, double high);
// A count of steps or epochs: value >= 1.
void require_positive_count(std::string_view owner, std::string_view option, long value);

}  // namespace tapegrad::optim
