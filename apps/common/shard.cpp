#include "apps/common/shard.h"

namespace tapegrad::apps {

namespace {

// Written before the trials' threads start and only read after, so it needs no lock.
std::optional<Shard> current_shard;

}  // namespace

void set_active_shard(std::optional<Shard> shard) { current_shard = shard; }

std::optional<Shard> active_shard() { return current_shard; }

}  // namespace tapegrad::apps
