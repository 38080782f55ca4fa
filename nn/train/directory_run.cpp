#include <tapegrad/nn/train/directory_run.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

namespace tapegrad::train {
namespace {

using Json = nlohmann::json;

// `text` as JSON; `what` names it in the error ("differing_entries: the first object").
Json parse_json(std::string_view text, std::string_view what) {
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw_error(fmt::format("{} is not JSON: '{}'", what, text));
  return value;
}

// The JSON in `path`, none when there is no such file; RunFileUnusable when it is not JSON.
std::optional<Json> read_json_file(RunFile kind, const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path);
  Json value = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw RunFileUnusable(kind, path, "the file is not valid JSON (it may have been edited)");
  }
  return value;
}

std::string text_of(const Json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>()
                                                                               : std::string();
}

// `entries` (a JSON object's text) with what summary.json records of `outcome`.
Json with_outcome(const std::string& entries, const Outcome& outcome) {
  Json summary = Json::parse(entries, nullptr, false);
  if (!summary.is_object()) {
    throw_error(fmt::format("DirectoryRun: a run's summary must be a JSON object, not '{}'", entries));
  }
  summary["status"] = status_of(outcome);
  summary["steps"] = outcome.steps;
  summary["epochs"] = outcome.stopped_epoch;
  summary["train_seconds"] = outcome.train_seconds;  // read back when the run is resumed
  summary["evaluation_seconds"] = outcome.evaluation_seconds;
  if (outcome.best_step >= 0) {  // early stopping
    summary["early_stopped"] = outcome.early_stopped;
    summary["stopped_epoch"] = outcome.stopped_epoch;
    summary["best_step"] = outcome.best_step;
  }
  return summary;
}

// The outcome that with_outcome recorded in a finished run's `summary`, with the run's `rows`.
Outcome outcome_of(const Json& summary, std::vector<MetricsRow> rows) {
  Outcome outcome;
  outcome.rows = std::move(rows);
  outcome.steps = summary.value("steps", 0L);
  outcome.stopped_epoch = summary.value("epochs", 0.0);
  outcome.train_seconds = summary.value("train_seconds", 0.0);
  outcome.evaluation_seconds = summary.value("evaluation_seconds", 0.0);
  outcome.early_stopped = text_of(summary, "status") == "early_stopped";
  outcome.best_step = summary.value("best_step", -1L);
  return outcome;
}

}  // namespace

std::vector<EntryDifference> differing_entries(std::string_view here, std::string_view there, bool both_ways) {
  const Json mine = parse_json(here, "differing_entries: the first object");
  const Json theirs = parse_json(there, "differing_entries: the second object");
  if (!mine.is_object()) throw_error(fmt::format("differing_entries: '{}' is not a JSON object", here));
  const auto value_in = [](const Json& object, const std::string& key) -> std::optional<std::string> {
    if (!object.is_object() || !object.contains(key)) return std::nullopt;
    return object[key].dump();
  };
  std::vector<EntryDifference> differences;
  for (const auto& [key, value] : mine.items()) {
    const auto other = value_in(theirs, key);
    if (!other || theirs[key] != value) differences.push_back({key, value.dump(), other});
  }
  if (both_ways && theirs.is_object()) {
    for (const auto& [key, value] : theirs.items())
      if (!mine.contains(key)) differences.push_back({key, std::nullopt, value.dump()});
  }
  return differences;
}

std::string describe_differences(const std::vector<EntryDifference>& differences, DifferenceWording wording) {
  const auto shown = [&](const std::optional<std::string>& value) {
    if (!value) return std::string(wording.absent);
    const Json parsed = Json::parse(*value, nullptr, false);
    return !wording.quote_text && parsed.is_string() ? parsed.get<std::string>() : *value;
  };
  std::string text;
  for (const EntryDifference& difference : differences) {
    if (!text.empty()) text += "; ";
    text += fmt::format("{} {} here but {} {}", difference.key, shown(difference.here), shown(difference.there),
                        wording.there);
  }
  return text;
}

RunSettingsDiffer::RunSettingsDiffer(std::filesystem::path directory_, std::vector<EntryDifference> differences_)
    : Error(fmt::format("cannot resume the run in '{}': it was made with other settings ({})", directory_.string(),
                        describe_differences(differences_))),
      directory(std::move(directory_)),
      differences(std::move(differences_)) {}

RunFileUnusable::RunFileUnusable(RunFile kind_, std::filesystem::path file_, std::string reason_)
    : Error(fmt::format("cannot resume from '{}': {}", file_.string(), reason_)),
      kind(kind_),
      file(std::move(file_)),
      reason(std::move(reason_)) {}

RunDiverged::RunDiverged(const std::string& message, std::filesystem::path directory_, std::string divergence_,
                         bool before_)
    : Error(message), directory(std::move(directory_)), divergence(std::move(divergence_)), before(before_) {}

RunInterrupted::RunInterrupted(const std::string& message, std::filesystem::path directory_, long step_,
                               long total_steps)
    : Error(message), directory(std::move(directory_)), step(step_), total_steps(total_steps) {}

const char* status_of(const Outcome& outcome) {
  if (outcome.diverged) return "diverged";
  if (outcome.interrupted) return "interrupted";
  return outcome.early_stopped ? "early_stopped" : "completed";
}

DirectoryRun::DirectoryRun(RunDirectory directory, std::string settings, DirectoryRunOptions options)
    : directory_(std::move(directory)), settings_(std::move(settings)), options_(std::move(options)) {
  // Checked here, not at the first comparison: the settings also go into every checkpoint.
  if (!parse_json(settings_, "DirectoryRun: the run's settings").is_object()) {
    throw_error(fmt::format("DirectoryRun: the run's settings must be a JSON object, not '{}'", settings_));
  }
  if (!options_.resume) return;
  // Reusing or continuing another run's results would silently mix two experiments.
  if (const auto recorded = read_json_file(RunFile::config, directory_.config_path())) {
    auto differences = differing_entries(settings_, recorded->dump());
    if (!differences.empty()) throw RunSettingsDiffer(directory_.root(), std::move(differences));
  }
  const std::optional<Json> summary = read_json_file(RunFile::summary, directory_.summary_path());
  const std::string status = summary ? text_of(*summary, "status") : std::string();
  if (status == "diverged") {
    const std::string message = text_of(*summary, "message");
    const std::string divergence = message.empty() ? "training diverged" : message;
    throw RunDiverged(fmt::format("{}: {} (the run in {} diverged before; resuming would repeat it)",
                                  options_.name, divergence, directory_.root().string()),
                      directory_.root(), divergence, /*before=*/true);
  }
  if (status == "completed" || status == "early_stopped") {
    // Read back without its checkpoint, which may have been deleted to save room.
    std::vector<MetricsRow> rows;
    try {
      rows = read_metrics_csv(directory_.metrics_path());
    } catch (const Error& error) {
      throw RunFileUnusable(RunFile::metrics, directory_.metrics_path(), error.what());
    }
    try {
      finished_ = FinishedRun{summary->dump(), rows, outcome_of(*summary, rows)};
    } catch (const Json::exception& error) {
      throw RunFileUnusable(RunFile::summary, directory_.summary_path(),
                            fmt::format("an entry of a finished run has the wrong type ({})", error.what()));
    }
    return;
  }
  std::error_code error;
  resumes_ = options_.checkpoints && std::filesystem::is_regular_file(directory_.checkpoint_path(), error);
  if (resumes_ && summary && summary->is_object()) earlier_train_seconds_ = summary->value("train_seconds", 0.0);
}

LoopOptions DirectoryRun::loop_options(LoopOptions options) const {
  options.metrics_path = directory_.metrics_path();
  if (options_.checkpoints) {
    options.checkpoint_path = directory_.checkpoint_path();
    options.best_state_path = directory_.root() / "best.bin";
    options.checkpoint_metadata[kSettingsKey] = settings_;
  }
  return options;
}

template <typename T>
Start<T> DirectoryRun::resume_point(Loop<T>& loop) const {
  const std::filesystem::path path = directory_.checkpoint_path();
  try {
    Start<T> start = loop.resume_from(path);
    start.restart_advice = options_.restart_advice;
    return start;
  } catch (const ForeignCheckpoint& foreign) {
    // Without config.json the checkpoint's own record of the settings is what refuses another run's.
    const Json saved = Json::parse(foreign.saved.value_or(""), nullptr, false);
    if (foreign.key == kSettingsKey && !saved.is_discarded()) {
      auto differences = differing_entries(settings_, saved.dump());
      if (!differences.empty()) throw RunSettingsDiffer(directory_.root(), std::move(differences));
    }
    throw RunFileUnusable(RunFile::checkpoint, path, foreign.what());  // the same settings, yet another record
  } catch (const WriteError&) {
    throw;  // writing the best state again failed: the disk, not the checkpoint
  } catch (const Error& error) {
    throw RunFileUnusable(RunFile::checkpoint, path, error.what());
  }
}

template <typename T>
Outcome DirectoryRun::train(Loop<T>& loop,
                            const std::function<std::string(const Outcome&)>& unfinished_summary) const {
  Start<T> start;
  if (resumes_) {
    start = resume_point(loop);
    if (options_.log) {
      options_.log(fmt::format("{}: resuming at step {} from {}", options_.name, start.step,
                               directory_.checkpoint_path().string()));
    }
  }
  Outcome outcome = loop.run(start);
  outcome.train_seconds += earlier_train_seconds_;
  if (outcome.diverged || outcome.interrupted) {
    end_unfinished(outcome, loop.options().total_steps,
                   unfinished_summary ? unfinished_summary(outcome) : std::string("{}"));
  }
  return outcome;
}

std::string DirectoryRun::finish(const Outcome& outcome, const std::string& entries) const {
  const std::string text = json_file_text(with_outcome(entries, outcome));
  write_file_atomically(directory_.summary_path(), text);
  return text;
}

void DirectoryRun::end_unfinished(const Outcome& outcome, long total_steps, const std::string& entries) const {
  Json summary = with_outcome(entries, outcome);
  summary["message"] = outcome.diverged ? outcome.divergence : "stopped by a signal";
  directory_.write_summary(summary);
  const std::filesystem::path& root = directory_.root();
  if (outcome.diverged) {
    throw RunDiverged(fmt::format("{}: {}; metrics so far are in {} and the last good checkpoint in {}",
                                  options_.name, outcome.divergence, directory_.metrics_path().string(),
                                  directory_.checkpoint_path().string()),
                      root, outcome.divergence, /*before=*/false);
  }
  throw RunInterrupted(fmt::format("{}: interrupted at step {} of {}; checkpoint saved in {}", options_.name,
                                   outcome.steps, total_steps, directory_.checkpoint_path().string()),
                       root, outcome.steps, total_steps);
}

template Outcome DirectoryRun::train<float>(Loop<float>&, const std::function<std::string(const Outcome&)>&) const;
template Outcome DirectoryRun::train<double>(Loop<double>&, const std::function<std::string(const Outcome&)>&) const;

}  // namespace tapegrad::train
