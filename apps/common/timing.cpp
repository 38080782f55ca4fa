#include "apps/common/timing.h"

namespace tapegrad::apps {

double SectionTimes::seconds(const std::string& name) const {
  const auto found = seconds_.find(name);
  return found == seconds_.end() ? 0.0 : found->second;
}

double SectionTimes::total_seconds() const {
  double total = 0.0;
  for (const auto& [name, seconds] : seconds_) total += seconds;
  return total;
}

nlohmann::json SectionTimes::to_json() const {
  nlohmann::json sections = nlohmann::json::object();
  for (const auto& [name, seconds] : seconds_) sections[name] = seconds;
  return sections;
}

}  // namespace tapegrad::apps
