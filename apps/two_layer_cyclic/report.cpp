#include "apps/two_layer_cyclic/report.h"

#include <fmt/format.h>

#include <filesystem>

#include <tapegrad/nn/train/progress.h>

namespace tapegrad::apps::two_layer_cyclic {
namespace {

std::string percent(const nlohmann::json& summary, const char* key) {
  if (!summary.contains(key) || !summary.at(key).is_number()) return "-";
  return fmt::format("{:.2f}%", 100 * summary.at(key).get<double>());
}

std::string number(const nlohmann::json& summary, const char* key, const char* format) {
  if (!summary.contains(key) || !summary.at(key).is_number()) return "-";
  return fmt::format(fmt::runtime(format), summary.at(key).get<double>());
}

std::string plot_links(const std::vector<std::string>& plots) {
  std::string links;
  for (const auto& plot : plots) {
    const std::filesystem::path path(plot);
    const std::string parent = path.parent_path().filename().string();
    // A trial's plots are named after the best trial, the preset's own ones after themselves.
    const std::string label =
        parent.starts_with("trial") ? "best trial's " + path.stem().string() : path.stem().string();
    if (!links.empty()) links += ", ";
    links += fmt::format("[{}]({})", label, plot);
  }
  return links.empty() ? "-" : links;
}

}  // namespace

std::string format_report(const std::vector<PresetRecord>& records, double total_seconds, bool complete) {
  std::string text = "# two_layer_cyclic: the two-layer network with cyclical learning rates\n\n";
  text += complete ? fmt::format("Every preset ran, in {} of wall time in all.\n\n",
                                 train::format_duration(total_seconds))
                   : fmt::format("Incomplete: {} preset{} ran so far, in {} of wall time.\n\n", records.size(),
                                 records.size() == 1 ? "" : "s", train::format_duration(total_seconds));
  text += "Accuracies are fractions of each split classified correctly; a search's row is its best trial "
          "(highest validation accuracy). Wall time covers the whole preset: loading the data, training, "
          "evaluation and plots.\n\n";
  text += "| preset | lambda | n_s | cycles | steps | train acc. | validation acc. | test acc. | wall time | plots |\n";
  text += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : records) {
    const nlohmann::json& s = r.summary;
    std::vector<std::string> plots = r.plots;
    if (r.preset == "gradcheck") plots = {};
    const std::string name = r.search ? fmt::format("{} (best of {})", r.preset, r.search->trials.size()) : r.preset;
    if (r.preset == "gradcheck") {
      text += fmt::format("| gradcheck | 0 and > 0 | - | - | - | - | - | - | {} | [gradcheck.json]({}/gradcheck.json) |\n",
                          train::format_duration(r.wall_seconds), r.directory.generic_string());
      continue;
    }
    text += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", name, number(s, "lambda", "{:.3e}"),
                        number(s, "n_s", "{:.0f}"), number(s, "cycles", "{:.0f}"), number(s, "steps", "{:.0f}"),
                        percent(s, "train_accuracy"), percent(s, "val_accuracy"), percent(s, "test_accuracy"),
                        train::format_duration(r.wall_seconds), plot_links(plots));
  }
  text += "\n## Data\n\n";
  for (const auto& r : records) {
    if (r.summary.contains("data") && r.summary.at("data").is_string()) {
      text += fmt::format("- {}: {}\n", r.preset, r.summary.at("data").get<std::string>());
    }
  }
  for (const auto& r : records) {
    if (r.details.empty()) continue;
    text += fmt::format("\n## {}\n\n", r.preset == "gradcheck" ? "Gradient check (largest relative errors)"
                                                              : r.preset + " search, sorted by validation accuracy");
    if (r.search) {
      const train::SearchTimings& timings = r.search->timings;
      text += fmt::format("{} trials, {} at a time: {} of wall time, {} one after another (speed-up {:.2f}).\n\n",
                          r.search->trials.size(), timings.workers, train::format_duration(timings.wall_seconds),
                          train::format_duration(timings.trial_seconds_sum),
                          timings.wall_seconds > 0 ? timings.trial_seconds_sum / timings.wall_seconds : 0.0);
    }
    text += r.details;
  }
  return text;
}

}  // namespace tapegrad::apps::two_layer_cyclic
