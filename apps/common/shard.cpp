#include "apps/common/shard.h"

#include <fmt/format.h>

#include "apps/common/app_error.h"

namespace tapegrad::apps {

namespace {

// Written before the trials' threads start and only read after, so it needs no lock.
std::optional<Shard> current_shard;

}  // namespace

Shard parse_shard(std::string_view text) {
  try {
    return Shard::parse(text);
  } catch (const Error& error) {
    throw UsageError(fmt::format("--shard: {}", error.what()),
                     "give for example --shard 0/4 .. --shard 3/4 to four processes");
  }
}

void set_active_shard(std::optional<Shard> shard) { current_shard = shard; }

std::optional<Shard> active_shard() { return current_shard; }

}  // namespace tapegrad::apps
