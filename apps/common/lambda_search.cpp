#include "apps/common/lambda_search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "apps/common/app_error.h"
#include "apps/common/experiment.h"
#include <tapegrad/nn/plot/plot.h>
#include "apps/common/results.h"
#include <tapegrad/nn/train/progress.h>
#include "apps/common/run_info.h"
#include "apps/common/sweep.h"

namespace tapegrad::apps {
namespace {

bool better(const TrialResult& a, const TrialResult& b) {
  if (a.completed != b.completed) return a.completed;
  if (a.val_accuracy != b.val_accuracy) return a.val_accuracy > b.val_accuracy;
  return a.index < b.index;
}

void plot_search(const SearchResults& results, const RunDirectory& directory) {
  std::vector<const TrialResult*> by_lambda;
  for (const auto& t : results.trials)
    if (t.completed) by_lambda.push_back(&t);
  std::sort(by_lambda.begin(), by_lambda.end(),
            [](const TrialResult* a, const TrialResult* b) { return a->log10_lambda < b->log10_lambda; });
  plot::Series validation{"validation", {}, {}, plot::SeriesStyle::line_with_markers};
  plot::Series training{"training", {}, {}, plot::SeriesStyle::line_with_markers};
  for (const TrialResult* t : by_lambda) {
    validation.x.push_back(t->log10_lambda);
    validation.y.push_back(t->val_accuracy);
    training.x.push_back(t->log10_lambda);
    training.y.push_back(t->train_accuracy);
  }
  plot::LineChart chart;
  chart.title = fmt::format("{} search: accuracy after {} cycle{} (n_s = {})", results.name, results.cycles,
                            results.cycles == 1 ? "" : "s", results.n_s);
  chart.x_axis.label = "log10 lambda";
  chart.y_axis.label = "accuracy";
  chart.series = {validation, training};
  plot::save(chart, directory.plot_path("validation_accuracy"));
}

// A trial in the results format every search shares (results.h), with the search's own keys: the trial's index
// and the log10 lambda it was drawn as, which fine reads back exactly.
TrialRecord trial_record(const TrialResult& t) {
  TrialRecord record;
  record.name = t.directory;
  record.lambda = t.lambda;
  record.completed = t.completed;
  record.error = t.message;
  record.train_accuracy = t.train_accuracy;
  record.val_accuracy = t.val_accuracy;
  record.test_accuracy = t.test_accuracy;
  record.steps = t.steps;
  record.train_seconds = t.train_seconds;
  record.wall_seconds = t.wall_seconds;
  record.extra = {{"index", t.index}, {"log10_lambda", t.log10_lambda}};
  return record;
}

template <typename Number>
Number required(const nlohmann::json& json, const char* key, const std::string& where) {
  if (!json.contains(key)) throw_error(fmt::format("{}: '{}' is missing", where, key));
  try {
    return json.at(key).get<Number>();
  } catch (const nlohmann::json::exception& error) {
    throw_error(fmt::format("{}: '{}' has the wrong type ({})", where, key, error.what()));
  }
}

}  // namespace

void validate(const SearchSettings& s) {
  if (!(s.log_lambda_min <= s.log_lambda_max)) {
    throw UsageError(fmt::format("--log-lambda-min ({}) must not be larger than --log-lambda-max ({})",
                                 s.log_lambda_min, s.log_lambda_max));
  }
}

const TrialResult& SearchResults::best() const {
  for (const auto& t : trials)
    if (t.completed) return t;
  throw_error(fmt::format("the {} search has no completed trial", name));
}

nlohmann::json search_summary_json(const SearchResults& results) {
  nlohmann::json summary = {{"name", results.name},
                            {"trials", results.trials.size()},
                            {"workers", results.workers},
                            {"wall_seconds", results.wall_seconds},
                            {"trial_seconds_sum", results.trial_seconds},
                            {"speedup", results.wall_seconds > 0 ? results.trial_seconds / results.wall_seconds : 0.0},
                            {"n_s", results.n_s},
                            {"cycles", results.cycles},
                            {"log_lambda_min", results.log_lambda_min},
                            {"log_lambda_max", results.log_lambda_max},
                            {"data", results.data},
                            {"build", build_info_json()}};
  int completed = 0;
  for (const auto& t : results.trials) completed += t.completed;
  summary["completed_trials"] = completed;
  if (completed > 0) {
    const TrialResult& best = results.best();
    summary["best_lambda"] = best.lambda;
    summary["best_log10_lambda"] = best.log10_lambda;
    summary["lambda"] = best.lambda;
    summary["train_accuracy"] = best.train_accuracy;
    summary["val_accuracy"] = best.val_accuracy;
    summary["test_accuracy"] = best.test_accuracy;
    summary["train_seconds"] = best.train_seconds;
    summary["steps"] = best.steps;
    summary["best_directory"] = best.directory;
  }
  return summary;
}

SearchPlan plan_search(const std::string& preset, const SearchSettings& settings, const SearchRange& range,
                       std::uint64_t seed, long n_s, int cycles, const ImageSplits& splits, int threads) {
  Generator generator = Generator(seed).split(preset == "coarse" ? 101 : 102);
  SearchPlan plan;
  plan.name = preset;
  plan.kind = settings.kind;
  plan.log10_lambdas = search_points(range.low, range.high, settings.trials, settings.kind, generator);
  plan.low = range.low;
  plan.high = range.high;
  plan.n_s = n_s;
  plan.cycles = cycles;
  plan.train_examples = splits.train.size();
  plan.validation_examples = splits.validation.size();
  plan.data = splits.description;
  plan.threads = threads;
  plan.config = {{"range_source", range.source}};
  return plan;
}

std::vector<double> search_points(double low, double high, int count, SearchKind kind, Generator& generator) {
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

std::pair<double, double> fine_range(double centre, double width, const SearchResults* coarse) {
  auto centred = [centre](double w) { return std::pair{centre - w / 2, centre + w / 2}; };
  if (width > 0) return centred(width);
  if (coarse == nullptr) return centred(kDefaultFineWidth);
  double low = centre;
  double high = centre;
  int taken = 0;
  for (const auto& t : coarse->trials) {
    if (!t.completed || taken == 3) continue;
    low = std::min(low, t.log10_lambda);
    high = std::max(high, t.log10_lambda);
    ++taken;
  }
  // Narrower than the coarse range, or it is not a finer search: a flat coarse curve puts its best three apart.
  const double widest = std::max(kMinimumFineWidth, (coarse->log_lambda_max - coarse->log_lambda_min) / 2);
  if (high - low < kMinimumFineWidth) return centred(kMinimumFineWidth);
  if (high - low > widest) return centred(widest);
  return {low, high};
}

SearchResults run_lambda_search(const SearchPlan& plan, const RunDirectory& directory,
                                const TrialTrainer& train_trial) {
  SearchResults results;
  results.name = plan.name;
  results.kind = plan.kind;
  results.log_lambda_min = plan.low;
  results.log_lambda_max = plan.high;
  results.n_s = plan.n_s;
  results.cycles = plan.cycles;
  results.train_examples = plan.train_examples;
  results.validation_examples = plan.validation_examples;
  results.data = plan.data;
  const std::size_t count = plan.log10_lambdas.size();
  results.workers = std::max(1, std::min<int>(plan.threads, static_cast<int>(count)));

  nlohmann::json config = plan.config;
  config["search"] = plan.name;
  config["log10_lambdas"] = plan.log10_lambdas;
  config["log_lambda_min"] = plan.low;
  config["log_lambda_max"] = plan.high;
  config["data"] = plan.data;
  config["train_examples"] = plan.train_examples;
  config["validation_examples"] = plan.validation_examples;
  config["workers"] = results.workers;
  config["written_at"] = utc_timestamp();
  write_run_config(directory, config);
  spdlog::info("{} search: {} values of log10 lambda in [{:.3f}, {:.3f}], {} cycle{} of 2 x {} steps each, {} at a "
               "time",
               plan.name, count, plan.low, plan.high, plan.cycles, plan.cycles == 1 ? "" : "s", plan.n_s,
               results.workers);

  results.trials.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    TrialResult& trial = results.trials[i];
    trial.index = static_cast<int>(i) + 1;
    trial.log10_lambda = plan.log10_lambdas[i];
    trial.lambda = std::pow(10.0, trial.log10_lambda);
    // The trial's directory below the search's, and its name in logs and plot titles.
    trial.directory = fmt::format("trial{:02d}_lambda{:.4e}", i + 1, trial.lambda);
  }
  const auto run_one = [&](std::size_t i) {
    TrialResult& trial = results.trials[i];
    const TrialMetrics metrics = train_trial(trial.directory, trial.lambda, directory.sub_run(trial.directory));
    trial.train_accuracy = metrics.train_accuracy;
    trial.val_accuracy = metrics.val_accuracy;
    trial.test_accuracy = metrics.test_accuracy;
    trial.train_seconds = metrics.train_seconds;
    trial.steps = metrics.steps;
    return fmt::format("{}: validation {:.2f}%", trial.directory, 100 * trial.val_accuracy);
  };
  // An interrupted search throws Interrupted, naming the directory that holds the finished trials.
  const TrialRuns runs = run_trials(
      count, results.workers, run_one, [&](std::size_t i) { return results.trials[i].directory; },
      directory.root());
  for (std::size_t i = 0; i < count; ++i) {
    results.trials[i].completed = runs.trials[i].completed;
    results.trials[i].message = runs.trials[i].error;
    results.trials[i].wall_seconds = runs.trials[i].seconds;
  }
  results.trial_seconds = runs.trial_seconds_sum;
  results.wall_seconds = runs.wall_seconds;
  std::stable_sort(results.trials.begin(), results.trials.end(), better);

  write_search_results(results, directory);
  directory.write_summary(search_summary_json(results));
  plot_search(results, directory);
  if (results.trials.empty() || !results.trials.front().completed) {
    throw Error(fmt::format("the {} search: every trial failed (first: {}); try a smaller --eta-max", plan.name,
                            results.trials.empty() ? "none ran" : results.trials.front().message));
  }
  return results;
}

void write_search_results(const SearchResults& results, const RunDirectory& directory) {
  std::vector<TrialRecord> records;
  for (const auto& t : results.trials) records.push_back(trial_record(t));
  write_results(directory, results.name, records, {results.workers, results.wall_seconds, results.trial_seconds},
                {{"search", results.kind == SearchKind::random ? "random" : "grid"},
                 {"log_lambda_min", results.log_lambda_min},
                 {"log_lambda_max", results.log_lambda_max},
                 {"n_s", results.n_s},
                 {"cycles", results.cycles},
                 {"train_examples", results.train_examples},
                 {"validation_examples", results.validation_examples},
                 {"data", results.data}});
}

SearchResults search_results_from_json(const nlohmann::json& json) {
  const std::string where = "results.json";
  if (!json.is_object()) throw_error(where + ": not a JSON object");
  SearchResults results;
  results.name = required<std::string>(json, "name", where);
  results.kind = json.value("search", std::string("random")) == "grid" ? SearchKind::grid : SearchKind::random;
  results.log_lambda_min = required<double>(json, "log_lambda_min", where);
  results.log_lambda_max = required<double>(json, "log_lambda_max", where);
  results.n_s = required<long>(json, "n_s", where);
  results.cycles = required<int>(json, "cycles", where);
  results.train_examples = json.value("train_examples", 0);
  results.validation_examples = json.value("validation_examples", 0);
  results.data = json.value("data", std::string());
  results.workers = json.value("workers", 1);
  results.wall_seconds = json.value("wall_seconds", 0.0);
  results.trial_seconds = json.value("trial_seconds_sum", 0.0);
  if (!json.contains("trials") || !json.at("trials").is_array()) throw_error(where + ": 'trials' is not a list");
  for (const auto& item : json.at("trials")) {
    const std::string trial_where = fmt::format("{}: trial {}", where, results.trials.size() + 1);
    TrialResult t;
    t.index = required<int>(item, "index", trial_where);
    t.log10_lambda = required<double>(item, "log10_lambda", trial_where);
    t.lambda = required<double>(item, "lambda", trial_where);
    t.completed = required<bool>(item, "completed", trial_where);
    if (t.completed) {
      t.train_accuracy = required<double>(item, "train_accuracy", trial_where);
      t.val_accuracy = required<double>(item, "val_accuracy", trial_where);
      t.test_accuracy = required<double>(item, "test_accuracy", trial_where);
    } else {
      // "message" and "directory": the keys before the results format that every search shares.
      t.message = item.value("error", item.value("message", std::string()));
    }
    t.train_seconds = item.value("train_seconds", 0.0);
    t.wall_seconds = item.value("wall_seconds", 0.0);
    t.steps = item.value("steps", 0L);
    t.directory = item.value("name", item.value("directory", std::string()));
    results.trials.push_back(t);
  }
  std::stable_sort(results.trials.begin(), results.trials.end(), better);
  return results;
}

std::optional<SearchResults> read_search_results(const std::filesystem::path& directory) {
  const std::filesystem::path file = directory / "results.json";
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored)) return std::nullopt;
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw DataError(fmt::format("cannot read {}", file.string()), "run the search again to rewrite it");
  try {
    return search_results_from_json(nlohmann::json::parse(text.str()));
  } catch (const nlohmann::json::exception& error) {
    throw DataError(fmt::format("{} is not valid JSON: {}", file.string(), error.what()),
                    "run the search again to rewrite it");
  } catch (const Error& error) {
    throw DataError(fmt::format("{}: {}", file.string(), error.what()), "run the search again to rewrite it");
  }
}

std::string format_search_table(const SearchResults& results, bool markdown) {
  std::string text;
  if (markdown) {
    text += "| rank | log10 lambda | lambda | train acc. | validation acc. | test acc. | wall time |\n";
    text += "|---:|---:|---:|---:|---:|---:|---:|\n";
  } else {
    text += fmt::format("{:>4} {:>12} {:>11} {:>10} {:>10} {:>10} {:>9}\n", "rank", "log10 lambda", "lambda",
                        "train", "validation", "test", "time");
  }
  int rank = 0;
  for (const auto& t : results.trials) {
    ++rank;
    const std::string time = train::format_duration(t.wall_seconds);
    if (!t.completed) {
      text += markdown ? fmt::format("| {} | {:.3f} | {:.3e} | failed | failed | failed | {} |\n", rank,
                                     t.log10_lambda, t.lambda, time)
                       : fmt::format("{:>4} {:>12.3f} {:>11.3e} {:>10} {:>10} {:>10} {:>9}\n", rank, t.log10_lambda,
                                     t.lambda, "failed", "failed", "failed", time);
      continue;
    }
    text += markdown ? fmt::format("| {} | {:.3f} | {:.3e} | {:.2f}% | {:.2f}% | {:.2f}% | {} |\n", rank,
                                   t.log10_lambda, t.lambda, 100 * t.train_accuracy, 100 * t.val_accuracy,
                                   100 * t.test_accuracy, time)
                     : fmt::format("{:>4} {:>12.3f} {:>11.3e} {:>9.2f}% {:>9.2f}% {:>9.2f}% {:>9}\n", rank,
                                   t.log10_lambda, t.lambda, 100 * t.train_accuracy, 100 * t.val_accuracy,
                                   100 * t.test_accuracy, time);
  }
  return text;
}

LambdaChoice final_lambda(std::optional<double> given_lambda, const std::filesystem::path& output,
                          const EarlierSearches& earlier) {
  if (given_lambda) return {*given_lambda, "--lambda", true};
  for (const auto& [in_memory, name] :
       {std::pair{earlier.fine, std::string("fine")}, std::pair{earlier.coarse, std::string("coarse")}}) {
    std::optional<SearchResults> from_disk;
    const SearchResults* results = in_memory;
    if (results == nullptr) {
      from_disk = read_search_results(output / name);
      if (from_disk) results = &*from_disk;
    }
    if (results != nullptr) {
      const TrialResult& best = results->best();
      return {best.lambda, fmt::format("the best of the {} search ({}/results.json)", name, name), true};
    }
  }
  return {};
}

LambdaChoice lambda_for_final(std::optional<double> given_lambda, const std::filesystem::path& output,
                              const EarlierSearches& earlier) {
  const LambdaChoice choice = final_lambda(given_lambda, output, earlier);
  if (!choice.found) throw_nothing_to_start_from("final", output);
  spdlog::info("final: lambda {:.4e} from {}", choice.lambda, choice.source);
  return choice;
}

FineCentre fine_centre(std::optional<double> given_lambda, const std::filesystem::path& output,
                       const EarlierSearches& earlier) {
  FineCentre centre;
  if (earlier.coarse != nullptr) {
    centre.coarse_handed_over = earlier.coarse;
  } else {
    centre.coarse_from_disk = read_search_results(output / "coarse");
  }
  if (given_lambda) {
    if (!(*given_lambda > 0)) {
      throw UsageError(fmt::format("fine: --lambda must be > 0 to centre the search on log10 lambda, got {}",
                                   *given_lambda));
    }
    centre.log10_lambda = std::log10(*given_lambda);
    centre.source = "--lambda";
    centre.found = true;
  } else if (centre.coarse() != nullptr) {
    centre.log10_lambda = centre.coarse()->best().log10_lambda;
    centre.source = "the best of the coarse search (coarse/results.json)";
    centre.found = true;
  }
  return centre;
}

SearchRange search_range(const std::string& preset, const SearchSettings& settings,
                         std::optional<double> given_lambda, const std::filesystem::path& output,
                         const EarlierSearches& earlier) {
  if (preset != "fine") {
    return {settings.log_lambda_min, settings.log_lambda_max, "--log-lambda-min and --log-lambda-max"};
  }
  const FineCentre centre = fine_centre(given_lambda, output, earlier);
  if (!centre.found) throw_nothing_to_start_from("fine", output);
  const auto [low, high] = fine_range(centre.log10_lambda, settings.fine_width, centre.coarse());
  return {low, high, "centred on " + centre.source};
}

void check_search_inputs(const std::string& preset, std::optional<double> given_lambda,
                         const std::filesystem::path& output) {
  if ((preset == "final" && !final_lambda(given_lambda, output, {}).found) ||
      (preset == "fine" && !fine_centre(given_lambda, output, {}).found)) {
    throw_nothing_to_start_from(preset, output);
  }
}

void throw_nothing_to_start_from(const std::string& preset, const std::filesystem::path& output) {
  // A search started there (as shards, say) whose results.json is missing has not been merged yet: the next step
  // waits for the merge, so that every one of its shards reads the same result.
  const std::string earlier = preset == "final" ? "fine" : "coarse";
  std::error_code error;
  if (std::filesystem::exists(output / earlier / "invocation.json", error) &&
      !std::filesystem::exists(output / earlier / "results.json", error)) {
    throw UsageError(fmt::format("{}: the {} search in {} has no results.json yet: its shards have not been "
                                 "merged (or it has not finished), and {} (every shard of it alike) starts from "
                                 "its result",
                                 preset, earlier, (output / earlier).string(), preset),
                     fmt::format("once every {} shard has ended, merge them with --resume {}, then start {}; or "
                                 "pass --lambda",
                                 earlier, (output / earlier).string(), preset));
  }
  if (preset == "final") {
    throw UsageError(fmt::format("final: no lambda to train with: {} holds no fine/results.json or "
                                 "coarse/results.json, and --lambda was not given",
                                 output.string()),
                     "run --preset coarse (and fine) with the same --out first, or pass --lambda");
  }
  throw UsageError(fmt::format("fine: nothing to centre the search on: {} holds no coarse/results.json, and "
                               "--lambda was not given",
                               output.string()),
                   "run --preset coarse with the same --out first, or pass --lambda as the centre");
}

}  // namespace tapegrad::apps
