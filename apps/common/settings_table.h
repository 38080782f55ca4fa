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
//   const auto apply_flags = table().add_flags(command_line, [](const std::string& p) { return preset_settings(p); });
//   command_line.parse(argc, argv);
//   Settings settings = preset_settings(command_line.common().preset);
//   apply_flags(settings);             // the flags that were given
//   table().validate(settings);        // UsageError naming the flag of a value out of its bounds
//   config["settings"] = table().to_json(settings);
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <functional>
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
    Entry& entry = add_entry(flag);
    entry.json = [access](Settings& s) { return nlohmann::json(std::invoke(access, s)); };
    entry.shown = [access](Settings& s) { return shown_value(std::invoke(access, s)); };
    entry.check = [flag, access, bounds](Settings& s) {
      const T value = std::invoke(access, s);
      if (!bounds.contains(static_cast<double>(value))) throw_flag_out_of_range(flag, shown_value(value), bounds);
    };
    entry.add = [flag, access, help, bounds, value_name](CommandLine& line) -> Apply {
      Override<T>& given = line.add_number<T>(flag, help, bounds, value_name);
      return [&given, access](Settings& s) { given.apply_to(std::invoke(access, s)); };
    };
    return *this;
  }

  // One of named values: {{"float", false}, {"double", true}}; config.json records the name.
  template <class Access>
  SettingsTable& choice(std::string flag, Access access, std::string help,
                        std::vector<std::pair<std::string, Member<Access>>> choices) {
    using T = Member<Access>;
    Entry& entry = add_entry(flag);
    const auto name_of = [flag, choices](const T& value) {
      for (const auto& [name, choice_value] : choices)
        if (choice_value == value) return name;
      throw UsageError(fmt::format("{}: the setting holds none of the choices", flag));
    };
    entry.json = [access, name_of](Settings& s) { return nlohmann::json(name_of(std::invoke(access, s))); };
    entry.shown = [access, name_of](Settings& s) { return name_of(std::invoke(access, s)); };
    entry.check = [access, name_of](Settings& s) { name_of(std::invoke(access, s)); };
    entry.add = [flag, access, help, choices](CommandLine& line) -> Apply {
      std::vector<std::string> names;
      for (const auto& choice_entry : choices) names.push_back(choice_entry.first);
      Override<std::string>& given = line.add_choice(flag, help, names);
      return [&given, access, choices](Settings& s) {
        if (!given.given()) return;
        for (const auto& [name, value] : choices)
          if (name == given.value()) std::invoke(access, s) = value;
      };
    };
    return *this;
  }

  // A setting written as text: `parse` reads the flag's value into the member (throwing UsageError naming the
  // flag), `show` writes the member back for --help; config.json records the member itself.
  template <class Access, class Parse, class Show>
  SettingsTable& text(std::string flag, Access access, std::string help, std::string value_name, Parse parse,
                      Show show) {
    Entry& entry = add_entry(flag);
    entry.json = [access](Settings& s) { return nlohmann::json(std::invoke(access, s)); };
    entry.shown = [access, show](Settings& s) { return std::string(show(std::invoke(access, s))); };
    entry.add = [flag, access, help, value_name, parse](CommandLine& line) -> Apply {
      Override<std::string>& given = line.add_text(flag, help, value_name);
      return [&given, access, parse](Settings& s) {
        if (given.given()) std::invoke(access, s) = parse(given.value());
      };
    };
    return *this;
  }

  // A setting that config.json records but no flag of this table sets (the preset, the seed, a preset's split),
  // as `write` gives it (the member itself without one).
  template <class Access>
  SettingsTable& record(std::string key, Access access) {
    return record(std::move(key), access, [](const Member<Access>& value) { return nlohmann::json(value); });
  }
  template <class Access, class Write>
  SettingsTable& record(std::string key, Access access, Write write) {
    Entry entry;
    entry.key = std::move(key);
    entry.json = [access, write](Settings& s) { return nlohmann::json(write(std::invoke(access, s))); };
    entries_.push_back(std::move(entry));
    return *this;
  }

  // Declares the settings that `add` declares on a table: a group that several apps share (search_settings).
  template <class Add>
  SettingsTable& with(Add add) {
    add(*this);
    return *this;
  }

  // A value that config.json records as `compute` gives it from the whole settings (the total steps, say).
  template <class Compute>
  SettingsTable& computed(std::string key, Compute compute) {
    Entry entry;
    entry.key = std::move(key);
    entry.json = [compute](Settings& s) { return nlohmann::json(compute(std::as_const(s))); };
    entries_.push_back(std::move(entry));
    return *this;
  }

  // Adds every setting's flag to `line`, its --help ending with each preset's value (show_preset_values); returns
  // what applies the flags that were given, once the command line is parsed.
  Apply add_flags(CommandLine& line, PresetSettings settings_of) const {
    std::vector<Apply> appliers;
    for (const Entry& entry : entries_) {
      if (entry.flag.empty()) continue;
      appliers.push_back(entry.add(line));
      line.show_preset_values(entry.flag, [settings_of, shown = entry.shown](const std::string& preset) {
        std::optional<Settings> settings = settings_of(preset);
        return settings ? std::optional<std::string>(shown(*settings)) : std::nullopt;
      });
    }
    return [appliers = std::move(appliers)](Settings& s) {
      for (const Apply& apply : appliers) apply(s);
    };
  }

  // Throws UsageError naming the flag of the first setting outside its bounds or choices.
  void validate(const Settings& settings) const {
    Settings copy = settings;
    for (const Entry& entry : entries_)
      if (entry.check) entry.check(copy);
  }

  // Every setting under its key: the flag's name without "--", '-' as '_' ("--eval-per-cycle": eval_per_cycle).
  nlohmann::json to_json(const Settings& settings) const {
    Settings copy = settings;
    nlohmann::json json = nlohmann::json::object();
    for (const Entry& entry : entries_) json[entry.key] = entry.json(copy);
    return json;
  }

 private:
  struct Entry {
    std::string flag;  // empty for a recorded setting
    std::string key;
    std::function<nlohmann::json(Settings&)> json;
    std::function<std::string(Settings&)> shown;
    std::function<void(Settings&)> check;
    std::function<Apply(CommandLine&)> add;
  };

  // A flag's entry, its key from the flag's name; the caller says how it is recorded and shown.
  Entry& add_entry(const std::string& flag) {
    Entry entry;
    entry.flag = flag;
    entry.key = flag.substr(flag.starts_with("--") ? 2 : 0);
    for (char& c : entry.key)
      if (c == '-') c = '_';
    entries_.push_back(std::move(entry));
    return entries_.back();
  }

  std::vector<Entry> entries_;
};

// A member of a member, for SettingsTable: nested(&Settings::search, &SearchSettings::trials).
template <class Settings, class Inner, class T>
auto nested(Inner Settings::*outer, T Inner::*member) {
  return [outer, member](Settings& s) -> T& { return (s.*outer).*member; };
}

}  // namespace tapegrad::apps
