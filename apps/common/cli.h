// The apps' command line, on CLI11: the common flags every app has (--data, --out, --preset, --seed, --threads,
// --resume, --overwrite, --verbose, --quiet, --version, --help) plus each app's settings, which its SettingsTable
// declares (settings_table.h). Every refusal names the flag, the value and what is allowed, with exit code 2.
//
//   CommandLine command_line({.name = "cifar_softmax", .summary = "...", .presets = {"default", "fast"},
//                             .default_data_directory = "data/cifar-10-batches-bin",
//                             .default_output_directory = "runs/cifar_softmax"});
//   const auto apply_flags = settings_table().add_flags(command_line, preset_settings);
//   command_line.parse(argc, argv);            // UsageError (exit 2) or InfoRequested (exit 0)
//   Settings settings = preset_settings(command_line.common().preset);
//   apply_flags(settings);                     // the flags that were given
#pragma once

#include <fmt/format.h>
#include <tapegrad/nn/train/csv.h>  // train::shortest_text

#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/logging.h"
#include "apps/common/run_dir.h"
#include "apps/common/shard.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace tapegrad::apps {

struct AppDescription {
  std::string name{};                  // the program's name, in --help and --version
  std::string summary{};               // one line for --help
  std::vector<std::string> presets{};  // the valid --preset names; at least one
  std::string default_preset{};        // empty: the first of presets
  std::filesystem::path default_data_directory{};
  std::filesystem::path default_output_directory{};
  std::uint64_t default_seed = 42;
  // One line per preset for --help ("three-layer-bn: [50, 50] with batch normalisation"); presets without one are
  // listed by name only.
  std::vector<std::pair<std::string, std::string>> preset_descriptions{};
  // The presets that run a search, whose trials --shard splits between processes; --shard with any other preset is
  // refused.
  std::vector<std::string> search_presets{};
};

// The resolved common flags of a run.
struct CommonOptions {
  std::filesystem::path data_directory{};
  std::filesystem::path output_directory{};
  std::string preset{};
  std::uint64_t seed = 0;
  int threads = 1;
  Verbosity verbosity = Verbosity::normal;
  std::vector<std::string> command_line{};  // the arguments in effect, program name first
  // --resume DIR: continue the run in DIR with the flags it was started with (read from its invocation.json);
  // output_directory is then that run's --out.
  bool resume = false;
  // --overwrite: a new run may replace the run that --out already holds (without it, that is refused).
  bool overwrite = false;
  // --shard K/N: this process runs its shard of the search's trials (shard.h); not a setting of the run, so it is
  // left out of invocation.json and of `settings`.
  std::optional<Shard> shard{};
  // What the run computes, as the command line set it: every flag given, with its value, but for those that only
  // say where and how it runs (--out, --threads, --verbose, --quiet, --overwrite, --shard, --resume); and
  // --preset, --seed and --data always, resolved. invocation.json records it; every shard of a search must match
  // it.
  nlohmann::json settings = nlohmann::json::object();
};

// Every app writes one preset's run to OUT/<preset>/, whether it runs one preset or "all"; "all" adds
// OUT/report.md and its own config.json and summary.json. A run's invocation.json (the arguments it was started
// with, which --resume reads) lies in the run's own directory: OUT/<preset>/ for one preset, OUT/ for "all".
std::filesystem::path run_directory_of(const CommonOptions& common);

// The numbers a setting allows: a lower and an upper limit (infinite: none), each inclusive or not.
struct Bounds {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;
  bool high_open = false;

  static Bounds any() { return {}; }
  static Bounds at_least(double low) { return {.low = low}; }
  static Bounds above(double low) { return {.low = low, .low_open = true}; }
  static Bounds between(double low, double high) { return {.low = low, .high = high}; }
  // These bounds, with `limit` as an upper limit that is itself refused: Bounds::above(0).below(1).
  Bounds below(double limit) const { return {.low = low, .high = limit, .low_open = low_open, .high_open = true}; }

  bool contains(double value) const {
    return (low_open ? value > low : value >= low) && (high_open ? value < high : value <= high);
  }
  // "> 0", ">= 1", "from 0 to 1", "> 0 and < 1"; "any number" without limits.
  std::string describe() const;
};

// "learning rate (allowed: > 0)"; the help alone without limits.
std::string with_allowed(const std::string& help, const Bounds& bounds);

// Why `text` is not allowed as a flag's value, as CLI11 ends "--flag: " with it; empty when it is allowed.
using Check = std::function<std::string(const std::string& text)>;

// "-5 is out of range; allowed: >= 1".
std::string out_of_range(std::string_view text, const Bounds& allowed);

template <class Number>
concept FlagNumber = (std::integral<Number> || std::floating_point<Number>)&&!std::same_as<Number, bool>;

// `text` as a Number within `bounds` and the Number's own range (no 300 for an 8-bit setting), or why not: "'ten'
// is not an integer; allowed: >= 1", "-5 is out of range; allowed: >= 1". Decimal only, a leading '+' taken.
template <FlagNumber Number>
std::variant<Number, std::string> read_number(std::string_view text, const Bounds& bounds) {
  using Limits = std::numeric_limits<Number>;
  // What the type allows too, on the side where the value left it.
  const auto within_type = [&bounds](bool negative) {
    Bounds limited = bounds;
    if (negative) limited.low = std::max(bounds.low, static_cast<double>(Limits::lowest()));
    if (!negative && !std::same_as<Number, double>)
      limited.high = std::min(bounds.high, static_cast<double>(Limits::max()));
    return limited;
  };
  std::string_view digits = text;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  const char* const last = digits.data() + digits.size();
  Number value{};
  std::from_chars_result read = std::from_chars(digits.data(), last, value);
  if constexpr (std::unsigned_integral<Number>) {
    long long negative = 0;  // "-5" is a number out of range, "-x" is not a number
    if (digits.starts_with('-')) read = std::from_chars(digits.data(), last, negative);
    if (negative < 0 && read.ec == std::errc()) read.ec = std::errc::result_out_of_range;
  }
  const auto [end, error] = read;
  const bool whole = !digits.empty() && end == last;
  if (whole && error == std::errc::result_out_of_range)
    return out_of_range(text, within_type(digits.starts_with('-')));
  if (!whole || error != std::errc()) {
    const char* const kind = std::floating_point<Number>    ? "a number"
                             : std::signed_integral<Number> ? "an integer"
                                                            : "a non-negative integer";
    return fmt::format("'{}' is not {}; allowed: {}", text, kind,
                       (std::unsigned_integral<Number> ? within_type(true) : bounds).describe());
  }
  if (std::isnan(static_cast<double>(value)) || std::isinf(static_cast<double>(value))) {
    return fmt::format("'{}' is not a finite number; allowed: {}", text, bounds.describe());
  }
  if (!bounds.contains(static_cast<double>(value))) return out_of_range(text, bounds);
  return value;
}

// The check of a FlagNumber flag: read_number's refusal.
template <FlagNumber Number>
Check number_check(const Bounds& bounds) {
  return [bounds](const std::string& text) {
    auto read = read_number<Number>(text, bounds);
    return std::holds_alternative<std::string>(read) ? std::get<std::string>(std::move(read)) : std::string();
  };
}

// The check of a flag whose value is one of `choices`.
Check choice_check(std::vector<std::string> choices);

class CommandLine {
 public:
  // Throws tapegrad::Error when the description has no presets or its default preset is not one of them.
  explicit CommandLine(AppDescription description);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;
  ~CommandLine();

  // --flag VALUE, refused (exit 2, naming the flag) when `check` says why; the last of repeated flags wins, so a
  // script's defaults can be overridden by appending. Throws tapegrad::Error for a flag that is not --name or is
  // taken. An app's settings come from its SettingsTable (settings_table.h), which calls this.
  void add_option(const std::string& flag, const std::string& help, const std::string& value_name,
                  Check check = {});

  // Parses argv (argv[0] is the program). Throws InfoRequested for --help and --version, and UsageError (exit
  // code 2) naming the flag for anything wrong: unknown flags, missing values, values out of range, unknown
  // preset names (listing the valid ones). Call once, after adding the app's flags.
  void parse(int argc, const char* const* argv);

  const CommonOptions& common() const { return common_; }
  const AppDescription& description() const { return description_; }
  // Whether `flag` ("--seed", "--eta") was on the command line; throws tapegrad::Error for a flag never added.
  bool was_given(std::string_view flag) const;
  // The value `flag` was given last, nothing when it was not given.
  std::optional<std::string> text(std::string_view flag) const;
  // The same, read as the Number that its number_check allowed.
  template <FlagNumber Number>
  std::optional<Number> number(std::string_view flag) const {
    const std::optional<std::string> given = text(flag);
    if (!given) return std::nullopt;
    return std::get<Number>(read_number<Number>(*given, Bounds::any()));
  }
  std::string help() const;

 private:
  CLI::Option& option(std::string_view flag) const;
  void add_common_options();
  void resolve_shard();
  nlohmann::json recorded_settings() const;

  AppDescription description_;
  std::unique_ptr<CLI::App> app_;
  CommonOptions common_;
  bool verbose_ = false;
  bool quiet_ = false;
  bool overwrite_ = false;
  bool parsed_ = false;
};

// " (default: 0.001; setting1: 0.1, step-decay: 0.01)": the value each preset gives a setting, as
// `value_of(preset)` writes it, for the end of its flag's --help: the default preset's value, then the presets
// whose value differs. "all" and presets for which value_of returns nothing (a preset without that setting) are
// left out.
std::string preset_values(const AppDescription& description,
                          const std::function<std::optional<std::string>(const std::string& preset)>& value_of);

// A setting's value as --help shows it: numbers in their shortest form, true/false as on/off.
template <class T>
std::string shown_value(const T& value) {
  if constexpr (std::same_as<T, bool>) {
    return value ? "on" : "off";
  } else if constexpr (std::floating_point<T>) {
    return train::shortest_text(static_cast<double>(value));
  } else {
    return std::to_string(value);
  }
}

// The flags a resumed run may change: the rest come from the run it continues.
inline constexpr std::string_view kFlagsAllowedWithResume[] = {"--threads", "--data", "--verbose", "--quiet"};

// The arguments that continue the run in `directory`: those it was started with (its invocation.json, without
// --out, --verbose and --quiet), then `given` (which may hold only kFlagsAllowedWithResume), then --out and the
// run's output directory. `directory` is the run's own directory (OUT/<preset>, or OUT for "all"), or OUT when
// OUT holds the run of one preset only. A run directory of an older version that kept one preset's files in OUT
// itself is refused, saying so. Throws UsageError naming what is wrong (no run, several runs, another flag given).
std::vector<std::string> resumed_arguments(const std::filesystem::path& directory,
                                           const std::vector<std::string>& given);

// The output directory of a run, created, probed for writing and locked for this process (RunDirectory::lock:
// a second process on it exits 2). A new run refuses to mix its files with a run already there (the same preset,
// or "all" on either side) unless --overwrite was given, then records its arguments in run_directory_of(common)
// / invocation.json, which --resume reads; a resumed run keeps the file as it is. A shard (--shard) shares the
// lock with the other shards (RunDirectory::lock_shared) and joins the search they recorded in invocation.json,
// which the first shard writes (write_file_once, without --shard): one whose settings differ from it is refused
// with UsageError naming them. It then becomes the process's active shard (shard.h). Also checks that --threads
// threads can be started and that the disk has room for the checkpoints (check_disk_for_checkpoints, bounds.h),
// then runs `check_inputs` (the app's checks that need its data: loading it), after the lock is taken and before
// anything is written. Nothing is written before every one of these checks has passed, so a run refused for its
// data leaves the directory as it was, and the corrected command is not taken for a second run.
RunDirectory prepare_output_directory(const CommonOptions& common, const std::function<void()>& check_inputs = {});

}  // namespace tapegrad::apps
