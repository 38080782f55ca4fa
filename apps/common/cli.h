// The apps' command line: the common flags every app has (--data, --out, --preset, --seed, --threads, --verbose,
// --quiet, --version, --help) plus each app's own overrides of single settings, checked against their allowed
// ranges with messages that name the flag, the value and what is allowed. Built on CLI11.
//
//   CommandLine command_line({.name = "cifar_softmax", .summary = "...", .presets = {"default", "fast"},
//                             .default_data_directory = "data/cifar-10-batches-bin",
//                             .default_output_directory = "runs/cifar_softmax"});
//   auto& eta = command_line.add_number<double>("--eta", "learning rate", Bounds::above(0));
//   auto& loss = command_line.add_choice("--loss", "loss function", {"ce", "bce"});
//   command_line.parse(argc, argv);                              // UsageError (exit 2) or InfoRequested (exit 0)
//   Settings settings = preset_named(command_line.common().preset);
//   eta.apply_to(settings.eta);                                   // only when --eta was given
#pragma once

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
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/csv.h>  // train::shortest_text
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

// Every app writes one preset's run to OUT/<preset>/, whether it runs one preset or "all"; "all" adds OUT/report.md
// and its own config.json and summary.json. A run's invocation.json (the arguments it was started with, which
// --resume reads) lies in the run's own directory: OUT/<preset>/ for one preset, OUT/ for "all".
std::filesystem::path run_directory_of(const CommonOptions& common);

// The values a setting allows: an optional lower and upper limit, each inclusive or not.
class Bounds {
 public:
  static Bounds any() { return {}; }
  static Bounds at_least(double minimum) { return Bounds(minimum, true, std::nullopt, true); }
  static Bounds above(double minimum) { return Bounds(minimum, false, std::nullopt, true); }
  static Bounds at_most(double maximum) { return Bounds(std::nullopt, true, maximum, true); }
  static Bounds below(double maximum) { return Bounds(std::nullopt, true, maximum, false); }
  static Bounds between(double minimum, double maximum) { return Bounds(minimum, true, maximum, true); }

  bool unlimited() const { return !minimum_ && !maximum_; }
  bool contains(double value) const;
  // The tighter limit on each side.
  Bounds intersect(const Bounds& other) const;
  // "> 0", ">= 1", "from 0 to 1", "> 0 and <= 1"; "any number" without limits.
  std::string describe() const;

 private:
  Bounds() = default;
  Bounds(std::optional<double> minimum, bool minimum_inclusive, std::optional<double> maximum,
         bool maximum_inclusive)
      : minimum_(minimum),
        maximum_(maximum),
        minimum_inclusive_(minimum_inclusive),
        maximum_inclusive_(maximum_inclusive) {}

  std::optional<double> minimum_;
  std::optional<double> maximum_;
  bool minimum_inclusive_ = true;
  bool maximum_inclusive_ = true;
};

// Read `text`, the value given to `flag`, as a number within `bounds`. Throw UsageError naming the flag, the
// text and what is allowed when it is not a number of that kind or is out of range.
long long parse_signed_flag_value(std::string_view flag, std::string_view text, const Bounds& bounds);
unsigned long long parse_unsigned_flag_value(std::string_view flag, std::string_view text, const Bounds& bounds);
double parse_real_flag_value(std::string_view flag, std::string_view text, const Bounds& bounds);
[[noreturn]] void throw_flag_out_of_range(std::string_view flag, std::string_view text, const Bounds& allowed);

template <class Number>
concept FlagNumber = (std::integral<Number> || std::floating_point<Number>)&&!std::same_as<Number, bool>;

// parse_*_flag_value for Number, whose own range also limits the value (no 300 for an 8-bit setting).
template <FlagNumber Number>
Number parse_flag_value(std::string_view flag, std::string_view text, const Bounds& bounds) {
  using Limits = std::numeric_limits<Number>;
  const auto out_of_type_range = [&] {
    throw_flag_out_of_range(flag, text,
                            bounds.intersect(Bounds::between(static_cast<double>(Limits::lowest()),
                                                             static_cast<double>(Limits::max()))));
  };
  if constexpr (std::floating_point<Number>) {
    const double value = parse_real_flag_value(flag, text, bounds);
    if (value < Limits::lowest() || value > Limits::max()) out_of_type_range();
    return static_cast<Number>(value);
  } else if constexpr (std::signed_integral<Number>) {
    const long long value = parse_signed_flag_value(flag, text, bounds);
    if (!std::in_range<Number>(value)) out_of_type_range();
    return static_cast<Number>(value);
  } else {
    const unsigned long long value = parse_unsigned_flag_value(flag, text, bounds);
    if (!std::in_range<Number>(value)) out_of_type_range();
    return static_cast<Number>(value);
  }
}

// A setting's value from the command line, present only when its flag was given, so that the preset's value
// stands unless the user overrides it.
template <class T>
class Override {
 public:
  explicit Override(std::string flag) : flag_(std::move(flag)) {}

  const std::string& flag() const { return flag_; }
  bool given() const { return value_.has_value(); }
  // Throws tapegrad::Error when the flag was not given.
  const T& value() const {
    if (!value_) throw_error("no value for " + flag_ + ": the flag was not given");
    return *value_;
  }
  T value_or(const T& fallback) const { return value_.value_or(fallback); }
  // Replaces `setting` with the given value; leaves it alone when the flag was not given.
  void apply_to(T& setting) const {
    if (value_) setting = *value_;
  }

 private:
  friend class CommandLine;
  std::string flag_;
  std::optional<T> value_;
};

class CommandLine {
 public:
  // Throws tapegrad::Error when the description has no presets or its default preset is not one of them.
  explicit CommandLine(AppDescription description);
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;
  ~CommandLine();

  // --flag VALUE, a number within `bounds`. value_name is how --help shows the value (default INT or NUMBER).
  template <FlagNumber Number>
  Override<Number>& add_number(std::string flag, std::string help, Bounds bounds = Bounds::any(),
                               std::string value_name = {}) {
    auto& target = new_override<Number>(flag);
    if (value_name.empty()) value_name = std::integral<Number> ? "INT" : "NUMBER";
    add_value_option(flag, with_allowed(help, bounds), value_name,
                     [&target, flag, bounds](const std::string& text) {
                       target.value_ = parse_flag_value<Number>(flag, text, bounds);
                     });
    return target;
  }
  // --flag VALUE, one of `choices`.
  Override<std::string>& add_choice(std::string flag, std::string help, std::vector<std::string> choices);
  // --flag VALUE, any text (a file name, a tag).
  Override<std::string>& add_text(std::string flag, std::string help, std::string value_name = "TEXT");
  // --flag alone gives true; --flag=false or --flag=0 gives false, so a preset's true can be switched off.
  Override<bool>& add_flag(std::string flag, std::string help);

  // Parses argv (argv[0] is the program). Throws InfoRequested for --help and --version, and UsageError (exit
  // code 2) naming the flag for anything wrong: unknown flags, missing values, values out of range, unknown
  // preset names (listing the valid ones). Call once, after adding the app's flags.
  void parse(int argc, const char* const* argv);

  // Ends `flag`'s --help with the value each preset gives its setting, as `value_of(preset)` writes it: "(default:
  // 0.001; setting1: 0.1, step-decay: 0.01)", the default preset's value, then the presets whose value differs.
  // "all" and presets for which value_of returns nothing (a preset without that setting) are left out.
  void show_preset_values(std::string_view flag,
                          const std::function<std::optional<std::string>(const std::string& preset)>& value_of);

  const CommonOptions& common() const { return common_; }
  const AppDescription& description() const { return description_; }
  // Whether `flag` ("--seed", "--eta") was on the command line; throws tapegrad::Error for a flag never added.
  bool was_given(std::string_view flag) const;
  std::string help() const;

 private:
  struct Option;

  template <class T>
  Override<T>& new_override(const std::string& flag) {
    auto created = std::make_shared<Override<T>>(flag);
    overrides_.push_back(created);
    return *created;
  }
  static std::string with_allowed(const std::string& help, const Bounds& bounds);
  Option& register_option(const std::string& flag, const std::function<CLI::Option*(Option&)>& add_to_parser);
  void add_value_option(const std::string& flag, const std::string& help, const std::string& value_name,
                        std::function<void(const std::string&)> convert);
  void add_common_options();
  void resolve_shard();
  nlohmann::json recorded_settings() const;

  AppDescription description_;
  std::unique_ptr<CLI::App> app_;
  std::vector<std::unique_ptr<Option>> options_;
  std::vector<std::shared_ptr<void>> overrides_;  // every Override<T> handed out, whatever its T
  CommonOptions common_;
  Override<std::string>* data_directory_ = nullptr;
  Override<std::string>* output_directory_ = nullptr;
  Override<std::string>* preset_ = nullptr;
  Override<std::uint64_t>* seed_ = nullptr;
  Override<int>* threads_ = nullptr;
  Override<bool>* verbose_ = nullptr;
  Override<bool>* quiet_ = nullptr;
  Override<std::string>* resume_ = nullptr;
  Override<bool>* overwrite_ = nullptr;
  Override<std::string>* shard_ = nullptr;
  bool parsed_ = false;
};

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
