#include "apps/common/results.h"

#include <algorithm>

#include <tapegrad/core/atomic_file.h>
#include <tapegrad/nn/train/csv.h>

namespace tapegrad::apps {

using train::CsvCell;
using train::csv_line;

std::vector<TrialRecord> ranked(std::vector<TrialRecord> trials) {
  std::stable_sort(trials.begin(), trials.end(), [](const TrialRecord& a, const TrialRecord& b) {
    if (a.completed != b.completed) return a.completed;
    return a.completed && a.val_accuracy > b.val_accuracy;
  });
  return trials;
}

nlohmann::json trial_record_json(const TrialRecord& t, int rank) {
  const nlohmann::json none = nullptr;
  auto if_completed = [&](double value) { return t.completed ? nlohmann::json(value) : none; };
  nlohmann::json json = {{"rank", rank},
          {"name", t.name},
          {"lambda", t.lambda},
          {"eta", t.eta ? nlohmann::json(*t.eta) : none},
          {"batch_size", t.batch_size ? nlohmann::json(*t.batch_size) : none},
          {"completed", t.completed},
          {"train_accuracy", if_completed(t.train_accuracy)},
          {"val_accuracy", if_completed(t.val_accuracy)},
          {"test_accuracy", if_completed(t.test_accuracy)},
          {"steps", t.steps},
          {"train_seconds", t.train_seconds},
          {"wall_seconds", t.wall_seconds},
          {"error", t.error}};
  for (const auto& [key, value] : t.extra.items()) json[key] = value;
  return json;
}

namespace {

std::string results_csv(const std::vector<TrialRecord>& trials) {
  std::vector<CsvCell> header(kResultColumns.begin(), kResultColumns.end());
  std::string text = csv_line(header);
  int rank = 0;
  for (const TrialRecord& t : trials) {
    auto if_completed = [&](double value) { return t.completed ? CsvCell(value) : CsvCell(""); };
    text += csv_line({CsvCell(++rank), CsvCell(t.name), CsvCell(t.lambda), t.eta ? CsvCell(*t.eta) : CsvCell(""),
                     t.batch_size ? CsvCell(*t.batch_size) : CsvCell(""), CsvCell(t.completed ? "true" : "false"),
                     if_completed(t.train_accuracy), if_completed(t.val_accuracy), if_completed(t.test_accuracy),
                     CsvCell(t.steps), CsvCell(t.train_seconds), CsvCell(t.wall_seconds), CsvCell(t.error)});
  }
  return text;
}

}  // namespace

void write_results(const RunDirectory& directory, const std::string& name, const std::vector<TrialRecord>& trials,
                   const SearchTimings& timings, const nlohmann::json& extra) {
  nlohmann::json json = {{"name", name}, {"trials", nlohmann::json::array()}};
  int rank = 0;
  for (const TrialRecord& t : trials) json["trials"].push_back(trial_record_json(t, ++rank));
  json["workers"] = timings.workers;
  json["wall_seconds"] = timings.wall_seconds;
  json["trial_seconds_sum"] = timings.trial_seconds_sum;
  json["speedup"] = timings.wall_seconds > 0 ? timings.trial_seconds_sum / timings.wall_seconds : 1.0;
  const auto best = std::ranges::find_if(trials, [](const TrialRecord& t) { return t.completed; });
  json["best"] = best == trials.end() ? nlohmann::json(nullptr) : nlohmann::json(best->name);
  for (const auto& [key, value] : extra.items()) json[key] = value;
  write_file_atomically(directory.root() / "results.csv", results_csv(trials));
  write_file_atomically(directory.root() / "results.json", json.dump(2) + "\n");
}

}  // namespace tapegrad::apps
