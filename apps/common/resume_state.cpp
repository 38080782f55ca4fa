#include "apps/common/resume_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apps/common/app_error.h"
#include "apps/common/hints.h"
#include "apps/common/shard.h"
#include <tapegrad/nn/train/run_checkpoint.h>
#include <tapegrad/nn/train/csv.h>

namespace tapegrad::apps {

const std::vector<std::string> kMetricsColumns = {"step",       "epoch",          "learning_rate",
                                                  "train_loss", "train_cost",     "train_accuracy",
                                                  "val_loss",   "val_cost",       "val_accuracy"};

namespace {

std::atomic<bool> resume_flag{false};

std::optional<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path);
  nlohmann::json value = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw UsageError(fmt::format("cannot resume from '{}': the file is not valid JSON (it may have been edited); "
                                 "start the run again without --resume",
                                 path.string()));
  }
  return value;
}

// The settings recorded in the directory (config.json) must be those of this run: reusing or continuing another
// run's results would silently mix two experiments.
void check_same_run(const nlohmann::json& key, const RunDirectory& directory) {
  const auto recorded = read_json_file(directory.config_path());
  if (!recorded) return;  // nothing recorded: the checkpoint's own key is checked instead
  std::vector<std::string> differences;
  for (const auto& [name, value] : key.items()) {
    if (!recorded->contains(name) || (*recorded)[name] != value) {
      differences.push_back(fmt::format("{} {} here but {} in the directory", name, value.dump(),
                                        recorded->contains(name) ? (*recorded)[name].dump() : "nothing"));
    }
  }
  if (!differences.empty()) {
    throw UsageError(fmt::format("cannot resume the run in '{}': it was made with other settings ({})",
                                 directory.root().string(), fmt::join(differences, "; ")),
                     "resume with the flags of the original run, or give a new --out directory");
  }
}

// Runs `load`, which reads a run's checkpoint: a library error (a damaged or foreign file) becomes a Failure with
// the hint that says how to go on; the apps' own errors (a damaged metrics.csv) pass as they are.
template <class Load>
decltype(auto) as_damaged_checkpoint(Load&& load) {
  try {
    return std::forward<Load>(load)();
  } catch (const AppError&) {
    throw;
  } catch (const Error& error) {
    throw Failure(error.what(), hints::damaged_checkpoint);
  }
}

// metrics.csv read back: the rows of the evaluations a run made, exactly as written (CsvCell writes every number
// in a form that reads back to the same double).
std::vector<MetricsRow> read_metrics(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Failure(fmt::format("cannot resume: '{}' is missing or unreadable", path.string()), hints::damaged_metrics);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<MetricsRow> rows;
  std::size_t begin = text.find('\n');
  if (begin == std::string::npos) return rows;
  ++begin;
  long line_number = 1;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) break;  // a row cut off by a crash: not part of the run
    ++line_number;
    std::vector<double> values;
    std::size_t field = begin;
    while (field <= end) {
      const std::size_t comma = std::min(text.find(',', field), end);
      const std::string cell = text.substr(field, comma - field);
      char* parsed_end = nullptr;
      values.push_back(std::strtod(cell.c_str(), &parsed_end));
      if (cell.empty() || parsed_end != cell.c_str() + cell.size()) {
        throw Failure(fmt::format("cannot resume: '{}' line {} holds '{}' where a number belongs", path.string(),
                                  line_number, cell),
                      hints::damaged_metrics);
      }
      field = comma + 1;
    }
    if (values.size() != kMetricsColumns.size()) {
      throw Failure(fmt::format("cannot resume: '{}' line {} has {} fields instead of {}", path.string(),
                                line_number, values.size(), kMetricsColumns.size()),
                    hints::damaged_metrics);
    }
    rows.push_back(train::metrics_row_from_fields(values));
    begin = end + 1;
  }
  return rows;
}

Evaluation evaluation_from_json(const nlohmann::json& e) {
  return {e.at("loss").get<double>(), e.at("cost").get<double>(), e.at("accuracy").get<double>()};
}

// A run that already finished in this directory, read back instead of trained again.
std::optional<ExperimentResult> finished_run(const ExperimentSettings& s, const RunDirectory& directory,
                                            const nlohmann::json& summary) {
  const std::string status = summary.value("status", "");
  if (status == "diverged") {
    throw Diverged(fmt::format("{}: {} (the run in {} diverged before; resuming would repeat it)", s.name,
                               summary.value("message", "training diverged"), directory.root().string()));
  }
  if (status != "completed" && status != "early_stopped") return std::nullopt;
  try {
    ExperimentResult result;
    result.settings = s;
    result.directory = directory.root();
    result.summary = summary;
    result.train = evaluation_from_json(summary.at("train"));
    result.validation = evaluation_from_json(summary.at("validation"));
    result.test = evaluation_from_json(summary.at("test"));
    result.weight_norms = summary.at("weight_norms").get<std::vector<double>>();
    TrainingOutcome& outcome = result.outcome;
    outcome.rows = read_metrics(directory.metrics_path());
    outcome.steps = summary.at("steps").get<long>();
    outcome.stopped_epoch = summary.at("epochs").get<double>();
    outcome.train_seconds = summary.at("train_seconds").get<double>();
    outcome.evaluation_seconds = summary.at("evaluation_seconds").get<double>();
    outcome.early_stopped = status == "early_stopped";
    outcome.best_step = summary.value("best_step", -1L);
    spdlog::info("{}: already finished in {} (test {:.2f}%); kept", s.name, directory.root().string(),
                 100 * result.test.accuracy);
    return result;
  } catch (const nlohmann::json::exception& error) {
    throw UsageError(fmt::format("cannot resume from '{}': it lacks a field a finished run writes ({})",
                                 directory.summary_path().string(), error.what()),
                     "start the run again without --resume");
  }
}

// The state a resumed run continues from: the checkpoint's weights, optimizer and loader, the evaluations it
// made, and with early stopping the best weights so far (best.bin).
template <typename T>
train::Start<T> restore_checkpoint(const train::Checkpoint<T>& checkpoint, const ExperimentSettings& s,
                             const RunDirectory& directory, Classifier<T>& model, optim::Optimizer<T>& optimizer,
                             data::BatchLoader<T>& loader) {
  train::restore_run(checkpoint, model.module(), optimizer, loader);

  train::Start<T> start;
  start.step = static_cast<long>(checkpoint.step);
  start.restart_advice = "start the run again without --resume";
  for (const MetricsRow& row : read_metrics(directory.metrics_path())) {
    if (row.step <= start.step) start.rows.push_back(row);
  }

  // Every evaluation made a best first (a NaN would have stopped training), so one was saved in best.bin; train()
  // checks that it is the best of these rows.
  if (s.patience > 0 && !start.rows.empty()) {
    const auto best = train::load_checkpoint<T>(directory.root() / "best.bin");
    for (const auto& entry : best.module_state) start.best_state.push_back(entry.value);
    start.best_step = static_cast<long>(best.step);
  }
  spdlog::info("{}: resuming at step {} from {}", s.name, start.step, checkpoint.source.string());
  return start;
}

}  // namespace

void set_resume_mode(bool on) { resume_flag.store(on); }

// A shard continues what its trials left in --out, like a resume: a shard started again (a requeued array task)
// keeps its finished trials, continues the interrupted ones and refuses a trial directory of other settings.
bool resume_mode() { return resume_flag.load() || active_shard().has_value(); }

nlohmann::json resume_key(const ExperimentSettings& s, const ExperimentData& d) {
  nlohmann::json key = s.to_json();
  key.erase("threads");
  key["data"] = d.description;
  key["train_examples"] = d.train->size();
  key["validation_examples"] = d.validation->size();
  key["test_examples"] = d.test->size();
  return key;
}

template <typename T>
ResumePoint<T> find_resume_point(const ExperimentSettings& s, const nlohmann::json& key, const RunDirectory& directory) {
  ResumePoint<T> point;
  check_same_run(key, directory);
  if (const auto summary = read_json_file(directory.summary_path())) {
    point.finished = finished_run(s, directory, *summary);
    if (point.finished) return point;
    point.earlier_train_seconds = summary->value("train_seconds", 0.0);
  }
  std::error_code error;
  if (!std::filesystem::is_regular_file(directory.checkpoint_path(), error)) return point;
  point.checkpoint = as_damaged_checkpoint([&] { return train::load_checkpoint<T>(directory.checkpoint_path()); });
  if (nlohmann::json::parse(point.checkpoint->metadata_value("config"), nullptr, false) != key) {
    throw UsageError(fmt::format("cannot resume from '{}': its run had other settings than this one",
                                 directory.checkpoint_path().string()),
                     "resume with the flags of the original run, or give a new --out directory");
  }
  return point;
}

template <typename T>
train::Start<T> restore_run(const train::Checkpoint<T>& checkpoint, const ExperimentSettings& s,
                             const RunDirectory& directory, Classifier<T>& model, optim::Optimizer<T>& optimizer,
                             data::BatchLoader<T>& loader) {
  return as_damaged_checkpoint([&] { return restore_checkpoint(checkpoint, s, directory, model, optimizer, loader); });
}

template ResumePoint<float> find_resume_point<float>(const ExperimentSettings&, const nlohmann::json&,
                                                     const RunDirectory&);
template ResumePoint<double> find_resume_point<double>(const ExperimentSettings&, const nlohmann::json&,
                                                       const RunDirectory&);
template train::Start<float> restore_run<float>(const train::Checkpoint<float>&, const ExperimentSettings&,
                                                 const RunDirectory&, Classifier<float>&, optim::Optimizer<float>&,
                                                 data::BatchLoader<float>&);
template train::Start<double> restore_run<double>(const train::Checkpoint<double>&, const ExperimentSettings&,
                                                   const RunDirectory&, Classifier<double>&,
                                                   optim::Optimizer<double>&, data::BatchLoader<double>&);

}  // namespace tapegrad::apps
