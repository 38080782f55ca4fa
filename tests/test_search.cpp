// nn/train/search.h: search points over log10 lambda, the fine range, trials split between shards under their
// directories' locks, ranking, results.csv and results.json written and read back, the table and the chart.
#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/search.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using namespace tapegrad;
using namespace tapegrad::train;
using tapegrad::testing::read_json;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;

namespace {

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("search_points: a grid includes both ends, random draws stay in range and repeat with the seed",
          "[train][search]") {
  Generator unused(1);
  CHECK(search_points(-5, -1, 5, SearchKind::grid, unused) == std::vector<double>{-5, -4, -3, -2, -1});
  CHECK(search_points(-5, -1, 1, SearchKind::grid, unused) == std::vector<double>{-3});
  Generator first(7);
  Generator second(7);
  const std::vector<double> drawn = search_points(-4, -2, 50, SearchKind::random, first);
  CHECK(drawn == search_points(-4, -2, 50, SearchKind::random, second));
  REQUIRE(drawn.size() == 50);
  CHECK(std::ranges::all_of(drawn, [](double x) { return x >= -4 && x <= -2; }));
  CHECK(std::ranges::adjacent_find(drawn) == drawn.end());  // draws, not one value repeated
}

TEST_CASE("fine_range: a given width, the default without an earlier search, else the best three within bounds",
          "[train][search]") {
  // A coarse search over [-5, -1] whose completed trials rank as `best_first`, a failed one among them.
  const auto coarse = [](const std::vector<double>& best_first) {
    SearchResults results{.name = "coarse", .log10_range = Range{-5, -1}};
    results.trials.push_back({.name = "failed", .lambda = 1e-4, .completed = false, .log10_lambda = -4.0});
    for (const double value : best_first) {
      results.trials.insert(results.trials.end() - 1, {.lambda = std::pow(10, value), .completed = true});
    }
    return results;
  };
  const auto range = [](double centre, double width, const SearchResults* results) {
    const Range r = fine_range(centre, width, results);
    return std::pair{r.low, r.high};
  };
  const SearchResults apart = coarse({-1, -5});
  CHECK(range(-3, 2, &apart) == std::pair{-4.0, -2.0});
  CHECK(range(-3, 0, nullptr) == std::pair{-3 - kDefaultFineWidth / 2, -3 + kDefaultFineWidth / 2});
  // The span of the centre and the best three (the fourth is left out).
  const SearchResults near = coarse({-3, -2.5, -3.25, -5});
  const Range spanned = fine_range(-3, 0, &near);
  CHECK(spanned.low == Approx(-3.25));
  CHECK(spanned.high == Approx(-2.5));
  // Too narrow: the minimum width around the centre, also when no coarse trial completed.
  const SearchResults close = coarse({-3, -3.1});
  const SearchResults none = coarse({});
  for (const SearchResults* narrow : {&close, &none}) {
    CHECK(range(-3, 0, narrow) == std::pair{-3 - kMinimumFineWidth / 2, -3 + kMinimumFineWidth / 2});
  }
  // Too wide: at most half the coarse range.
  const SearchResults wide = coarse({-3, -5, -1});
  CHECK(range(-3, 0, &wide) == std::pair{-4.0, -2.0});
  SearchResults no_range = wide;
  no_range.log10_range.reset();
  CHECK_THROWS_WITH(range(-3, 0, &no_range), Catch::Contains("no log10 range"));
}

TEST_CASE("run_trials: a shard runs its trials (index mod N), each directory locked before the first starts",
          "[train][search][shard]") {
  TempDir temp("search_shard");
  const RunDirectory search(temp.path() / "grid");
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  std::vector<std::size_t> ran;
  std::vector<std::size_t> ended;
  bool others_locked = true;
  const TrialRuns runs = run_trials(search, names,
                                    {.shard = Shard{.index = 1, .count = 2},
                                     .on_trial_end =
                                         [&](std::size_t i, const TrialRun&, std::size_t, std::size_t of) {
                                           ended.push_back(i);
                                           CHECK(of == 2);
                                         }},
                                    [&](std::size_t i, const RunDirectory& directory) {
                                      ran.push_back(i);
                                      CHECK(directory.root() == search.root() / names[i]);
                                      // Both of the shard's directories are locked while it runs: a second process
                                      // would be refused.
                                      for (const char* name : {"b", "d"}) {
                                        try {
                                          RunDirectory(search.root() / name).lock();
                                          others_locked = false;
                                        } catch (const RunDirectoryLocked&) {
                                        }
                                      }
                                      if (i == 3) throw std::runtime_error("diverged");
                                    });
  CHECK(ran == std::vector<std::size_t>{1, 3});
  CHECK(ended == ran);
  CHECK(others_locked);
  CHECK(runs.trials[1].completed);
  CHECK(runs.trials[3].error == "diverged");
  CHECK_FALSE(runs.trials[0].started);
  CHECK_FALSE(fs::exists(search.root() / "a"));
  RunDirectory(search.root() / "b").lock();  // released when the shard ended
  CHECK(Shard{.index = 1, .count = 2}.text() == "1/2");
}

TEST_CASE("run_trials refuses a hand-built shard out of range before any trial runs", "[train][search][shard]") {
  TempDir temp("search_bad_shard");
  const RunDirectory search(temp.path() / "grid");
  bool ran = false;
  const auto run = [&](Shard shard) {
    run_trials(search, {"a", "b"}, {.shard = shard}, [&](std::size_t, const RunDirectory&) { ran = true; });
  };
  // A count of 0 would divide by zero when choosing the shard's trials.
  CHECK_THROWS_AS(run({.index = 0, .count = 0}), Error);
  CHECK_THROWS_WITH(run({.index = 0, .count = 0}),
                    Catch::Contains("0/0 is out of range") && Catch::Contains("at least 1"));
  // An index past the last shard would silently run nothing.
  CHECK_THROWS_WITH(run({.index = 2, .count = 2}), Catch::Contains("2/2 is out of range") &&
                                                       Catch::Contains("a shard K/N") &&
                                                       Catch::Contains("K runs from 0 to 1"));
  CHECK_THROWS_WITH(run({.index = -1, .count = 2}), Catch::Contains("-1/2 is out of range"));
  CHECK_FALSE(ran);
  CHECK_FALSE(fs::exists(search.root() / "a"));
}

TEST_CASE("plan_lambda_search: one named trial per point drawn in the range, the range and kind kept",
          "[train][search]") {
  Generator draws(3);
  const SearchResults grid = plan_lambda_search("coarse", SearchKind::grid, {-4, -2}, 3, draws);
  CHECK(grid.name == "coarse");
  CHECK(grid.kind == SearchKind::grid);
  CHECK(grid.log10_range->low == -4);
  REQUIRE(grid.trials.size() == 3);
  CHECK(grid.trials[1].log10_lambda == -3);
  CHECK(grid.trials[1].name == "trial02_lambda1.0000e-03");
  Generator again(3);
  const std::vector<double> points = search_points(-4, -2, 3, SearchKind::random, again);
  const SearchResults random = plan_lambda_search("fine", SearchKind::random, {-4, -2}, 3, draws);
  CHECK(random.trials[2].log10_lambda == points[2]);
}

TEST_CASE("collect_results ranks completed trials by validation accuracy, failed last in their order",
          "[train][search]") {
  std::vector<TrialRecord> trials = log_lambda_trials({-3, -2, -4, -1});
  CHECK(names_of(trials) == std::vector<std::string>{"trial01_lambda1.0000e-03", "trial02_lambda1.0000e-02",
                                                     "trial03_lambda1.0000e-04", "trial04_lambda1.0000e-01"});
  CHECK(trials[2].index == 3);
  CHECK(trials[2].log10_lambda == -4);
  CHECK(trials[2].lambda == Approx(1e-4).epsilon(1e-15));
  trials[0].val_accuracy = 0.3;
  trials[2].val_accuracy = 0.5;
  TrialRuns runs;
  runs.trials = {
      {true, true, "", 1}, {true, false, "diverged", 2}, {true, true, "", 3}, {false, false, "stop", 0}};
  runs.wall_seconds = 4;
  runs.trial_seconds_sum = 6;
  runs.workers = 2;
  const SearchResults results = collect_results({.name = "coarse", .trials = trials}, runs);
  REQUIRE(results.trials.size() == 4);
  CHECK(names_of(results.trials) ==
        std::vector<std::string>{"trial03_lambda1.0000e-04", "trial01_lambda1.0000e-03",
                                 "trial02_lambda1.0000e-02", "trial04_lambda1.0000e-01"});
  CHECK(results.best().name == "trial03_lambda1.0000e-04");
  CHECK(results.trials[0].wall_seconds == 3);
  CHECK(results.trials[2].error == "diverged");
  CHECK(results.timings.workers == 2);
  CHECK_THROWS_AS(collect_results({.name = "x", .trials = {trials[0]}}, runs), Error);
  runs.trials = {{true, false, "a", 1}, {true, false, "b", 1}, {true, false, "c", 1}, {true, false, "d", 1}};
  CHECK_THROWS_WITH(collect_results({.name = "coarse", .trials = trials}, runs).best(),
                    Catch::Contains("no completed trial"));
}

TEST_CASE(
    "write_results: results.csv and results.json hold the same trials under the same names, ranked, and read "
    "back",
    "[train][search][results]") {
  TempDir temp("results");
  const RunDirectory directory(temp.path() / "search");
  TrialRecord failed{.name = "first", .lambda = 0.1, .error = "diverged, at step 3"};
  TrialRecord worse{
      .name = "second", .lambda = 0.01, .eta = 0.5, .batch_size = 100, .completed = true, .val_accuracy = 0.25};
  TrialRecord better{.name = "third",
                     .lambda = 0.001,
                     .completed = true,
                     .train_accuracy = 0.75,
                     .val_accuracy = 0.5,
                     .test_accuracy = 0.375,
                     .steps = 40,
                     .index = 3,
                     .log10_lambda = -3.0};
  const auto trials = ranked({failed, worse, better});
  CHECK(names_of(trials) == std::vector<std::string>{"third", "second", "first"});
  SearchResults results{"sweep", trials, {.workers = 2, .wall_seconds = 4, .trial_seconds_sum = 6}};
  results.kind = SearchKind::grid;
  results.log10_range = Range{-5, -1};
  results.fields = {{"n_s", 500L}, {"data", std::string("CIFAR-10")}, {"shuffled", true}};
  write_results(directory, results);

  const std::vector<std::string> lines = lines_of(temp.path() / "search" / "results.csv");
  REQUIRE(lines.size() == 4);
  std::string header;
  for (const auto& column : kResultColumns) header += (header.empty() ? "" : ",") + column;
  CHECK(lines[0] == header);
  CHECK(lines[1] == "1,third,0.001,,,true,0.75,0.5,0.375,40,0,0,");
  CHECK(lines[2] == "2,second,0.01,0.5,100,true,0,0.25,0,0,0,0,");
  CHECK(lines[3] == "3,first,0.1,,,false,,,,0,0,0,\"diverged, at step 3\"");

  const auto json = read_json(temp.path() / "search" / "results.json");
  CHECK(json["name"] == "sweep");
  CHECK(json["best"] == "third");
  CHECK(json["speedup"].get<double>() == 1.5);
  CHECK(json["n_s"] == 500);
  CHECK(json["search"] == "grid");
  CHECK(json["log_lambda_min"] == -5);
  CHECK(json["data"] == "CIFAR-10");
  REQUIRE(json["trials"].size() == 3);
  for (const auto& column : kResultColumns) {
    INFO(column);
    CHECK(json["trials"][1].contains(column));
  }
  CHECK(json["trials"][0]["log10_lambda"] == -3.0);
  CHECK(json["trials"][0]["index"] == 3);
  CHECK_FALSE(json["trials"][1].contains("index"));
  CHECK(json["trials"][2]["val_accuracy"].is_null());
  CHECK(json["trials"][2]["error"] == "diverged, at step 3");

  const SearchResults back = read_results(directory.root() / "results.json");
  CHECK(back.name == "sweep");
  CHECK(names_of(back.trials) == names_of(trials));
  CHECK(back.trials[0].log10_lambda == -3.0);
  CHECK(back.trials[0].test_accuracy == 0.375);
  CHECK(back.trials[1].eta == 0.5);
  CHECK(back.trials[1].batch_size == 100);
  CHECK_FALSE(back.trials[2].completed);
  CHECK(back.trials[2].error == "diverged, at step 3");
  CHECK(back.timings.trial_seconds_sum == 6);
  CHECK(back.fields == results.fields);
  CHECK(back.kind == SearchKind::grid);
  CHECK(back.log10_range->low == -5);
  CHECK(back.log10_range->high == -1);
  CHECK(log10_lambda_of(back.trials[1]) == Approx(-2));
}

TEST_CASE("read_results names the file and what is wrong in it", "[train][search][results]") {
  TempDir temp("results_bad");
  const fs::path file = temp.path() / "results.json";
  CHECK_THROWS_WITH(read_results(file), Catch::Contains("cannot read") && Catch::Contains(file.string()));
  write_bytes(file, "{\"trials\": [");
  CHECK_THROWS_WITH(read_results(file), Catch::Contains("not valid JSON") && Catch::Contains(file.string()));
  write_bytes(file, R"({"name": "coarse", "trials": [{"lambda": 0.1, "completed": true, "train_accuracy": 1}]})");
  CHECK_THROWS_WITH(read_results(file),
                    Catch::Contains("trial 1") && Catch::Contains("'val_accuracy' is missing"));
  write_bytes(file, R"({"name": "coarse", "trials": [{"lambda": "small", "completed": false}]})");
  CHECK_THROWS_WITH(read_results(file), Catch::Contains("'lambda' has the wrong type"));
  // The keys of the apps' searches before this format.
  write_bytes(file, R"({"name": "coarse", "trials": [{"lambda": 0.1, "completed": false, "directory": "t1",
                        "message": "diverged"}]})");
  const SearchResults old = read_results(file);
  CHECK(old.trials[0].name == "t1");
  CHECK(old.trials[0].error == "diverged");
}

TEST_CASE("format_results_table and plot_results show a search over log10 lambda", "[train][search]") {
  TempDir temp("search_table");
  std::vector<TrialRecord> trials = log_lambda_trials({-2, -3});
  trials[0].val_accuracy = 0.4;
  trials[1].val_accuracy = 0.5;
  TrialRuns runs;
  runs.trials = {{true, true, "", 1}, {true, false, "diverged", 61}};
  const SearchResults results = collect_results({.name = "fine", .trials = trials}, runs);
  const std::string text = format_results_table(results, false);
  CHECK_THAT(text,
             Catch::StartsWith("rank log10 lambda      lambda      train validation       test      time\n"));
  CHECK_THAT(text, Catch::Contains("   1       -2.000   1.000e-02      0.00%     40.00%      0.00%      0:01"));
  CHECK_THAT(text, Catch::Contains("   2       -3.000   1.000e-03     failed     failed     failed"));
  const std::string markdown = format_results_table(results, true);
  CHECK_THAT(markdown, Catch::Contains("| 1 | -2.000 | 1.000e-02 | 0.00% | 40.00% | 0.00% |"));
  CHECK_THAT(markdown, Catch::Contains("| 2 | -3.000 | 1.000e-03 | failed | failed | failed |"));
  const fs::path chart = temp.path() / "validation_accuracy.png";
  plot_results(results, chart, "fine search");
  CHECK(fs::file_size(chart) > 1000);
}

TEST_CASE("Shard::parse reads K/N and says what is wrong with anything else, and a shard counts its trials",
          "[train][search][shard]") {
  const Shard shard = Shard::parse("3/8");
  CHECK(shard.index == 3);
  CHECK(shard.count == 8);
  CHECK(shard.keeps(11));
  CHECK_FALSE(shard.keeps(12));
  CHECK(Shard::parse("0/1").keeps(5));
  for (const std::size_t trials : {0, 3, 4, 11, 12, 20}) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < trials; ++i) kept += shard.keeps(i) ? 1 : 0;
    CHECK(shard.kept_of(trials) == kept);
  }
  CHECK(shard.kept_of(12) == 2);
  CHECK(Shard::parse("0/1").kept_of(5) == 5);
  for (const char* text : {"", "3", "3/", "/8", "a/8", "3/8x", "3 /8", "-/2"}) {
    INFO(text);
    CHECK_THROWS_WITH(Shard::parse(text), Catch::Contains("is not of the form K/N"));
  }
  CHECK_THROWS_WITH(Shard::parse("3/2"), Catch::Contains("3/2 is out of range") && Catch::Contains("0 to 1"));
  CHECK_THROWS_WITH(Shard::parse("-1/2"), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(Shard::parse("0/0"), Catch::Contains("at least 1"));
}

TEST_CASE("search_summary: the search's timings and its best trial under a run summary's keys",
          "[train][search]") {
  std::vector<TrialRecord> trials = log_lambda_trials({-2, -3});
  trials[1] = {.name = trials[1].name,
               .lambda = trials[1].lambda,
               .val_accuracy = 0.5,
               .test_accuracy = 0.25,
               .steps = 90,
               .log10_lambda = -3.0};
  TrialRuns runs;
  runs.trials = {{true, false, "diverged", 1}, {true, true, "", 3}};
  runs.wall_seconds = 2;
  runs.trial_seconds_sum = 4;
  SearchResults searched = collect_results({.name = "coarse", .trials = trials}, runs);
  searched.log10_range = Range{-3, -2};
  const auto summary = search_summary(searched);
  CHECK(std::get<double>(summary.at("log_lambda_min")) == -3);
  CHECK(std::get<double>(summary.at("log_lambda_max")) == -2);
  CHECK(std::get<std::string>(summary.at("name")) == "coarse");
  CHECK(std::get<long>(summary.at("trials")) == 2);
  CHECK(std::get<long>(summary.at("completed_trials")) == 1);
  CHECK(std::get<double>(summary.at("speedup")) == 2);
  CHECK(std::get<double>(summary.at("best_log10_lambda")) == -3);
  CHECK(std::get<double>(summary.at("val_accuracy")) == 0.5);
  CHECK(std::get<long>(summary.at("steps")) == 90);
  CHECK(std::get<std::string>(summary.at("best_directory")) == "trial02_lambda1.0000e-03");
  runs.trials[1] = {true, false, "diverged", 3};
  const auto none = search_summary(collect_results({.name = "coarse", .trials = trials}, runs));
  CHECK(std::get<long>(none.at("completed_trials")) == 0);
  CHECK_FALSE(none.contains("lambda"));
  CHECK_FALSE(none.contains("log_lambda_min"));
  // Without a wall time the summary claims no speed-up, as results.json does.
  runs.wall_seconds = 0;
  const SearchResults untimed = collect_results({.name = "coarse", .trials = trials}, runs);
  CHECK(std::get<double>(search_summary(untimed).at("speedup")) == 1.0);
  CHECK(untimed.timings.speedup() == 1.0);
}

namespace {

// A stage of a chain run into root/<name> on a 5-point grid: a trial's validation accuracy peaks at log10 lambda
// `peak`, and a trial above log10 lambda -1.5 diverges.
SearchResults run_stage(const fs::path& root, const std::string& name, Range range, double peak,
                        const StageOptions& options = {}) {
  Generator draws(7);
  return run_lambda_search(RunDirectory(root / name), plan_lambda_search(name, SearchKind::grid, range, 5, draws),
                           options, [peak](TrialRecord& trial, const RunDirectory&) {
                             if (*trial.log10_lambda > -1.5) throw std::runtime_error("diverged");
                             trial.val_accuracy = 0.5 - std::abs(*trial.log10_lambda - peak) / 10;
                             trial.train_accuracy = trial.val_accuracy + 0.1;
                           });
}

}  // namespace

TEST_CASE("run_lambda_search runs a stage into its directory: results, summary and chart, failures recorded",
          "[train][search][chain]") {
  TempDir temp("search_stage");
  const SearchResults coarse = run_stage(temp.path(), "coarse", {-5, -1}, -3);
  CHECK(coarse.best().log10_lambda == -3.0);
  CHECK(coarse.trials.back().error == "diverged");  // -1, ranked last
  const fs::path directory = temp.path() / "coarse";
  CHECK(read_results(directory / "results.json").best().name == coarse.best().name);
  CHECK(lines_of(directory / "results.csv").size() == 6);
  const nlohmann::json summary = read_json(directory / "summary.json");
  CHECK(summary["best_directory"] == coarse.best().name);
  CHECK(summary["completed_trials"] == 4);
  CHECK(fs::file_size(directory / "validation_accuracy.png") > 0);
  CHECK(fs::is_directory(directory / coarse.best().name));
}

TEST_CASE("run_lambda_search: after_trials ends a stage before anything is written, write_summary replaces the "
          "summary",
          "[train][search][chain]") {
  TempDir temp("search_stage_hooks");
  std::size_t seen = 0;
  StageOptions stop;
  stop.after_trials = [&](const TrialRuns& runs) {
    seen = runs.trials.size();
    throw std::runtime_error("a shard ends here");
  };
  CHECK_THROWS_WITH(run_stage(temp.path(), "coarse", {-5, -1}, -3, stop), "a shard ends here");
  CHECK(seen == 5);
  CHECK_FALSE(fs::exists(temp.path() / "coarse" / "results.json"));
  CHECK_FALSE(fs::exists(temp.path() / "coarse" / "summary.json"));

  StageOptions own;
  own.write_summary = [](const RunDirectory& directory, const SearchResults& results) {
    directory.write_summary(nlohmann::json{{"mine", results.trials.size()}});
  };
  own.chart_title = "coarse: my model";
  run_stage(temp.path(), "coarse", {-5, -1}, -3, own);
  CHECK(read_json(temp.path() / "coarse" / "summary.json") == nlohmann::json{{"mine", 5}});
}

TEST_CASE("earlier_search: a stage's results.json when present, nothing when absent, an error when unreadable",
          "[train][search][chain]") {
  TempDir temp("search_earlier");
  CHECK_FALSE(earlier_search(temp.path() / "coarse"));
  run_stage(temp.path(), "coarse", {-5, -1}, -3);
  const std::optional<SearchResults> coarse = earlier_search(temp.path() / "coarse");
  REQUIRE(coarse);
  CHECK(coarse->best().log10_lambda == -3.0);
  CHECK(coarse->log10_range->low == -5.0);

  fs::create_directories(temp.path() / "broken");
  write_bytes(temp.path() / "broken" / "results.json", "{not json");
  CHECK_THROWS_AS(earlier_search(temp.path() / "broken"), StageUnreadable);
  CHECK_THROWS_WITH(earlier_search(temp.path() / "broken"), Catch::Contains("results.json"));
  nlohmann::json no_range = read_json(temp.path() / "coarse" / "results.json");
  no_range.erase("log_lambda_min");
  fs::create_directories(temp.path() / "no_range");
  write_bytes(temp.path() / "no_range" / "results.json", no_range.dump());
  CHECK_THROWS_AS(earlier_search(temp.path() / "no_range"), StageUnreadable);
  // A stage that ran but whose every trial failed reads back; it has no best lambda to hand on.
  run_stage(temp.path() / "failed", "coarse", {-1.4, -1}, -1);
  REQUIRE(earlier_search(temp.path() / "failed" / "coarse"));
  CHECK_THROWS_WITH(final_lambda(SearchChain{.root = temp.path() / "failed"}), Catch::Contains("no completed trial"));
  CHECK_THROWS_WITH(earlier_search(temp.path() / "no_range"), Catch::Contains("'log_lambda_min' is missing"));
}

TEST_CASE("final_lambda and fine_search_range: the latest stage that ran, in memory or on disk",
          "[train][search][chain]") {
  TempDir temp("search_chain");
  SearchChain chain{.root = temp.path()};
  CHECK_FALSE(final_lambda(chain));
  CHECK_FALSE(fine_search_range(chain, std::nullopt, 0));
  // Without a coarse stage a given centre gets the default width.
  const std::optional<Range> around_given = fine_search_range(chain, 1e-2, 0);
  REQUIRE(around_given);
  CHECK(around_given->low == Approx(-2 - kDefaultFineWidth / 2));
  CHECK_THROWS_WITH(fine_search_range(chain, 0.0, 0), Catch::Contains("must be > 0"));

  const SearchResults coarse = run_stage(temp.path(), "coarse", {-5, -1}, -3);
  const std::optional<StageLambda> from_coarse = final_lambda(chain);
  REQUIRE(from_coarse);
  CHECK(from_coarse->stage == "coarse");
  CHECK(from_coarse->lambda == coarse.best().lambda);
  const std::optional<Range> fine = fine_search_range(chain, std::nullopt, 0);
  REQUIRE(fine);
  const Range expected = fine_range(-3, 0, &coarse);
  CHECK(fine->low == expected.low);
  CHECK(fine->high == expected.high);
  CHECK(fine_search_range(chain, std::nullopt, 0.4)->high == Approx(-2.8));

  // The fine stage, handed over in memory (nothing of it on disk), is the latest.
  SearchResults in_memory = run_stage(temp.path() / "elsewhere", "fine", *fine, -2.5);
  chain.fine = &in_memory;
  const std::optional<StageLambda> from_fine = final_lambda(chain);
  REQUIRE(from_fine);
  CHECK(from_fine->stage == "fine");
  CHECK(from_fine->lambda == in_memory.best().lambda);
  CHECK(from_fine->lambda != coarse.best().lambda);
}

namespace {

// `planned` as if its trials had run: validation accuracy rising with the trial's index, the second trial failed.
SearchResults ran(SearchResults planned) {
  TrialRuns runs;
  for (std::size_t i = 0; i < planned.trials.size(); ++i) {
    TrialRecord& t = planned.trials[i];
    t.val_accuracy = 0.125 * static_cast<double>(i + 2);
    t.train_accuracy = t.val_accuracy + 0.25;
    t.test_accuracy = 0.3;
    runs.trials.push_back({true, i != 1, i != 1 ? "" : "diverged", 1.0 + static_cast<double>(i)});
  }
  return collect_results(std::move(planned), runs);
}

// plot_results draws `results` into `file`: a PNG with something in it.
void check_chart(const SearchResults& results, const fs::path& file) {
  plot_results(results, file, results.name + " search");
  CHECK(fs::file_size(file) > 1000);
}

}  // namespace

TEST_CASE("plan_search over a learning rate on a log scale: written, read back, shown and charted",
          "[train][search][results]") {
  TempDir temp("search_eta");
  Generator draws(1);
  const SearchResults planned =
      plan_search("rates", {.parameter = "eta", .range = {-3, -1}, .log_scale = true}, SearchKind::grid, 3, draws);
  REQUIRE(planned.trials.size() == 3);
  CHECK(names_of(planned.trials) ==
        std::vector<std::string>{"trial01_eta1.0000e-03", "trial02_eta1.0000e-02", "trial03_eta1.0000e-01"});
  CHECK(planned.trials[1].settings.size() == 1);
  CHECK(setting_of(planned.trials[1], "eta") == Approx(0.01).epsilon(1e-15));
  CHECK(planned.trials[1].eta == planned.trials[1].settings[0].second);
  CHECK(planned.trials[2].index == 3);
  CHECK(planned.trials[0].lambda == 0);
  CHECK(default_shown_value(planned) == "eta");

  const SearchResults results = ran(planned);
  const RunDirectory directory(temp.path() / "rates");
  write_results(directory, results);
  const auto json = read_json(directory.root() / "results.json");
  CHECK(json["parameter"]["name"] == "eta");
  CHECK(json["parameter"]["log_scale"] == true);
  CHECK(json["trials"][0]["settings"][0]["name"] == "eta");
  CHECK(json["trials"][0]["settings"][0]["value"].get<double>() == results.trials[0].settings[0].second);
  // eta has a column of its own in results.csv already: no second one.
  const std::vector<std::string> lines = lines_of(directory.root() / "results.csv");
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].ends_with(",error"));
  CHECK_THAT(lines[1], Catch::StartsWith("1,trial03_eta1.0000e-01,0,0.1,"));

  const SearchResults back = read_results(directory.root() / "results.json");
  CHECK(names_of(back.trials) == names_of(results.trials));
  for (std::size_t i = 0; i < back.trials.size(); ++i)
    CHECK(back.trials[i].settings == results.trials[i].settings);
  REQUIRE(back.space);
  CHECK(back.space->parameter == "eta");
  CHECK(back.space->range.low == -3);
  CHECK(back.space->log_scale);
  CHECK_FALSE(back.space->integer);
  CHECK(back.fields.empty());
  write_bytes(temp.path() / "bad.json", R"({"name": "r", "trials": [{"lambda": 0, "completed": false,
                                          "settings": [{"name": "eta", "value": "fast"}]}]})");
  CHECK_THROWS_WITH(read_results(temp.path() / "bad.json"),
                    Catch::Contains("trial 1") && Catch::Contains("a key has the wrong type"));

  const std::string text = format_results_table(back, false);
  CHECK_THAT(text, Catch::StartsWith(
                       "rank name                         eta      train validation       test      time\n"));
  CHECK_THAT(text,
             Catch::Contains("   1 trial03_eta1.0000e-01        0.1     75.00%     50.00%     30.00%      0:03"));
  CHECK_THAT(text, Catch::Contains("   3 trial02_eta1.0000e-02       0.01     failed     failed     failed"));
  CHECK_THAT(text, !Catch::Contains("inf"));
  const std::string markdown = format_results_table(back, true);
  CHECK_THAT(markdown, Catch::StartsWith("| rank | name | eta | train | validation | test | time |\n"
                                         "|---:|:---|---:|---:|---:|---:|---:|\n"
                                         "| 1 | trial03_eta1.0000e-01 | 0.1 | 75.00% |"));
  const fs::path chart = directory.plot_path("validation_accuracy");
  check_chart(back, chart);
}

TEST_CASE("plan_search over a hidden size: whole values, a results.csv column of their own, read back",
          "[train][search][results]") {
  TempDir temp("search_hidden");
  Generator draws(1);
  const SearchResults planned = plan_search("widths", {.parameter = "hidden", .range = {16, 128}, .integer = true},
                                            SearchKind::grid, 4, draws);
  CHECK(names_of(planned.trials) ==
        std::vector<std::string>{"trial01_hidden16", "trial02_hidden53", "trial03_hidden91", "trial04_hidden128"});
  CHECK(setting_of(planned.trials[2], "hidden") == 91);
  CHECK_FALSE(setting_of(planned.trials[2], "eta"));
  Generator random_draws(5);
  for (const TrialRecord& t : plan_search("w", {.parameter = "hidden", .range = {16, 128}, .integer = true},
                                          SearchKind::random, 20, random_draws)
                                  .trials) {
    const double hidden = t.settings.at(0).second;
    CHECK(hidden == std::round(hidden));
    CHECK(hidden >= 16);
    CHECK(hidden <= 128);
  }

  const SearchResults results = ran(planned);
  const RunDirectory directory(temp.path() / "widths");
  write_results(directory, results);
  const std::vector<std::string> lines = lines_of(directory.root() / "results.csv");
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].ends_with(",error,hidden"));
  CHECK(lines[1] == "1,trial04_hidden128,0,,,true,0.875,0.625,0.3,0,0,4,,128");
  CHECK(lines[4] == "4,trial02_hidden53,0,,,false,,,,0,0,2,diverged,53");

  const SearchResults back = read_results(directory.root() / "results.json");
  CHECK(back.best().name == "trial04_hidden128");
  CHECK(setting_of(back.best(), "hidden") == 128);
  CHECK(back.space->integer);
  CHECK(back.kind == SearchKind::grid);
  const auto summary = search_summary(back);
  CHECK(std::get<double>(summary.at("best_hidden")) == 128);
  CHECK(std::get<std::string>(summary.at("best_directory")) == "trial04_hidden128");
  CHECK_FALSE(summary.contains("best_log10_lambda"));
  CHECK_FALSE(summary.contains("lambda"));
  const std::string text = format_results_table(back, false);
  CHECK_THAT(text, Catch::StartsWith("rank name                  hidden      train"));
  CHECK_THAT(text,
             Catch::Contains("   2 trial03_hidden91          91     75.00%     50.00%     30.00%      0:03"));
  // Names alone when asked.
  const std::string names = format_results_table(back, true, "name");
  CHECK_THAT(names, Catch::StartsWith("| rank | name | train | validation | test | time |\n|---:|:---|---:|"));
  CHECK_THAT(names, Catch::Contains("| 4 | trial02_hidden53 | failed | failed | failed | 0:02 |"));
  const fs::path chart = temp.path() / "by_hidden.png";
  check_chart(back, chart);
}

TEST_CASE("the table and chart of trials built by hand go by the value that varies, else the trial name",
          "[train][search]") {
  TempDir temp("search_by_hand");
  std::vector<TrialRecord> trials;
  for (const double eta : {0.01, 0.1}) trials.push_back({.name = sub_run_name({{"eta", eta}}), .eta = eta});
  SearchResults results = ran({.name = "eta", .trials = trials});
  CHECK(default_shown_value(results) == "eta");
  const std::string text = format_results_table(results, false);
  CHECK_THAT(text, Catch::Contains("eta") && Catch::Contains(trials[0].name) && Catch::Contains("0.01"));
  CHECK_THAT(text, !Catch::Contains("inf"));
  // The lambda columns when asked, as of a lambda search.
  CHECK_THAT(format_results_table(results, false, "lambda"), Catch::StartsWith("rank log10 lambda"));
  check_chart(results, temp.path() / "eta.png");

  for (TrialRecord& t : results.trials) t.eta.reset();
  CHECK(default_shown_value(results) == "name");
  CHECK_THAT(format_results_table(results, false), Catch::StartsWith("rank name") && !Catch::Contains("eta "));
  check_chart(results, temp.path() / "by_name.png");

  // A lambda search's table and files are as before: no settings, no parameter.
  const SearchResults lambdas =
      ran({.name = "fine", .trials = log_lambda_trials({-2, -3}), .log10_range = Range{-3, -2}});
  CHECK(default_shown_value(lambdas) == "lambda");
  write_results(RunDirectory(temp.path() / "fine"), lambdas);
  const auto json = read_json(temp.path() / "fine" / "results.json");
  CHECK_FALSE(json.contains("parameter"));
  CHECK_FALSE(json["trials"][0].contains("settings"));
}

TEST_CASE("search_points, plan_search, format_results_table and plot_results refuse what they cannot do",
          "[train][search]") {
  TempDir temp("search_refusals");
  Generator draws(1);
  CHECK_THROWS_WITH(search_points(-3, -1, 0, SearchKind::grid, draws),
                    Catch::Contains("0 points") && Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(search_points(-3, -1, -2, SearchKind::random, draws), Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(search_points(-1, -3, 2, SearchKind::grid, draws),
                    Catch::Contains("[-1, -3] is empty") && Catch::Contains("low end <= the high end"));
  CHECK_THROWS_WITH(search_points(std::nan(""), 1, 2, SearchKind::random, draws), Catch::Contains("neither NaN"));
  CHECK_THROWS_WITH(search_points(0, std::nan(""), 2, SearchKind::grid, draws), Catch::Contains("neither NaN"));
  CHECK(search_points(2, 2, 2, SearchKind::grid, draws) == std::vector<double>{2, 2});
  for (const char* parameter : {"", "a/b", "two words"}) {
    INFO(parameter);
    CHECK_THROWS_WITH(plan_search("s", {.parameter = parameter, .range = {0, 1}}, SearchKind::grid, 2, draws),
                      Catch::Contains("give a plain word"));
  }
  CHECK_THROWS_WITH(plan_search("s", {.parameter = "hidden", .range = {0, 1}}, SearchKind::grid, 0, draws),
                    Catch::Contains("at least 1"));

  SearchResults planned = plan_search("widths", {.parameter = "hidden", .range = {8, 16}, .integer = true},
                                      SearchKind::grid, 2, draws);
  TrialRuns runs;
  runs.trials = {{true, false, "diverged", 1}, {true, false, "diverged", 1}};
  const SearchResults failed = collect_results(planned, runs);
  const fs::path chart = temp.path() / "none.png";
  CHECK_THROWS_WITH(
      plot_results(failed, chart, "t"),
      Catch::Contains("widths search has no completed trial to plot") && Catch::Contains("2 trials"));
  CHECK_FALSE(fs::exists(chart));
  const SearchResults done = ran(planned);
  CHECK_THROWS_WITH(plot_results(done, chart, "t", "depth"),
                    Catch::Contains("has no value 'depth'") && Catch::Contains("hidden"));
  CHECK_THROWS_WITH(format_results_table(done, false, "eta"), Catch::Contains("has no value 'eta'"));
  CHECK_FALSE(fs::exists(chart));
  // A log scale has no place for a value <= 0.
  SearchResults zero =
      plan_search("z", {.parameter = "eta", .range = {-2, -1}, .log_scale = true}, SearchKind::grid, 1, draws);
  zero.trials[0].settings[0].second = 0;
  CHECK_THROWS_WITH(plot_results(ran(zero), chart, "t"), Catch::Contains("> 0 on a log scale"));
}

TEST_CASE("run_lambda_search runs a stage of a plan_search: results, summary.json with the best value, the chart",
          "[train][search][chain]") {
  TempDir temp("search_stage_hidden");
  Generator draws(2);
  const RunDirectory directory(temp.path() / "widths");
  const SearchResults results =
      run_lambda_search(directory,
                        plan_search("widths", {.parameter = "hidden", .range = {10, 40}, .integer = true},
                                    SearchKind::grid, 4, draws),
                        {}, [](TrialRecord& trial, const RunDirectory&) {
                          const double hidden = *setting_of(trial, "hidden");
                          if (hidden > 35) throw std::runtime_error("too wide");
                          trial.val_accuracy = hidden / 100;
                          trial.train_accuracy = hidden / 80;
                        });
  CHECK(results.best().name == "trial03_hidden30");
  const auto summary = read_json(directory.root() / "summary.json");
  CHECK(summary["best_hidden"] == 30.0);
  CHECK(summary["completed_trials"] == 3);
  CHECK_FALSE(summary.contains("best_log10_lambda"));
  CHECK(fs::file_size(directory.plot_path("validation_accuracy")) > 1000);
  CHECK(read_results(directory.root() / "results.json").trials.back().error == "too wide");
}
