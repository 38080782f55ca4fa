#include "apps/common/cli.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/build_record.h>
#include <tapegrad/nn/train/directory_run.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "apps/common/bounds.h"
#include "apps/common/run_dir.h"
#include "apps/common/run_info.h"
#include "apps/common/threads.h"

namespace tapegrad::apps {

std::string Bounds::describe() const {
  const bool has_low = std::isfinite(low);
  const bool has_high = std::isfinite(high);
  if (!has_low && !has_high) return "any number";
  if (has_low && has_high && !low_open && !high_open) return fmt::format("from {} to {}", low, high);
  std::vector<std::string> parts;
  if (has_low) parts.push_back(fmt::format("{} {}", low_open ? ">" : ">=", low));
  if (has_high) parts.push_back(fmt::format("{} {}", high_open ? "<" : "<=", high));
  return fmt::format("{}", fmt::join(parts, " and "));
}

std::string with_allowed(const std::string& help, const Bounds& bounds) {
  return std::isfinite(bounds.low) || std::isfinite(bounds.high)
             ? fmt::format("{} (allowed: {})", help, bounds.describe())
             : help;
}

std::string out_of_range(std::string_view text, const Bounds& allowed) {
  return fmt::format("{} is out of range; allowed: {}", text, allowed.describe());
}

Check choice_check(std::vector<std::string> choices) {
  return [choices = std::move(choices)](const std::string& text) {
    if (std::ranges::find(choices, text) != choices.end()) return std::string();
    return fmt::format("'{}' is not one of the choices; allowed: {}", text, fmt::join(choices, ", "));
  };
}

CommandLine::CommandLine(AppDescription description)
    : description_(std::move(description)),
      app_(std::make_unique<CLI::App>(description_.summary, description_.name)) {
  if (description_.presets.empty()) {
    throw_error(fmt::format("{}: the command line needs at least one preset name", description_.name));
  }
  if (description_.default_preset.empty()) description_.default_preset = description_.presets.front();
  if (std::ranges::find(description_.presets, description_.default_preset) == description_.presets.end()) {
    throw_error(fmt::format("{}: the default preset '{}' is not one of the presets ({})", description_.name,
                            description_.default_preset, fmt::join(description_.presets, ", ")));
  }
  std::string footer;
  if (!description_.preset_descriptions.empty()) {
    footer += "Presets:\n";
    for (const auto& [preset, text] : description_.preset_descriptions) {
      footer += fmt::format("  {:<20}{}\n", preset, text);
    }
    footer += "\n";
  }
  footer += fmt::format(
      "Exit codes: {} success, {} other failure (a diverging run, say), {} bad usage, {} missing or bad data, {} "
      "interrupted by Ctrl-C or SIGTERM after saving (continue with --resume).",
      exit_code::success, exit_code::failure, exit_code::bad_usage, exit_code::bad_data, exit_code::interrupted);
  app_->footer(footer);
  const train::BuildRecord build = train::build_record();
  app_->set_version_flag("--version",
                         fmt::format("{} (tapegrad {}, {})", description_.name, build.tapegrad, build.compiler));
  add_common_options();
}

CommandLine::~CommandLine() = default;

void CommandLine::add_common_options() {
  add_option(
      "--data",
      fmt::format("directory that holds the data set (default: {})", description_.default_data_directory.string()),
      "DIR");
  add_option(
      "--out",
      fmt::format("a preset's run goes to OUT/<preset>/ (config.json, metrics.csv, summary.json, the plots, "
                  "the checkpoint), and all adds OUT/report.md; created if missing (default: {})",
                  description_.default_output_directory.string()),
      "DIR");
  add_option("--preset",
             fmt::format("settings to start from: {} (default: {}); the other flags override single settings",
                         fmt::join(description_.presets, ", "), description_.default_preset),
             "NAME", [presets = description_.presets](const std::string& text) {
               if (std::ranges::find(presets, text) != presets.end()) return std::string();
               return fmt::format("unknown preset '{}'; valid presets: {}", text, fmt::join(presets, ", "));
             });
  add_option("--seed",
             fmt::format("seed of every random draw; the same seed gives the same run (default: {})",
                         description_.default_seed),
             "N", number_check<std::uint64_t>(Bounds::any()));
  // Bounded by the machine (threads.h); a count out of range gets a hint that says why.
  const Bounds thread_bounds = Bounds::between(1, max_thread_count());
  add_option("--threads",
             with_allowed(fmt::format("threads for the matrix products, by default all {} of this machine's",
                                      hardware_thread_count()),
                          thread_bounds),
             "N", number_check<int>(thread_bounds));
  add_option(
      "--resume",
      "continue the interrupted run in DIR (OUT/<preset>; OUT for all, or when OUT holds one preset's run) with "
      "the flags it was started with (only --threads, --data, --verbose and --quiet may be given too); "
      "finished runs in it are kept. It also merges the shards of a search (--shard): it keeps every trial "
      "that completed, runs those still missing, and writes the results, report and plots as one process "
      "would",
      "DIR");
  if (!description_.search_presets.empty()) {
    add_option(
        "--shard",
        fmt::format("run shard K of N (0 <= K < N) of a search ({}): only its trials whose index mod N is K, "
                    "into the --out the other shards share, writing no results; start all N at once (a Slurm "
                    "job array, GNU parallel) with the same flags, then merge them with --resume OUT/<preset>",
                    fmt::join(description_.search_presets, ", ")),
        "K/N");
  }
  app_->add_flag("--overwrite", overwrite_,
                 "let a new run replace the run that --out already holds (without it, that is refused)");
  app_->add_flag("--verbose", verbose_, "also log debug detail");
  app_->add_flag("--quiet", quiet_, "log only warnings and errors");
}

void CommandLine::add_option(const std::string& flag, const std::string& help, const std::string& value_name,
                             Check check) {
  if (flag.size() < 3 || !flag.starts_with("--")) {
    throw_error(fmt::format("{}: flag '{}' must look like --name", description_.name, flag));
  }
  try {
    CLI::Option* added =
        app_->add_option(flag, help)->type_name(value_name)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    // Index 0 of TakeLast is the value that wins: an earlier value that it overrides is not checked.
    if (check)
      added->check(CLI::Validator([check](std::string& text) { return check(text); }, "").application_index(0));
  } catch (const CLI::ConstructionError& error) {
    throw_error(fmt::format("{}: cannot add {}: {}", description_.name, flag, error.what()));
  }
}

CLI::Option& CommandLine::option(std::string_view flag) const {
  CLI::Option* found = app_->get_option_no_throw(std::string(flag));
  if (found == nullptr)
    throw_error(fmt::format("{}: no flag {} was added to the command line", description_.name, flag));
  return *found;
}

bool CommandLine::was_given(std::string_view flag) const { return option(flag).count() > 0; }

std::optional<std::string> CommandLine::text(std::string_view flag) const {
  const CLI::Option& given = option(flag);
  if (given.count() == 0) return std::nullopt;
  return given.as<std::string>();
}

std::string CommandLine::help() const { return app_->help(); }

namespace {

// The flag a token names ("--threads" for "--threads=2"), or empty when the token is not a flag.
std::string flag_name(const std::string& token) {
  return token.starts_with("--") ? token.substr(0, token.find('=')) : "";
}

bool takes_value(const std::string& flag) {
  return flag != "--verbose" && flag != "--quiet" && flag != "--overwrite";
}

// Removes `flag` from `arguments` wherever it stands, with its value ("--out DIR", "--out=DIR"; "--quiet" alone),
// and returns the value it was given last (the one that wins): empty when it had none, nothing when it was absent.
std::optional<std::string> remove_flag(std::vector<std::string>& arguments, const std::string& flag) {
  std::optional<std::string> value;
  for (auto token = arguments.begin(); token != arguments.end();) {
    if (flag_name(*token) != flag) {
      ++token;
    } else if (*token != flag || !takes_value(flag)) {
      value = token->substr(std::min(token->size(), flag.size() + 1));
      token = arguments.erase(token);
    } else {
      const bool has_value = token + 1 != arguments.end();
      value = has_value ? *(token + 1) : "";
      token = arguments.erase(token, token + (has_value ? 2 : 1));
    }
  }
  return value;
}

}  // namespace

void CommandLine::parse(int argc, const char* const* argv) {
  if (parsed_) throw_error(fmt::format("{}: the command line was already parsed", description_.name));
  parsed_ = true;
  const char* const program_only[] = {description_.name.c_str()};
  if (argc < 1 || argv == nullptr) {
    argc = 1;
    argv = program_only;
  }
  // --resume DIR: parse the arguments DIR's run was started with instead, plus the few flags allowed with it.
  std::vector<std::string> arguments(argv + 1, argv + argc);
  if (const std::optional<std::string> resume_directory = remove_flag(arguments, "--resume")) {
    if (resume_directory->empty()) throw UsageError("--resume needs a value: the run's output directory");
    arguments = resumed_arguments(*resume_directory, arguments);
    common_.resume = true;
  }
  common_.command_line = {argv[0]};
  common_.command_line.insert(common_.command_line.end(), arguments.begin(), arguments.end());
  try {
    std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());  // as CLI11 takes a vector
    app_->parse(reversed);
  } catch (const CLI::CallForHelp&) {
    throw InfoRequested(app_->help());
  } catch (const CLI::CallForVersion& version) {
    throw InfoRequested(std::string(version.what()) + "\n");
  } catch (const CLI::ParseError& error) {
    if (app_->get_help_ptr()->count() > 0) throw InfoRequested(app_->help());  // --help wins over a bad value
    // --threads is bounded by the machine (threads.h): its hint says why.
    const bool threads = std::string_view(error.what()).starts_with("--threads: ");
    throw UsageError(error.what(), threads ? thread_count_hint() : std::string());
  }
  if (verbose_ && quiet_) throw UsageError("--verbose and --quiet cannot be used together");
  common_.data_directory = text("--data").value_or(description_.default_data_directory.string());
  common_.output_directory = text("--out").value_or(description_.default_output_directory.string());
  common_.preset = text("--preset").value_or(description_.default_preset);
  common_.seed = number<std::uint64_t>("--seed").value_or(description_.default_seed);
  common_.threads = number<int>("--threads").value_or(hardware_thread_count());
  common_.overwrite = overwrite_;
  common_.verbosity = verbose_ ? Verbosity::verbose : quiet_ ? Verbosity::quiet : Verbosity::normal;
  resolve_shard();
  common_.settings = recorded_settings();
}

void CommandLine::resolve_shard() {
  if (description_.search_presets.empty() || !was_given("--shard")) return;
  try {
    common_.shard = Shard::parse(*text("--shard"));
  } catch (const Error& error) {
    throw UsageError(fmt::format("--shard: {}", error.what()),
                     "give for example --shard 0/4 .. --shard 3/4 to four processes");
  }
  const auto& searches = description_.search_presets;
  if (std::ranges::find(searches, common_.preset) == searches.end()) {
    const char* why = common_.preset == "all" ? "runs every preset, and shards split one search at a time"
                                              : "runs no search, so it has no trials to split";
    throw UsageError(fmt::format("--shard: preset '{}' {}; --shard goes with {}", common_.preset, why,
                                 fmt::join(searches, ", ")),
                     fmt::format("run --preset {} without --shard, or give --preset {} --shard K/N",
                                 common_.preset, searches.front()));
  }
  if (common_.overwrite) {
    throw UsageError(
        "--shard cannot be given with --overwrite: every shard joins one search, and one of them "
        "would remove the files of the others",
        "remove the earlier run yourself, or give the shards another --out directory");
  }
}

nlohmann::json CommandLine::recorded_settings() const {
  // Where and how a run goes, not what it computes: these may differ between shards and their merge.
  static constexpr std::string_view kNotSettings[] = {"--out",    "--data",  "--threads",   "--verbose",
                                                      "--quiet",  "--shard", "--overwrite", "--resume",
                                                      "--preset", "--seed"};
  nlohmann::json settings = nlohmann::json::object();
  for (const CLI::Option* option : app_->get_options()) {
    const std::string flag = option->get_name();
    if (option->count() == 0 || std::ranges::find(kNotSettings, flag) != std::end(kNotSettings)) continue;
    settings[flag] = option->as<std::string>();
  }
  settings["--preset"] = common_.preset;
  settings["--seed"] = std::to_string(common_.seed);
  // Each trial records the data it was trained on by its path, so the shards of one search must read the same one.
  settings["--data"] = common_.data_directory.string();
  return settings;
}

namespace {

// A JSON file, or a discarded value when it cannot be read or parsed.
nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in, nullptr, false);
}

// The arguments a run recorded in its invocation.json, or none for a damaged file.
std::optional<std::vector<std::string>> recorded_arguments(const nlohmann::json& invocation) {
  if (invocation.is_discarded() || !invocation.contains("arguments") || !invocation["arguments"].is_array())
    return {};
  return invocation["arguments"].get<std::vector<std::string>>();
}

// The immediate subdirectories of `out` that hold a run's invocation.json: the presets run there.
std::vector<std::filesystem::path> preset_runs_in(const std::filesystem::path& out) {
  std::vector<std::filesystem::path> runs;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(out, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (std::filesystem::is_regular_file(it->path() / "invocation.json", error)) runs.push_back(it->path());
  }
  std::ranges::sort(runs);
  return runs;
}

// Where the run that --resume `given` names keeps its invocation.json, and the --out it was started with.
struct RunToResume {
  std::filesystem::path invocation_file;
  std::filesystem::path out;
};

RunToResume locate_run_to_resume(const std::filesystem::path& given) {
  std::filesystem::path directory = given.lexically_normal();
  if (directory.has_parent_path() && !directory.has_filename()) directory = directory.parent_path();
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    throw UsageError(
        fmt::format("--resume: '{}' is not a directory; give the directory of the run to continue "
                    "(OUT/<preset>, or OUT for --preset all)",
                    given.string()));
  }
  const std::filesystem::path file = directory / "invocation.json";
  if (!std::filesystem::exists(file, error)) {
    const auto runs = preset_runs_in(directory);
    if (runs.size() == 1) return locate_run_to_resume(runs.front());
    if (runs.empty()) {
      throw UsageError(
          fmt::format("--resume: '{}' holds no run to continue (invocation.json is missing)", given.string()),
          "give the --out directory of a run, or its OUT/<preset> directory");
    }
    std::vector<std::string> names(runs.begin(), runs.end());
    throw UsageError(fmt::format("--resume: '{}' holds the runs of several presets: {}", given.string(),
                                 fmt::join(names, ", ")),
                     "give the one to continue, OUT/<preset>");
  }
  const std::string preset = read_json(file).value("preset", std::string("all"));
  if (preset == "all") return {file, directory};
  if (directory.filename() == preset) {
    return {file, directory.has_parent_path() ? directory.parent_path() : std::filesystem::path(".")};
  }
  // Before every app wrote OUT/<preset>/, two apps kept OUT/invocation.json beside OUT/<preset>/: still resumable.
  if (std::filesystem::is_directory(directory / preset, error)) return {file, directory};
  throw UsageError(
      fmt::format("--resume: '{}' holds a run of preset {} in the layout of an older version, with its "
                  "files in the --out directory itself; this version writes a preset's run to "
                  "OUT/{}/ and cannot continue it",
                  given.string(), preset, preset),
      fmt::format("start the run again with --out {} --overwrite, or with another --out directory",
                  given.string()));
}

}  // namespace

std::vector<std::string> resumed_arguments(const std::filesystem::path& directory,
                                           const std::vector<std::string>& given) {
  const RunToResume run = locate_run_to_resume(directory);
  const auto saved = recorded_arguments(read_json(run.invocation_file));
  if (!saved) {
    throw UsageError(fmt::format("--resume: '{}' is damaged: it should hold the run's arguments",
                                 run.invocation_file.string()));
  }
  std::vector<std::string> arguments = *saved;
  // --out, --verbose, --quiet and --overwrite are this run's own.
  for (const char* own : {"--out", "--verbose", "--quiet", "--overwrite"}) remove_flag(arguments, own);
  for (std::size_t i = 0; i < given.size(); ++i) {
    const std::string flag = flag_name(given[i]);
    if (std::ranges::find(kFlagsAllowedWithResume, flag) == std::end(kFlagsAllowedWithResume)) {
      throw UsageError(
          fmt::format("--resume continues a run with the settings it was started with, so '{}' cannot "
                      "be given with it; allowed: {}",
                      given[i], fmt::join(kFlagsAllowedWithResume, ", ")));
    }
    arguments.push_back(given[i]);
    if (takes_value(flag) && given[i].find('=') == std::string::npos && i + 1 < given.size()) {
      arguments.push_back(given[++i]);
    }
  }
  arguments.insert(arguments.end(), {"--out", run.out.string()});
  return arguments;
}

std::filesystem::path run_directory_of(const CommonOptions& common) {
  return common.preset == "all" ? common.output_directory : common.output_directory / common.preset;
}

namespace {

// The invocation.json of a run in `out` that a new run of `preset` would mix its files with: one of the same
// preset, or any when either is "all". A damaged file counts as such a run.
std::optional<std::filesystem::path> run_in_the_way(const std::filesystem::path& out, const std::string& preset) {
  std::error_code error;
  const std::filesystem::path top = out / "invocation.json";
  if (std::filesystem::exists(top, error)) {
    const nlohmann::json earlier = read_json(top);
    const bool has_preset = !earlier.is_discarded() && earlier.contains("preset") && earlier["preset"].is_string();
    const std::string earlier_preset = has_preset ? earlier["preset"].get<std::string>() : "";
    if (preset == "all" || earlier_preset.empty() || earlier_preset == "all" || earlier_preset == preset)
      return top;
  }
  if (preset != "all") {
    const std::filesystem::path own = out / preset / "invocation.json";
    return std::filesystem::exists(own, error) ? std::optional(own) : std::nullopt;
  }
  const auto runs = preset_runs_in(out);
  return runs.empty() ? std::nullopt : std::optional(runs.front() / "invocation.json");
}

[[noreturn]] void refuse_run_in_the_way(const std::filesystem::path& out,
                                        const std::filesystem::path& invocation_file) {
  const auto arguments = recorded_arguments(read_json(invocation_file));
  throw UsageError(
      fmt::format("the --out directory '{}' already holds a run{}; a new run there would mix its files "
                  "with that run's",
                  out.string(), arguments ? fmt::format(" (started with: {})", fmt::join(*arguments, " ")) : ""),
      fmt::format("continue that run with --resume {}, give another --out directory, or add "
                  "--overwrite to replace it",
                  invocation_file.parent_path().string()));
}

// A shard joins the search recorded in `file` only with that search's settings: shards of other settings would put
// the trials of two searches into one results table, and the merge (which runs with the recorded ones) would not
// match them.
void check_joins_search(const CommonOptions& common, const std::filesystem::path& file) {
  const nlohmann::json recorded = read_json(file);
  const bool has_settings =
      !recorded.is_discarded() && recorded.contains("settings") && recorded["settings"].is_object();
  const std::string theirs = has_settings ? recorded["settings"].dump() : "{}";
  const std::string differences = train::describe_differences(
      train::differing_entries(common.settings.dump(), theirs, /*both_ways=*/true),
      {.there = "there", .absent = "(not given)", .quote_text = false});
  if (differences.empty()) return;
  throw UsageError(fmt::format("--shard {}: the search in '{}' was started with other settings: {}; the shards "
                               "of a search and its merge must share every setting",
                               common.shard->text(), file.parent_path().string(), differences),
                   fmt::format("start this shard with the flags recorded in {} (only --threads, --verbose and "
                               "--quiet may differ), or give it another --out directory",
                               file.string()));
}

// invocation.json, which --resume reads: a shard's arguments without --shard, which is not a setting of the
// search.
std::string invocation_text(const CommonOptions& common) {
  std::vector<std::string> arguments(common.command_line.begin() + (common.command_line.empty() ? 0 : 1),
                                     common.command_line.end());
  remove_flag(arguments, "--shard");
  const nlohmann::json invocation = {
      {"program", common.command_line.empty() ? std::string() : common.command_line.front()},
      {"arguments", arguments},
      {"preset", common.preset},
      {"settings", common.settings},
      {"written_at", utc_timestamp()}};
  return invocation.dump(2) + "\n";
}

}  // namespace

RunDirectory prepare_output_directory(const CommonOptions& common, const std::function<void()>& check_inputs) {
  RunDirectory directory(common.output_directory);
  common.shard ? directory.lock_shared() : directory.lock();
  // A run that cannot have its product threads fails here, before it writes anything.
  if (const int before = product_threads(); common.threads != before) {
    set_thread_count(common.threads);
    set_thread_count(before);
  }
  const std::filesystem::path own_invocation = run_directory_of(common) / "invocation.json";
  if (!common.resume && !common.overwrite) {
    if (const auto earlier = run_in_the_way(directory.root(), common.preset)) {
      // A shard joins the search of its own preset that other shards (or a run of the same flags) started there.
      if (!common.shard || *earlier != own_invocation) refuse_run_in_the_way(directory.root(), *earlier);
      check_joins_search(common, *earlier);
    }
  }
  check_disk_for_checkpoints(directory.root());
  if (check_inputs) check_inputs();
  if (!common.resume) {
    const RunDirectory own = common.preset == "all" ? directory : directory.sub_run(common.preset);
    // --overwrite: nothing of the earlier run may be taken for this one's; the apps' own files go too.
    try {
      if (common.overwrite) own.remove_run_files({"invocation.json", "top10.md", "report.md", "gradcheck.json"});
    } catch (const Error& error) {
      throw UsageError(fmt::format("--overwrite: {}", error.what()),
                       "remove the earlier run's files yourself, or give another --out directory");
    }
    if (!common.shard) {
      write_file_atomically(own.root() / "invocation.json", invocation_text(common));
    } else if (!train::write_file_once(own.root() / "invocation.json", invocation_text(common))) {
      check_joins_search(common, own_invocation);  // another shard wrote it first, at the same moment
    }
  }
  set_active_shard(common.shard);
  return directory;
}

std::string preset_values(const AppDescription& description,
                          const std::function<std::optional<std::string>(const std::string& preset)>& value_of) {
  const std::optional<std::string> fallback = value_of(description.default_preset);
  std::vector<std::string> differing;
  for (const auto& preset : description.presets) {
    if (preset == "all" || preset == description.default_preset) continue;
    const std::optional<std::string> value = value_of(preset);
    if (value && value != fallback) differing.push_back(fmt::format("{}: {}", preset, *value));
  }
  std::string shown = fallback ? fmt::format("default: {}", *fallback) : "";
  if (!differing.empty()) shown += fmt::format("{}{}", fallback ? "; " : "", fmt::join(differing, ", "));
  return shown.empty() ? shown : fmt::format(" ({})", shown);
}

}  // namespace tapegrad::apps
