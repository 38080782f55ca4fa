#include <fmt/format.h>
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/error.h>
#include <tapegrad/nn/plot/plot.h>
#include <tapegrad/nn/train/csv.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/search.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace tapegrad::train {
namespace {

using Json = nlohmann::json;

Json trial_json(const TrialRecord& t, int rank) {
  const Json none = nullptr;
  auto if_completed = [&](double value) { return t.completed ? Json(value) : none; };
  Json json = {{"rank", rank},
               {"name", t.name},
               {"lambda", t.lambda},
               {"eta", t.eta ? Json(*t.eta) : none},
               {"batch_size", t.batch_size ? Json(*t.batch_size) : none},
               {"completed", t.completed},
               {"train_accuracy", if_completed(t.train_accuracy)},
               {"val_accuracy", if_completed(t.val_accuracy)},
               {"test_accuracy", if_completed(t.test_accuracy)},
               {"steps", t.steps},
               {"train_seconds", t.train_seconds},
               {"wall_seconds", t.wall_seconds},
               {"error", t.error}};
  if (t.index) json["index"] = *t.index;
  if (t.log10_lambda) json["log10_lambda"] = *t.log10_lambda;
  // Only when set, so that the files of a lambda search stay as they were.
  for (const auto& [key, value] : t.settings) json["settings"].push_back({{"name", key}, {"value", value}});
  return json;
}

// The setting names of `trials` that results.csv adds columns for, in the order first seen.
std::vector<std::string> extra_columns(const std::vector<TrialRecord>& trials) {
  std::vector<std::string> names;
  for (const TrialRecord& t : trials) {
    for (const auto& setting : t.settings) {
      if (std::ranges::find(kResultColumns, setting.first) == kResultColumns.end() &&
          std::ranges::find(names, setting.first) == names.end()) {
        names.push_back(setting.first);
      }
    }
  }
  return names;
}

std::string results_csv(const std::vector<TrialRecord>& trials) {
  const std::vector<std::string> extra = extra_columns(trials);
  std::vector<CsvCell> header(kResultColumns.begin(), kResultColumns.end());
  header.insert(header.end(), extra.begin(), extra.end());
  std::string text = csv_line(header);
  int rank = 0;
  for (const TrialRecord& t : trials) {
    auto if_completed = [&](double value) { return t.completed ? CsvCell(value) : CsvCell(""); };
    std::vector<CsvCell> row = {CsvCell(++rank),
                                CsvCell(t.name),
                                CsvCell(t.lambda),
                                t.eta ? CsvCell(*t.eta) : CsvCell(""),
                                t.batch_size ? CsvCell(*t.batch_size) : CsvCell(""),
                                CsvCell(t.completed ? "true" : "false"),
                                if_completed(t.train_accuracy),
                                if_completed(t.val_accuracy),
                                if_completed(t.test_accuracy),
                                CsvCell(t.steps),
                                CsvCell(t.train_seconds),
                                CsvCell(t.wall_seconds),
                                CsvCell(t.error)};
    for (const std::string& name : extra) {
      const std::optional<double> value = setting_of(t, name);
      row.push_back(value ? CsvCell(*value) : CsvCell(""));
    }
    text += csv_line(row);
  }
  return text;
}

template <typename Value>
Value required(const Json& json, const char* key, const std::string& where) {
  if (!json.is_object() || !json.contains(key)) throw_error(fmt::format("{}: '{}' is missing", where, key));
  try {
    return json.at(key).get<Value>();
  } catch (const Json::exception& error) {
    throw_error(fmt::format("{}: '{}' has the wrong type ({})", where, key, error.what()));
  }
}

template <typename Value>
std::optional<Value> optional(const Json& json, const char* key) {
  if (!json.contains(key) || json.at(key).is_null()) return std::nullopt;
  return json.at(key).get<Value>();
}

TrialRecord trial_from_json(const Json& item, const std::string& where) {
  TrialRecord t;
  // "directory" and "message": the keys of the apps' searches before this format.
  t.name = item.is_object() ? item.value("name", item.value("directory", std::string())) : std::string();
  t.lambda = required<double>(item, "lambda", where);
  t.completed = required<bool>(item, "completed", where);
  if (t.completed) {
    t.train_accuracy = required<double>(item, "train_accuracy", where);
    t.val_accuracy = required<double>(item, "val_accuracy", where);
    t.test_accuracy = required<double>(item, "test_accuracy", where);
  }
  try {
    t.error = item.value("error", item.value("message", std::string()));
    t.eta = optional<double>(item, "eta");
    t.batch_size = optional<long>(item, "batch_size");
    t.steps = item.value("steps", 0L);
    t.train_seconds = item.value("train_seconds", 0.0);
    t.wall_seconds = item.value("wall_seconds", 0.0);
    t.index = optional<int>(item, "index");
    t.log10_lambda = optional<double>(item, "log10_lambda");
    for (const Json& setting : item.value("settings", Json::array())) {
      t.settings.emplace_back(setting.at("name").get<std::string>(), setting.at("value").get<double>());
    }
  } catch (const Json::exception& error) {
    throw_error(fmt::format("{}: a key has the wrong type ({})", where, error.what()));
  }
  return t;
}

Json space_json(const SearchSpace& space) {
  return {{"name", space.parameter},
          {"min", space.range.low},
          {"max", space.range.high},
          {"log_scale", space.log_scale},
          {"integer", space.integer}};
}

SearchSpace space_from_json(const Json& json, const std::string& where) {
  const std::string here = where + ": parameter";
  return {.parameter = required<std::string>(json, "name", here),
          .range = {required<double>(json, "min", here), required<double>(json, "max", here)},
          .log_scale = required<bool>(json, "log_scale", here),
          .integer = required<bool>(json, "integer", here)};
}

SearchResults results_from_json(const Json& json, const std::string& where) {
  if (!json.is_object()) throw_error(where + ": not a JSON object");
  SearchResults results;
  results.name = required<std::string>(json, "name", where);
  results.timings = {json.value("workers", 1), json.value("wall_seconds", 0.0),
                     json.value("trial_seconds_sum", 0.0)};
  if (!json.contains("trials") || !json.at("trials").is_array()) throw_error(where + ": 'trials' is not a list");
  for (const Json& item : json.at("trials")) {
    results.trials.push_back(trial_from_json(item, fmt::format("{}: trial {}", where, results.trials.size() + 1)));
  }
  if (json.contains("search")) results.kind = json.at("search") == "grid" ? SearchKind::grid : SearchKind::random;
  if (json.contains("log_lambda_min") || json.contains("log_lambda_max")) {
    results.log10_range = {required<double>(json, "log_lambda_min", where),
                           required<double>(json, "log_lambda_max", where)};
  }
  if (json.contains("parameter")) results.space = space_from_json(json.at("parameter"), where);
  for (const auto& [key, value] : json.items()) {
    static const std::set<std::string> known = {
        "name", "trials", "workers",        "wall_seconds",   "trial_seconds_sum", "speedup",
        "best", "search", "log_lambda_min", "log_lambda_max", "parameter"};
    if (known.contains(key)) continue;
    if (value.is_boolean()) results.fields[key] = value.get<bool>();
    if (value.is_number_integer()) results.fields[key] = value.get<long>();
    if (value.is_number_float()) results.fields[key] = value.get<double>();
    if (value.is_string()) results.fields[key] = value.get<std::string>();
  }
  results.trials = ranked(std::move(results.trials));
  return results;
}

}  // namespace

std::vector<double> search_points(double low, double high, int count, SearchKind kind, Generator& generator) {
  if (count < 1) throw_error(fmt::format("search_points: {} points asked for; give a count of at least 1", count));
  if (!(low <= high)) {
    throw_error(fmt::format(
        "search_points: the range [{}, {}] is empty; give a low end <= the high end, neither NaN", low, high));
  }
  std::vector<double> points;
  for (int i = 0; i < count; ++i) {
    if (kind == SearchKind::random) {
      points.push_back(generator.uniform(low, high));
    } else {
      points.push_back(count == 1 ? (low + high) / 2 : low + (high - low) * i / (count - 1));
    }
  }
  return points;
}

std::string Shard::text() const { return fmt::format("{}/{}", index, count); }

Shard Shard::parse(std::string_view text) {
  const auto whole_number = [](std::string_view digits) -> std::optional<int> {
    int value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    return value;
  };
  const auto slash = text.find('/');
  const std::optional<int> index = slash == text.npos ? std::nullopt : whole_number(text.substr(0, slash));
  const std::optional<int> count = slash == text.npos ? std::nullopt : whole_number(text.substr(slash + 1));
  if (!index || !count) {
    throw_error(
        fmt::format("'{}' is not of the form K/N (this process's shard K of N, two whole numbers with "
                    "0 <= K < N)",
                    text));
  }
  const Shard shard{*index, *count};
  shard.check();
  return shard;
}

void Shard::check() const {
  if (count >= 1 && index >= 0 && index < count) return;
  throw_error(fmt::format("{} is out of range; allowed: a shard K/N with N >= 1 and 0 <= K < N ({})", text(),
                          count >= 1 ? fmt::format("with N = {} shards, K runs from 0 to {}", count, count - 1)
                                     : std::string("N counts the shards, so it is at least 1")));
}

TrialRuns run_trials(const RunDirectory& directory, const std::vector<std::string>& names,
                     const TrialsOptions& options,
                     const std::function<void(std::size_t, const RunDirectory&)>& trial) {
  if (options.shard) options.shard->check();
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!options.shard || options.shard->keeps(i)) mine.push_back(i);
  }
  // A shard started twice by mistake (or a requeued array task beside the one still running) is refused before it
  // writes a byte, rather than mixing two trials' files.
  std::vector<std::optional<RunDirectory>> trial_directories(names.size());
  if (options.shard) {
    for (const std::size_t i : mine) {
      trial_directories[i].emplace(directory.sub_run(names[i]));
      trial_directories[i]->lock();
    }
  }
  const auto on_end = [&](std::size_t i, const TrialRun& run, std::size_t ended) {
    if (options.on_trial_end) options.on_trial_end(i, run, ended, mine.size());
  };
  TrialRuns runs = run_side_by_side(
      names.size(), {.workers = options.workers, .indices = mine, .on_trial_end = on_end}, [&](std::size_t i) {
        trial(i, trial_directories[i] ? *trial_directories[i] : directory.sub_run(names[i]));
      });
  for (const std::size_t i : mine) {
    if (!runs.trials[i].started) runs.trials[i].error = "not started: the sweep was interrupted";
  }
  return runs;
}

std::vector<TrialRecord> log_lambda_trials(const std::vector<double>& log10_lambdas) {
  std::vector<TrialRecord> trials;
  for (std::size_t i = 0; i < log10_lambdas.size(); ++i) {
    TrialRecord& t = trials.emplace_back();
    t.index = static_cast<int>(i) + 1;
    t.log10_lambda = log10_lambdas[i];
    t.lambda = std::pow(10.0, log10_lambdas[i]);
    t.name = fmt::format("trial{:02d}_lambda{:.4e}", i + 1, t.lambda);
  }
  return trials;
}

std::optional<double> setting_of(const TrialRecord& trial, const std::string& key) {
  const auto found = std::ranges::find(trial.settings, key, &std::pair<std::string, double>::first);
  if (found != trial.settings.end()) return found->second;
  if (key == "lambda") return trial.lambda;
  if (key == "eta") return trial.eta;
  if (key == "batch_size" && trial.batch_size) return static_cast<double>(*trial.batch_size);
  return std::nullopt;
}

std::vector<std::string> names_of(const std::vector<TrialRecord>& trials) {
  std::vector<std::string> names;
  for (const TrialRecord& t : trials) names.push_back(t.name);
  return names;
}

double log10_lambda_of(const TrialRecord& trial) {
  return trial.log10_lambda ? *trial.log10_lambda : std::log10(trial.lambda);
}

std::vector<TrialRecord> ranked(std::vector<TrialRecord> trials) {
  std::stable_sort(trials.begin(), trials.end(), [](const TrialRecord& a, const TrialRecord& b) {
    if (a.completed != b.completed) return a.completed;
    return a.completed && a.val_accuracy > b.val_accuracy;
  });
  return trials;
}

const TrialRecord& SearchResults::best() const {
  const auto best = std::ranges::find_if(trials, [](const TrialRecord& t) { return t.completed; });
  if (best == trials.end()) throw_error(fmt::format("the {} search has no completed trial", name));
  return *best;
}

std::map<std::string, ResultValue> search_summary(const SearchResults& results) {
  const SearchTimings& timings = results.timings;
  std::map<std::string, ResultValue> summary = {
      {"name", results.name},
      {"trials", static_cast<long>(results.trials.size())},
      {"completed_trials", static_cast<long>(std::ranges::count_if(results.trials, &TrialRecord::completed))},
      {"workers", long{timings.workers}},
      {"wall_seconds", timings.wall_seconds},
      {"trial_seconds_sum", timings.trial_seconds_sum},
      {"speedup", timings.speedup()}};
  if (results.log10_range) {
    summary.insert({{"log_lambda_min", results.log10_range->low}, {"log_lambda_max", results.log10_range->high}});
  }
  if (std::get<long>(summary["completed_trials"]) > 0) {
    const TrialRecord& best = results.best();
    summary.insert({{"best_lambda", best.lambda},
                    {"best_log10_lambda", log10_lambda_of(best)},
                    {"lambda", best.lambda},
                    {"train_accuracy", best.train_accuracy},
                    {"val_accuracy", best.val_accuracy},
                    {"test_accuracy", best.test_accuracy},
                    {"train_seconds", best.train_seconds},
                    {"steps", best.steps},
                    {"best_directory", best.name}});
    // A search over another parameter: its best value, and no lambda it did not search (log10 of 0 is -inf).
    if (results.space) {
      if (results.space->parameter != "lambda") {
        for (const char* key : {"best_lambda", "best_log10_lambda", "lambda"}) summary.erase(key);
      }
      summary["best_" + results.space->parameter] = *setting_of(best, results.space->parameter);
    }
  }
  return summary;
}

Range fine_range(double centre, double width, const SearchResults* coarse) {
  auto centred = [centre](double w) { return Range{centre - w / 2, centre + w / 2}; };
  if (width > 0) return centred(width);
  if (coarse == nullptr) return centred(kDefaultFineWidth);
  if (!coarse->log10_range) throw_error(fmt::format("fine_range: the {} search has no log10 range", coarse->name));
  Range span{centre, centre};
  int taken = 0;
  for (const TrialRecord& t : coarse->trials) {
    if (!t.completed || taken == 3) continue;
    span = {std::min(span.low, log10_lambda_of(t)), std::max(span.high, log10_lambda_of(t))};
    ++taken;
  }
  // Narrower than the coarse range, or it is not a finer search: a flat coarse curve puts its best three apart.
  const double widest = std::max(kMinimumFineWidth, (coarse->log10_range->high - coarse->log10_range->low) / 2);
  if (span.high - span.low < kMinimumFineWidth) return centred(kMinimumFineWidth);
  if (span.high - span.low > widest) return centred(widest);
  return span;
}

SearchResults plan_lambda_search(const std::string& name, SearchKind kind, Range range, int count,
                                 Generator& generator) {
  return {.name = name,
          .trials = log_lambda_trials(search_points(range.low, range.high, count, kind, generator)),
          .kind = kind,
          .log10_range = range};
}

SearchResults plan_search(const std::string& name, const SearchSpace& space, SearchKind kind, int count,
                          Generator& generator) {
  const std::string& parameter = space.parameter;
  const bool plain = !parameter.empty() && std::ranges::all_of(parameter, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (!plain) {
    throw_error(
        fmt::format("plan_search: the parameter name '{}' names the trials' directories; give a plain word "
                    "of letters, digits, '_' or '-' (such as \"eta\" or \"hidden\")",
                    parameter));
  }
  SearchResults search{.name = name, .kind = kind, .space = space};
  const std::vector<double> points = search_points(space.range.low, space.range.high, count, kind, generator);
  for (std::size_t i = 0; i < points.size(); ++i) {
    double value = space.log_scale ? std::pow(10.0, points[i]) : points[i];
    if (space.integer) value = std::round(value);
    TrialRecord& t = search.trials.emplace_back();
    t.index = static_cast<int>(i) + 1;
    t.settings = {{parameter, value}};
    t.name = space.integer ? fmt::format("trial{:02d}_{}{}", i + 1, parameter, static_cast<long>(value))
                           : fmt::format("trial{:02d}_{}{:.4e}", i + 1, parameter, value);
    // The fixed fields too, so that code (and results.csv's columns) reading them sees the value.
    if (parameter == "lambda") t.lambda = value;
    if (parameter == "eta") t.eta = value;
    if (parameter == "batch_size") t.batch_size = std::lround(value);
  }
  return search;
}

SearchResults collect_results(SearchResults search, const TrialRuns& runs) {
  if (search.trials.size() != runs.trials.size()) {
    throw_error(fmt::format("collect_results: {} trials but {} runs", search.trials.size(), runs.trials.size()));
  }
  for (std::size_t i = 0; i < search.trials.size(); ++i) {
    search.trials[i].completed = runs.trials[i].completed;
    search.trials[i].error = runs.trials[i].error;
    search.trials[i].wall_seconds = runs.trials[i].seconds;
  }
  search.trials = ranked(std::move(search.trials));
  search.timings = {runs.workers, runs.wall_seconds, runs.trial_seconds_sum};
  return search;
}

void write_results(const RunDirectory& directory, const SearchResults& results) {
  const SearchTimings& timings = results.timings;
  Json json = {{"name", results.name}, {"trials", Json::array()}};
  int rank = 0;
  for (const TrialRecord& t : results.trials) json["trials"].push_back(trial_json(t, ++rank));
  json["workers"] = timings.workers;
  json["wall_seconds"] = timings.wall_seconds;
  json["trial_seconds_sum"] = timings.trial_seconds_sum;
  json["speedup"] = timings.speedup();
  const auto best = std::ranges::find_if(results.trials, [](const TrialRecord& t) { return t.completed; });
  json["best"] = best == results.trials.end() ? Json(nullptr) : Json(best->name);
  if (results.kind) json["search"] = *results.kind == SearchKind::random ? "random" : "grid";
  if (results.log10_range) {
    json["log_lambda_min"] = results.log10_range->low;
    json["log_lambda_max"] = results.log10_range->high;
  }
  if (results.space) json["parameter"] = space_json(*results.space);
  for (const auto& field : results.fields) {
    std::visit([&json, &field](const auto& v) { json[field.first] = v; }, field.second);
  }
  write_file_atomically(directory.root() / "results.csv", results_csv(results.trials));
  write_json_atomically(directory.root() / "results.json", json);
}

SearchResults read_results(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw_error(fmt::format("cannot read {}", file.string()));
  try {
    return results_from_json(Json::parse(text.str()), file.string());
  } catch (const Json::exception& error) {
    throw_error(fmt::format("{} is not valid JSON: {}", file.string(), error.what()));
  }
}

std::string default_shown_value(const SearchResults& results) {
  const std::vector<TrialRecord>& trials = results.trials;
  if (results.space) return results.space->parameter;
  const bool over_lambda = std::ranges::all_of(
      trials, [](const TrialRecord& t) { return t.settings.empty() && (t.log10_lambda || t.lambda > 0); });
  if (results.log10_range || (!trials.empty() && over_lambda)) return "lambda";
  if (!trials.empty() && !trials.front().settings.empty()) return trials.front().settings.front().first;
  // A search built by hand with a fixed field set per trial.
  for (const char* key : {"eta", "batch_size"}) {
    const std::optional<double> first = trials.empty() ? std::nullopt : setting_of(trials.front(), key);
    const bool all =
        std::ranges::all_of(trials, [&](const TrialRecord& t) { return setting_of(t, key).has_value(); });
    const bool varies =
        std::ranges::any_of(trials, [&](const TrialRecord& t) { return setting_of(t, key) != first; });
    if (first && all && varies) return key;
  }
  return "name";
}

namespace {

std::string shown_or_default(const SearchResults& results, const std::string& asked) {
  return asked.empty() ? default_shown_value(results) : asked;
}

double value_shown(const TrialRecord& trial, const std::string& key, const std::string& caller) {
  const std::optional<double> value = setting_of(trial, key);
  if (value) return *value;
  std::string known = "lambda";
  for (const auto& setting : trial.settings) known += ", " + setting.first;
  if (trial.eta) known += ", eta";
  if (trial.batch_size) known += ", batch_size";
  throw_error(fmt::format("{}: trial {} has no value '{}'; give one it has ({}) or \"name\"", caller, trial.name,
                          key, known));
}

// Today's table of a lambda search, as the apps' reports pin it.
std::string lambda_table(const SearchResults& results, bool markdown) {
  std::string text = markdown
                         ? "| rank | log10 lambda | lambda | train acc. | validation acc. | test acc. | wall time "
                           "|\n|---:|---:|---:|---:|---:|---:|---:|\n"
                         : fmt::format("{:>4} {:>12} {:>11} {:>10} {:>10} {:>10} {:>9}\n", "rank", "log10 lambda",
                                       "lambda", "train", "validation", "test", "time");
  int rank = 0;
  for (const TrialRecord& t : results.trials) {
    const auto percent = [&t](double fraction) {
      return t.completed ? fmt::format("{:.2f}%", 100 * fraction) : std::string("failed");
    };
    const std::string time = format_duration(t.wall_seconds);
    text += markdown ? fmt::format("| {} | {:.3f} | {:.3e} | {} | {} | {} | {} |\n", ++rank, log10_lambda_of(t),
                                   t.lambda, percent(t.train_accuracy), percent(t.val_accuracy),
                                   percent(t.test_accuracy), time)
                     : fmt::format("{:>4} {:>12.3f} {:>11.3e} {:>10} {:>10} {:>10} {:>9}\n", ++rank,
                                   log10_lambda_of(t), t.lambda, percent(t.train_accuracy),
                                   percent(t.val_accuracy), percent(t.test_accuracy), time);
  }
  return text;
}

// One row per trial: rank, name, the value (unless only the names are shown), accuracies, wall time.
std::string named_table(const SearchResults& results, bool markdown, const std::string& key) {
  const bool with_value = key != "name";
  std::size_t name_width = 4;
  for (const TrialRecord& t : results.trials) name_width = std::max(name_width, t.name.size());
  std::vector<std::string> header = {"rank", "name"};
  if (with_value) header.push_back(key);
  for (const char* column : {"train", "validation", "test", "time"}) header.emplace_back(column);
  std::vector<std::vector<std::string>> rows;
  int rank = 0;
  for (const TrialRecord& t : results.trials) {
    const auto percent = [&t](double fraction) {
      return t.completed ? fmt::format("{:.2f}%", 100 * fraction) : std::string("failed");
    };
    std::vector<std::string> row = {std::to_string(++rank), t.name};
    if (with_value) row.push_back(fmt::format("{:.4g}", value_shown(t, key, "format_results_table")));
    for (const std::string& cell : {percent(t.train_accuracy), percent(t.val_accuracy), percent(t.test_accuracy),
                                    format_duration(t.wall_seconds)}) {
      row.push_back(cell);
    }
    rows.push_back(std::move(row));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string text = markdown ? "|" : "";
    for (std::size_t i = 0; i < cells.size(); ++i) {
      // The widths of the lambda table's columns: 4 for the rank, 9 for the time, 10 for the rest.
      const std::size_t least = i == 0 ? 4 : i + 1 == cells.size() ? 9 : 10;
      const std::size_t width = i == 1 ? name_width : std::max(least, cells[i].size());
      text += markdown ? fmt::format(" {} |", cells[i])
              : i == 1 ? fmt::format(" {:<{}}", cells[i], width)
                       : fmt::format("{}{:>{}}", i == 0 ? "" : " ", cells[i], width);
    }
    return text + "\n";
  };
  std::string text = line(header);
  if (markdown) text += "|---:|:---|" + std::string(with_value ? "---:|" : "") + "---:|---:|---:|---:|\n";
  for (const auto& row : rows) text += line(row);
  return text;
}

}  // namespace

std::string format_results_table(const SearchResults& results, bool markdown, const std::string& show) {
  const std::string key = shown_or_default(results, show);
  return key == "lambda" && results.space == std::nullopt ? lambda_table(results, markdown)
                                                          : named_table(results, markdown, key);
}

void plot_results(const SearchResults& results, const std::filesystem::path& path, const std::string& title,
                  const std::string& against) {
  const std::string key = shown_or_default(results, against);
  const bool log_scale =
      key == "lambda" || (results.space && results.space->parameter == key && results.space->log_scale);
  std::vector<std::pair<double, const TrialRecord*>> points;
  int rank = 0;
  for (const TrialRecord& t : results.trials) {
    ++rank;
    if (!t.completed) continue;
    double x = key == "name"     ? t.index.value_or(rank)
               : key == "lambda" ? log10_lambda_of(t)
                                 : value_shown(t, key, "plot_results");
    if (log_scale && key != "lambda") x = std::log10(x);
    if (!std::isfinite(x)) {
      throw_error(
          fmt::format("plot_results: trial {} has {} {}, which has no place on the chart; give a value that "
                      "is finite (and > 0 on a log scale) or plot against \"name\"",
                      t.name, key, value_shown(t, key, "plot_results")));
    }
    points.emplace_back(x, &t);
  }
  if (points.empty()) {
    throw_error(
        fmt::format("plot_results: the {} search has no completed trial to plot ({} trials); run its trials "
                    "to completion first",
                    results.name, results.trials.size()));
  }
  std::ranges::sort(points, {}, &std::pair<double, const TrialRecord*>::first);
  plot::Series validation{"validation", {}, {}, plot::SeriesStyle::line_with_markers};
  plot::Series training{"training", {}, {}, plot::SeriesStyle::line_with_markers};
  for (const auto& [x, t] : points) {
    validation.x.push_back(x);
    validation.y.push_back(t->val_accuracy);
    training.x.push_back(x);
    training.y.push_back(t->train_accuracy);
  }
  plot::LineChart chart;
  chart.title = title;
  chart.x_axis.label = key == "name" ? "trial (see the table for its name)" : log_scale ? "log10 " + key : key;
  chart.y_axis.label = "accuracy";
  chart.series = {validation, training};
  plot::save(chart, path);
}

SearchResults run_lambda_search(const RunDirectory& directory, SearchResults planned, const StageOptions& options,
                                const std::function<void(TrialRecord&, const RunDirectory&)>& train_trial) {
  const TrialRuns runs =
      run_trials(directory, names_of(planned.trials), options.trials,
                 [&](std::size_t i, const RunDirectory& into) { train_trial(planned.trials[i], into); });
  if (options.after_trials) options.after_trials(runs);
  SearchResults results = collect_results(std::move(planned), runs);
  write_results(directory, results);
  if (options.write_summary) {
    options.write_summary(directory, results);
  } else {
    Json summary;
    // No structured binding here: clang 14 (the fuzz build's compiler) cannot capture one in a lambda.
    for (const auto& entry : search_summary(results)) {
      std::visit([&summary, &entry](const auto& v) { summary[entry.first] = v; }, entry.second);
    }
    directory.write_summary(summary);
  }
  // With no trial completed there is nothing to chart; the caller learns that from best().
  if (std::ranges::any_of(results.trials, &TrialRecord::completed)) {
    plot_results(results, directory.plot_path("validation_accuracy"),
                 options.chart_title.empty() ? results.name + " search" : options.chart_title);
  }
  return results;
}

std::optional<SearchResults> earlier_search(const std::filesystem::path& stage_directory) {
  const std::filesystem::path file = stage_directory / "results.json";
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored)) return std::nullopt;
  SearchResults results;
  try {
    results = read_results(file);
  } catch (const Error& error) {
    throw StageUnreadable(file, error.what());
  }
  // A fine range is set by the coarse one; a final run could do without, but a chain's stages all have one.
  if (!results.log10_range) throw StageUnreadable(file, file.string() + ": 'log_lambda_min' is missing");
  return results;
}

std::optional<SearchResults> SearchChain::stage(const std::string& name) const {
  const SearchResults* in_memory = name == "coarse" ? coarse : name == "fine" ? fine : nullptr;
  if (in_memory != nullptr) return *in_memory;
  return earlier_search(root / name);
}

std::optional<StageLambda> final_lambda(const SearchChain& chain) {
  for (const char* name : {"fine", "coarse"}) {
    const std::optional<SearchResults> results = chain.stage(name);
    if (results) return StageLambda{results->best().lambda, name};
  }
  return std::nullopt;
}

std::optional<Range> fine_search_range(const SearchChain& chain, std::optional<double> centre_lambda, double width) {
  const std::optional<SearchResults> coarse = chain.stage("coarse");
  if (centre_lambda && !(*centre_lambda > 0)) {
    throw_error(fmt::format("fine_search_range: the centre lambda must be > 0, got {}", *centre_lambda));
  }
  if (!centre_lambda && !coarse) return std::nullopt;
  const double centre = centre_lambda ? std::log10(*centre_lambda) : log10_lambda_of(coarse->best());
  return fine_range(centre, width, coarse ? &*coarse : nullptr);
}

}  // namespace tapegrad::train
