#include "apps/common/lambda_search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "apps/common/app_error.h"
#include "apps/common/run_info.h"
#include "apps/common/sweep.h"

namespace tapegrad::apps {
namespace {

nlohmann::json json_of(const train::ResultValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

// The chain's stages below `output`, those that `all` ran handed over in memory.
train::SearchChain chain_at(const std::filesystem::path& output, const EarlierSearches& earlier) {
  train::SearchChain chain = earlier;
  chain.root = output;
  return chain;
}

// What the library finds in a stage's results.json, an unreadable one the apps' DataError (exit 3).
template <class Find>
auto read_stage(const Find& find) {
  try {
    return find();
  } catch (const train::StageUnreadable& error) {
    throw DataError(error.what(), "run the search again to rewrite it");
  }
}

std::optional<LambdaChoice> final_lambda(std::optional<double> given_lambda, const std::filesystem::path& output,
                                         const EarlierSearches& earlier) {
  if (given_lambda) return LambdaChoice{*given_lambda, "--lambda"};
  const auto best = read_stage([&] { return train::final_lambda(chain_at(output, earlier)); });
  if (!best) return std::nullopt;
  return LambdaChoice{best->lambda,
                      fmt::format("the best of the {} search ({}/results.json)", best->stage, best->stage)};
}

// fine: centred on log10 of `given_lambda` (which must be > 0: else UsageError), else on the best coarse trial.
std::optional<train::Range> fine_search_range(std::optional<double> given_lambda, double width,
                                              const std::filesystem::path& output, const EarlierSearches& earlier) {
  if (given_lambda && !(*given_lambda > 0)) {
    read_stage([&] { return chain_at(output, earlier).stage("coarse"); });  // an unreadable one is named first
    throw UsageError(fmt::format("fine: --lambda must be > 0 to centre the search on log10 lambda, got {}",
                                 *given_lambda));
  }
  return read_stage([&] { return train::fine_search_range(chain_at(output, earlier), given_lambda, width); });
}

// The UsageError (exit 2) for a fine or final run that finds neither an earlier search in `output` nor --lambda.
[[noreturn]] void throw_nothing_to_start_from(const std::string& preset, const std::filesystem::path& output) {
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

}  // namespace

void validate(const SearchSettings& s) {
  if (!(s.log_lambda_min <= s.log_lambda_max)) {
    throw UsageError(fmt::format("--log-lambda-min ({}) must not be larger than --log-lambda-max ({})",
                                 s.log_lambda_min, s.log_lambda_max));
  }
}

nlohmann::json search_summary_json(const train::SearchResults& results) {
  nlohmann::json summary = {{"build", build_info_json()}};
  for (const auto& [key, value] : train::search_summary(results)) summary[key] = json_of(value);
  for (const char* key : {"n_s", "cycles", "data"}) summary[key] = json_of(results.fields.at(key));
  return summary;
}

SearchPlan plan_search(const std::string& preset, const SearchSettings& settings, const SearchRange& range,
                       std::uint64_t seed, long n_s, int cycles, const ImageSplits& splits, int threads) {
  Generator generator = Generator(seed).split(preset == "coarse" ? 101 : 102);
  SearchPlan plan{train::plan_lambda_search(preset, settings.kind, {range.low, range.high}, settings.trials, generator),
                  n_s, cycles, threads, {{"range_source", range.source}}};
  plan.search.fields = {{"train_examples", static_cast<long>(splits.train.size())},
                        {"validation_examples", static_cast<long>(splits.validation.size())},
                        {"data", splits.description}};
  return plan;
}

train::SearchResults run_lambda_search(const SearchPlan& plan, const RunDirectory& directory,
                                       const TrialTrainer& train_trial) {
  train::SearchResults search = plan.search;
  const std::size_t count = search.trials.size();
  const int workers = std::max(1, std::min<int>(plan.threads, static_cast<int>(count)));
  nlohmann::json config = plan.config;
  for (const auto& [key, value] : search.fields) config[key] = json_of(value);
  for (const auto& trial : search.trials) config["log10_lambdas"].push_back(*trial.log10_lambda);
  const train::Range range = *search.log10_range;
  config.update({{"search", search.name}, {"log_lambda_min", range.low}, {"log_lambda_max", range.high},
                 {"workers", workers}, {"written_at", utc_timestamp()}});
  write_run_config(directory, config);
  spdlog::info("{} search: {} values of log10 lambda in [{:.3f}, {:.3f}], {} cycle{} of 2 x {} steps each, {} at a "
               "time",
               search.name, count, range.low, range.high, plan.cycles, plan.cycles == 1 ? "" : "s", plan.n_s, workers);

  const std::vector<std::string> names = train::names_of(search.trials);
  std::vector<std::string> lines(count);  // what each completed trial says, for the log
  search.fields.insert({{"n_s", plan.n_s}, {"cycles", long{plan.cycles}}});
  const train::StageOptions options{
      .trials = trials_options(plan.threads, names, [&](std::size_t i) { return lines[i]; }),
      .after_trials = [&](const train::TrialRuns& runs) { end_trials(runs, directory); },
      .write_summary = [](const RunDirectory& into,
                          const train::SearchResults& results) { into.write_summary(search_summary_json(results)); },
      .chart_title = fmt::format("{} search: accuracy after {} cycle{} (n_s = {})", search.name, plan.cycles,
                                 plan.cycles == 1 ? "" : "s", plan.n_s)};
  search = train::run_lambda_search(directory, std::move(search), options,
                                    [&](train::TrialRecord& trial, const RunDirectory& into) {
                                      train_trial(trial, into);
                                      lines[*trial.index - 1] = fmt::format("{}: validation {:.2f}%", trial.name,
                                                                            100 * trial.val_accuracy);
                                    });
  if (search.trials.empty() || !search.trials.front().completed) {
    throw Error(fmt::format("the {} search: every trial failed (first: {}); try a smaller --eta-max", search.name,
                            search.trials.empty() ? "none ran" : search.trials.front().error));
  }
  return search;
}

LambdaChoice lambda_for_final(std::optional<double> given_lambda, const std::filesystem::path& output,
                              const EarlierSearches& earlier) {
  const std::optional<LambdaChoice> choice = final_lambda(given_lambda, output, earlier);
  if (!choice) throw_nothing_to_start_from("final", output);
  spdlog::info("final: lambda {:.4e} from {}", choice->lambda, choice->source);
  return *choice;
}

SearchRange search_range(const std::string& preset, const SearchSettings& settings,
                         std::optional<double> given_lambda, const std::filesystem::path& output,
                         const EarlierSearches& earlier) {
  if (preset != "fine") {
    return {settings.log_lambda_min, settings.log_lambda_max, "--log-lambda-min and --log-lambda-max"};
  }
  const std::optional<train::Range> range = fine_search_range(given_lambda, settings.fine_width, output, earlier);
  if (!range) throw_nothing_to_start_from("fine", output);
  return {range->low, range->high,
          given_lambda ? "centred on --lambda" : "centred on the best of the coarse search (coarse/results.json)"};
}

void check_search_inputs(const std::string& preset, std::optional<double> given_lambda,
                         const std::filesystem::path& output) {
  if ((preset == "final" && !final_lambda(given_lambda, output, {})) ||
      (preset == "fine" && !fine_search_range(given_lambda, 0, output, {}))) {
    throw_nothing_to_start_from(preset, output);
  }
}

}  // namespace tapegrad::apps
