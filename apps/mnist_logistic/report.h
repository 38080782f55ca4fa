// report.md of the "all" preset: what data the study ran on, then for each preset its settings, a table of its
// runs (accuracies, the epoch each stopped at, wall times) and its figures.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace tapegrad::apps::mnist_logistic {

// The report's text from the summary of "all" (its "presets" hold each preset's summary, keyed by name).
std::string report_markdown(const nlohmann::json& all_summary);

// A plain-text table of a preset's runs (of every preset, for "all"), printed when a preset ends.
std::string results_text(const nlohmann::json& summary);

// Writes report_markdown(all_summary) to `file`, atomically.
void write_report(const std::filesystem::path& file, const nlohmann::json& all_summary);

}  // namespace tapegrad::apps::mnist_logistic
