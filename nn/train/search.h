// A hyperparameter search: trials drawn over log10 of lambda (plan_lambda_search) or over any numeric parameter
// (plan_search: a learning rate, a layer's width), random or an even grid, run side by side (run_side_by_side),
// optionally split between processes (Shard: a Slurm array task each), ranked by validation accuracy and written
// as results.csv and results.json, with a sorted table and a chart of validation accuracy against the value
// searched. Each trial is the caller's: it trains into the directory it is given and fills its record. A
// coarse-to-fine chain of such searches runs stage by stage with run_lambda_search and SearchChain (below).
//
//   Generator draws(1);
//   train::SearchResults coarse =
//       train::plan_lambda_search("coarse", train::SearchKind::random, {-5, -1}, 8, draws);
//   train::RunDirectory directory("runs/coarse");
//   const train::TrialRuns runs = train::run_trials(
//       directory, train::names_of(coarse.trials), {.workers = 2},
//       [&](std::size_t i, const train::RunDirectory& into) { train_one(coarse.trials[i], into); });
//   coarse = train::collect_results(std::move(coarse), runs);
//   train::write_results(directory, coarse);
//
// Over another parameter, each trial's value is in its settings:
//   train::SearchResults widths = train::plan_search(
//       "widths", {.parameter = "hidden", .range = {16, 128}, .integer = true}, train::SearchKind::grid, 4,
//       draws);
//   ... const long hidden = std::lround(*train::setting_of(widths.trials[i], "hidden")); ...
#pragma once

#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/nn/train/run_directory.h>
#include <tapegrad/nn/train/trials.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tapegrad::train {

enum class SearchKind { random, grid };

// `count` values in [low, high]: uniform draws from `generator`, or an even grid that includes both ends (the
// middle of the range for a count of 1). Throws Error unless count >= 1 and low <= high (neither NaN).
std::vector<double> search_points(double low, double high, int count, SearchKind kind, Generator& generator);

// A fine search is never narrower than this (in log10 lambda), and is this wide without a coarse one to go by.
inline constexpr double kMinimumFineWidth = 0.5;
inline constexpr double kDefaultFineWidth = 1.0;

struct Range {
  double low = 0;
  double high = 0;
};

// One process's share of a search spread over N processes: the trials whose index mod N is K, so that slow and
// fast trials spread evenly.
struct Shard {
  int index = 0;  // K
  int count = 1;  // N

  bool keeps(std::size_t trial) const {
    return trial % static_cast<std::size_t>(count) == static_cast<std::size_t>(index);
  }
  // How many of the trials 0 .. trials - 1 it keeps (of a shard that passes check()).
  std::size_t kept_of(std::size_t trials) const {
    const auto k = static_cast<std::size_t>(index);
    return trials > k ? (trials - k - 1) / static_cast<std::size_t>(count) + 1 : 0;
  }
  std::string text() const;  // "K/N"
  // Throws Error naming the shard and the allowed range unless count >= 1 and 0 <= index < count (a hand-built
  // shard with count 0 would divide by zero in keeps, one with index >= count would keep no trial).
  void check() const;
  // "K/N" with 0 <= K < N, as a scheduler's variables give it ("$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT");
  // throws Error saying what is wrong otherwise.
  static Shard parse(std::string_view text);
};

struct TrialsOptions {
  int workers = 1;               // trials side by side
  std::optional<Shard> shard{};  // run only this shard's trials, each under its directory's lock
  // After each trial this process ran (or skipped after a stop request), one call at a time: its index, what was
  // seen, how many have ended and of how many this process runs.
  std::function<void(std::size_t index, const TrialRun& run, std::size_t ended, std::size_t of)> on_trial_end{};
};

// Runs trial(i, directory.sub_run(names[i])) for every i (in a shard only its own) with run_side_by_side. A shard
// locks all its trial directories before the first trial starts, so that a shard started twice is refused
// (RunDirectoryLocked) before it writes anything. A trial asked for but not started because of a stop request
// gets the error "not started: the sweep was interrupted".
TrialRuns run_trials(const RunDirectory& directory, const std::vector<std::string>& names,
                     const TrialsOptions& options,
                     const std::function<void(std::size_t, const RunDirectory&)>& trial);

// One trial in the results format. A setting a search does not vary per trial is left empty.
struct TrialRecord {
  std::string name{};  // also its run directory below the search's
  double lambda = 0;
  std::optional<double> eta{};
  std::optional<long> batch_size{};
  bool completed = false;
  std::string error{};  // why it did not complete
  double train_accuracy = 0;
  double val_accuracy = 0;
  double test_accuracy = 0;
  long steps = 0;
  double train_seconds = 0;              // training alone
  double wall_seconds = 0;               // the trial from start to end
  std::optional<int> index{};            // a planned search: 1-based, in the order drawn
  std::optional<double> log10_lambda{};  // a search over log10 lambda: the value drawn, exactly
  // The values this trial tried, by name, in order (plan_search: the parameter searched). A lambda search keeps
  // its value in lambda and log10_lambda instead.
  std::vector<std::pair<std::string, double>> settings{};
};

// The value named `key` of `trial`: one of its settings, else "lambda", "eta" or "batch_size" when it has one;
// nullopt otherwise.
std::optional<double> setting_of(const TrialRecord& trial, const std::string& key);

// The columns of results.csv, and the keys of each trial in results.json (with index and log10_lambda when set,
// and "settings", a list of {"name", "value"}, when there are any). results.csv has a column after these for each
// setting name of the trials not among them, in the order first seen.
inline const std::vector<std::string> kResultColumns = {
    "rank",         "name",          "lambda", "eta",           "batch_size",   "completed", "train_accuracy",
    "val_accuracy", "test_accuracy", "steps",  "train_seconds", "wall_seconds", "error"};

// The trials of a search over log10 lambda: trial01_lambda1.0000e-03, ... with index, log10_lambda and lambda.
std::vector<TrialRecord> log_lambda_trials(const std::vector<double>& log10_lambdas);
std::vector<std::string> names_of(const std::vector<TrialRecord>& trials);
// The trial's log10_lambda, or log10 of its lambda when it has none.
double log10_lambda_of(const TrialRecord& trial);

// `trials` ranked: completed before failed, then by validation accuracy (highest first), else in the given order.
std::vector<TrialRecord> ranked(std::vector<TrialRecord> trials);

struct SearchTimings {
  int workers = 1;
  double wall_seconds = 0;       // the whole search
  double trial_seconds_sum = 0;  // the trials one after another

  // trial_seconds_sum / wall_seconds; 1 without a wall time (nothing was timed side by side, so no gain is
  // claimed). results.json and search_summary both report this.
  double speedup() const { return wall_seconds > 0 ? trial_seconds_sum / wall_seconds : 1.0; }
};

// A search over one numeric parameter: its name (a trial's setting, and part of the trial names), the range its
// values are drawn from, whether that range is of log10 of the value (a rate, a decay) and whether each value is
// rounded to a whole number (a layer's width, a batch size).
struct SearchSpace {
  std::string parameter{};
  Range range{};
  bool log_scale = false;
  bool integer = false;
};

// A search's own keys of results.json beside the trials (its range, its schedule, its data).
using ResultValue = std::variant<bool, long, double, std::string>;

struct SearchResults {
  std::string name{};
  std::vector<TrialRecord> trials{};  // ranked (collect_results, read_results)
  SearchTimings timings{};
  // A search over log10 lambda: how its values were drawn and their range (results.json's "search",
  // "log_lambda_min" and "log_lambda_max").
  std::optional<SearchKind> kind{};
  std::optional<Range> log10_range{};
  // A search over another parameter (plan_search): what it searched (results.json's "parameter").
  std::optional<SearchSpace> space{};
  std::map<std::string, ResultValue> fields{};  // the search's own keys (its schedule, its data)

  // The best completed trial; throws Error when none completed.
  const TrialRecord& best() const;
};

// The fine range of log10 lambda around `centre`: `width` wide when positive; kDefaultFineWidth wide without a
// `coarse` search; else the span of `centre` and the best three completed trials of `coarse`, but at least
// kMinimumFineWidth and at most half its log10_range wide (centred on `centre` when outside those). Throws Error
// when `coarse` has no log10_range.
Range fine_range(double centre, double width, const SearchResults* coarse);

// The summary of a search: "name", "trials" (how many), "completed_trials", "workers", "wall_seconds",
// "trial_seconds_sum", "speedup" (SearchTimings::speedup), "log_lambda_min" and "log_lambda_max" when it has a
// log10_range and, when one completed, the best trial's "lambda",
// "train_accuracy", "val_accuracy", "test_accuracy", "train_seconds" and "steps" (the keys of a run's summary),
// with "best_lambda", "best_log10_lambda" and "best_directory" (its name). A search with a space has
// "best_<parameter>" instead of the lambda keys (unless it searched lambda).
std::map<std::string, ResultValue> search_summary(const SearchResults& results);

// A search over log10 lambda before it runs: `count` trials (log_lambda_trials) at search_points in `range`.
SearchResults plan_lambda_search(const std::string& name, SearchKind kind, Range range, int count,
                                 Generator& generator);

// A search over `space.parameter` before it runs: `count` trials at search_points in `space.range` (10 to the
// power of each when log_scale, rounded when integer), named trial01_<parameter><value> and so on, the value in
// each trial's settings and, for "lambda", "eta" or "batch_size", in that field too. Throws Error when the
// parameter name is empty or not a plain word (it names directories), or as search_points does.
SearchResults plan_search(const std::string& name, const SearchSpace& space, SearchKind kind, int count,
                          Generator& generator);

// `search` with what run_trials saw of each of its trials (in the order they ran: completed, error, wall time) and
// the timings, its trials ranked.
SearchResults collect_results(SearchResults search, const TrialRuns& runs);

// directory/results.csv (one row per trial, the columns of kResultColumns) and directory/results.json: "name",
// "trials", "workers", "wall_seconds", "trial_seconds_sum", "speedup", "best" (the best completed trial's name, or
// null) and the fields. Both written atomically. The accuracies of a failed trial are empty (null).
void write_results(const RunDirectory& directory, const SearchResults& results);
// results.json as write_results wrote it; throws Error naming the file and what is missing or malformed.
SearchResults read_results(const std::filesystem::path& file);

// One stage of a search over log10 lambda run into `directory` end to end: run_trials of `planned`'s trials with
// `options.trials`, each trial filled in by train_trial (its accuracies, train_seconds and steps; one that throws is
// recorded as failed), then collect_results, write_results, summary.json and the chart validation_accuracy.png.
// Returns the results, ranked; best() throws when no trial completed. (config.json is the caller's to write.)
struct StageOptions {
  TrialsOptions trials{};
  // Called once the trials have run, before anything is written: a process that must not write the search's
  // results (one shard of several, one asked to stop) throws from here.
  std::function<void(const TrialRuns&)> after_trials{};
  // Writes summary.json; by default search_summary's keys.
  std::function<void(const RunDirectory&, const SearchResults&)> write_summary{};
  std::string chart_title{};  // by default "<name> search"
};
SearchResults run_lambda_search(const RunDirectory& directory, SearchResults planned, const StageOptions& options,
                                const std::function<void(TrialRecord&, const RunDirectory&)>& train_trial);

// A coarse-to-fine chain: a coarse search, a fine one around its best value, a final run at the best lambda, each
// stage in its own directory below `root` (root/coarse, root/fine) so that a later stage, in this process or a
// later one, starts from an earlier stage's results.json.
//
// An earlier stage's results.json cannot be read (not JSON, a key missing or malformed, no log10 range): its own
// type so that a program can tell "run that stage again" apart from other errors. what() names the file.
class StageUnreadable : public Error {
 public:
  StageUnreadable(std::filesystem::path results_file, const std::string& message)
      : Error(message), file(std::move(results_file)) {}
  std::filesystem::path file;
};

// The results.json in `stage_directory`: nullopt when there is none (the stage has not run, or not to its end);
// throws StageUnreadable when it cannot be read or records no log10 range.
std::optional<SearchResults> earlier_search(const std::filesystem::path& stage_directory);

struct SearchChain {
  std::filesystem::path root{};
  const SearchResults* coarse = nullptr;  // the stages this process ran, if any
  const SearchResults* fine = nullptr;

  // The stage `name` ("coarse" or "fine"): as this process ran it, else earlier_search(root / name).
  std::optional<SearchResults> stage(const std::string& name) const;
};

struct StageLambda {
  double lambda = 0;
  std::string stage{};  // the stage it is the best of: "fine" or "coarse"
};

// The final run's lambda: the best of the latest stage that ran (fine, else coarse); nullopt when none has. Throws
// StageUnreadable as earlier_search, Error when that stage has no completed trial.
std::optional<StageLambda> final_lambda(const SearchChain& chain);

// The fine stage's range of log10 lambda: fine_range(centre, width, coarse) around log10 of `centre_lambda` when
// given, else around the best coarse trial, the coarse stage (when it ran) setting the width; nullopt when there is
// neither. Throws Error when centre_lambda is not > 0, StageUnreadable as earlier_search.
std::optional<Range> fine_search_range(const SearchChain& chain, std::optional<double> centre_lambda, double width);

// The value a table or chart of `results` goes by when not told: "lambda" for a search over lambda (one with a
// log10 range, or whose trials all have a lambda > 0 or a log10_lambda), else the parameter searched (its space,
// else the first setting of the trials, else eta or batch_size when every trial has one and they differ), else
// "name".
std::string default_shown_value(const SearchResults& results);

// The sorted table of a search, one line per trial, for a terminal or Markdown. `show` is the value it shows
// (default_shown_value when empty): "lambda" gives columns of log10 lambda and lambda; any other key of setting_of
// gives the trial names and that value; "name" the trial names alone. Throws Error naming a trial without it.
std::string format_results_table(const SearchResults& results, bool markdown, const std::string& show = "");
// Validation and training accuracy of the completed trials against `against` (default_shown_value when empty;
// log10 of it for lambda and a log-scale search space; the trial's index, else its rank, for "name"), as a chart
// at `path`. Throws Error when no trial completed or a completed trial has no such value (or one <= 0 on a log
// scale), rather than draw an empty chart.
void plot_results(const SearchResults& results, const std::filesystem::path& path, const std::string& title,
                  const std::string& against = "");

}  // namespace tapegrad::train
