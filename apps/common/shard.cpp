#include "apps/common/shard.h"

#include <fmt/format.h>

#include <charconv>

#include "apps/common/app_error.h"

namespace tapegrad::apps {

namespace {

// Written before the trials' threads start and only read after, so it needs no lock.
std::optional<Shard> current_shard;

std::optional<int> whole_number(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Shard parse_shard(std::string_view text) {
  const auto slash = text.find('/');
  const std::optional<int> index =
      slash == std::string_view::npos ? std::nullopt : whole_number(text.substr(0, slash));
  const std::optional<int> count =
      slash == std::string_view::npos ? std::nullopt : whole_number(text.substr(slash + 1));
  if (!index || !count) {
    throw UsageError(fmt::format("--shard: '{}' is not of the form K/N (this process's shard K of N, two whole "
                                 "numbers with 0 <= K < N)",
                                 text),
                     "give for example --shard 0/4 .. --shard 3/4 to four processes");
  }
  if (*count < 1 || *index < 0 || *index >= *count) {
    throw UsageError(fmt::format("--shard: {} is out of range; allowed: K/N with N >= 1 and 0 <= K < N", text),
                     *count >= 1 ? fmt::format("with N = {} shards, K runs from 0 to {}", *count, *count - 1)
                                 : "N counts the shards, so it is at least 1");
  }
  return {*index, *count};
}

void set_active_shard(std::optional<Shard> shard) { current_shard = shard; }

std::optional<Shard> active_shard() { return current_shard; }

}  // namespace tapegrad::apps
