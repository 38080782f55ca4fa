// An app's settings, each declared once: the flag that overrides it, the member it sets, its help, its bounds or
// choices and its key in config.json. From the one table come the flags with their checks and help (each
// preset's value shown), the overrides of a preset's settings, the check of a whole settings object against the
// same bounds, and config.json's record of it. A new setting is its member in the struct and one line here.
//
//   const SettingsTable<Settings>& table() {
//     static const SettingsTable<Settings> t = SettingsTable<Settings>()
//         .number("--eta", &Settings::eta, "learning rate", Bounds::above(0))
//         .choice("--dtype", &Settings::use_double, "scalar type", {{"float", false}, {"double", true}})
//         .record("preset", &Settings::preset);                  // in config.json; no flag sets it
//     return t;
//   }
//   // preset_settings(name): std::optional<Settings>, each preset's values for --help
//   const auto apply_flags = table().add_flags(command_line, preset_settings);
//   command_line.parse(argc, argv);
//   Settings settings = *preset_settings(command_line.common().preset);
//   apply_flags(settings);             // the flags that were given
//   table().validate(settings);        // UsageError naming the flag of a value out of its bounds
//   config["settings"] = table().to_json(settings);
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "apps/common/app_error.h"
#include "apps/common/cli.h"

namespace tapegrad::apps {

template <class Settings>
class SettingsTable {
 public:
  // The type of the setting that `access` reaches.
  template <class Access>
  using Member = std::remove_cvref_t<std::invoke_result_t<Access, Settings&>>;
  // A preset's settings, or nothing for a preset without them (gradcheck, say): their values show in --help.
  using PresetSettings = std::function<std::optional<Settings>(const std::string& preset)>;
  // What a flag given on the command line does to a preset's settings.
  using Apply = std::function<void(Settings&)>;

  // `access` reaches the setting: a member pointer (&Settings::eta), or a function returning a reference to it
  // for a member of a member ([](Settings& s) -> int& { return s.search.trials; }).
  template <class Access>
  SettingsTable& number(std::string flag, Access access, std::string help, Bounds bounds = Bounds::any(),
                        std::string value_name = {}) {
    using T = Member<Access>;
    static_assert(FlagNumber<T>, "number() is for numeric settings");
    if (value_name.empty()) value_name = std::integral<T> ? "INT" : "NUMBER";
    Entry& entry = add_entry(flag, with_allowed(help, bounds), value_name, number_check<T>(bounds), access);
    entry.read = [access](Settings& s, const std::string& text) {
      std::invoke(access, s) = std::get<T>(read_number<T>(text, Bounds::any()));
    };
    entry.shown = [access](Settings& s) { return shown_value(std::invoke(access, s)); };
    return *this;
  }

  // One of named values: {{"float", false}, {"double", true}}; config.json records the name.
  template <class Access>
  SettingsTable& choice(std::string flag, Access access, std::string help,
                        std::vector<std::pair<std::string, Member<Access>>> choices) {
    std::vector<std::string> names;
    for (const auto& named : choices) names.push_back(named.first);
    Entry& entry =
        add_entry(flag, help, fmt::format("{{{}}}", fmt::join(names, ",")), choice_check(names), access);
    entry.read = [access, choices](Settings& s, const std::string& text) {
      for (const auto& [name, value] : choices)
        if (name == text) std::invoke(access, s) = value;
    };
    entry.shown = [flag, access, choices](Settings& s) {
      for (const auto& [name, value] : choices)
        if (value == std::invoke(access, s)) return name;
      throw UsageError(fmt::format("{}: the setting holds none of the choices", flag));
    };
    entry.json = [shown = entry.shown](Settings& s) { return nlohmann::json(shown(s)); };
    return *this;
  }

  // A setting written as text: `parse` reads the flag's value into the member (throwing UsageError naming the
  // flag), `show` writes the member back for --help; config.json records the member itself.
  template <class Access, class Parse, class Show>
  SettingsTable& text(std::string flag, Access access, std::string help, std::string value_name, Parse parse,
                      Show show) {
    Entry& entry = add_entry(flag, help, value_name, {}, access);
    entry.read = [access, parse](Settings& s, const std::string& text) { std::invoke(access, s) = parse(text); };
    entry.shown = [access, show](Settings& s) { return std::string(show(std::invoke(access, s))); };
    return *this;
  }

  // A setting that config.json records but no flag of this table sets (the preset, the seed).
  template <class Access>
  SettingsTable& record(std::string key, Access access) {
    return computed(std::move(key), [access](Settings& s) { return std::invoke(access, s); });
  }

  // A value that config.json records as `compute` gives it from the whole settings (the total steps, a preset's
  // split in words).
  template <class Compute>
  SettingsTable& computed(std::string key, Compute compute) {
    recorded_.emplace_back(std::move(key), [compute](Settings& s) { return nlohmann::json(compute(s)); });
    return *this;
  }

  // Declares the settings that `add` declares on a table: a group that several apps share (search_settings).
  template <class Add>
  SettingsTable& with(Add add) {
    add(*this);
    return *this;
  }

  // Adds every setting's flag to `line`, its --help ending with each preset's value; returns what applies the
  // flags that were given, once the command line is parsed.
  Apply add_flags(CommandLine& line, PresetSettings settings_of) const {
    for (const Entry& entry : flags_) {
      line.add_option(entry.flag,
                      entry.help + preset_values(line.description(),
                                                 [&](const std::string& preset) -> std::optional<std::string> {
                                                   std::optional<Settings> settings = settings_of(preset);
                                                   if (!settings) return std::nullopt;
                                                   return entry.shown(*settings);
                                                 }),
                      entry.value_name, entry.check);
    }
    return [&line, entries = flags_](Settings& s) {
      for (const Entry& entry : entries)
        if (const std::optional<std::string> given = line.text(entry.flag)) entry.read(s, *given);
    };
  }

  // Throws UsageError naming the flag of the first setting that its flag would refuse (out of its bounds, say).
  void validate(const Settings& settings) const {
    Settings copy = settings;
    for (const Entry& entry : flags_) {
      const std::string refusal = entry.check ? entry.check(entry.shown(copy)) : std::string();
      if (!refusal.empty()) throw UsageError(entry.flag + ": " + refusal);
    }
  }

  // Every setting under its key: the flag's name without "--", '-' as '_' ("--eval-per-cycle": eval_per_cycle).
  nlohmann::json to_json(const Settings& settings) const {
    Settings copy = settings;
    nlohmann::json json = nlohmann::json::object();
    for (const Entry& entry : flags_) json[entry.key] = entry.json(copy);
    for (const auto& [key, write] : recorded_) json[key] = write(copy);
    return json;
  }

 private:
  using Write = std::function<nlohmann::json(Settings&)>;
  struct Entry {
    std::string flag{};
    std::string key{};
    Write json{};
    std::string help{};
    std::string value_name{};
    Check check{};
    std::function<void(Settings&, const std::string&)> read{};
    std::function<std::string(Settings&)> shown{};
  };

  // A flag's entry, its key from the flag's name and recorded as the member itself unless the caller says
  // otherwise.
  template <class Access>
  Entry& add_entry(const std::string& flag, std::string help, std::string value_name, Check check, Access access) {
    std::string key = flag.substr(flag.starts_with("--") ? 2 : 0);
    std::ranges::replace(key, '-', '_');
    flags_.push_back({.flag = flag,
                      .key = std::move(key),
                      .json = [access](Settings& s) { return nlohmann::json(std::invoke(access, s)); },
                      .help = std::move(help),
                      .value_name = std::move(value_name),
                      .check = std::move(check)});
    return flags_.back();
  }

  std::vector<Entry> flags_;                             // in the order of --help
  std::vector<std::pair<std::string, Write>> recorded_;  // record() and computed(): no flag
};

// A member of a member, for SettingsTable: nested(&Settings::search, &SearchSettings::trials).
template <class Settings, class Inner, class T>
auto nested(Inner Settings::*outer, T Inner::*member) {
  return [outer, member](Settings& s) -> T& { return (s.*outer).*member; };
}

}  // namespace tapegrad::apps
