// report.md of the `all` preset: one table of every preset's results and wall time, links to the plots, and the
// gradient check and search tables below it.
#pragma once

#include <string>
#include <vector>

#include "apps/two_layer_cyclic/presets.h"

namespace tapegrad::apps::two_layer_cyclic {

// Markdown; links are relative to the directory that holds report.md (--out). `complete` is false while `all` is
// still running (or when it stopped early), which the report says.
std::string format_report(const std::vector<PresetRecord>& records, double total_seconds, bool complete);

}  // namespace tapegrad::apps::two_layer_cyclic
