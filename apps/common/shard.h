// --shard K/N: one process's part of a search spread over several machines by the user's own scheduler (a Slurm
// job array, GNU parallel). Every shard builds the search's whole trial list from the same flags and --seed, keeps
// its share (train::Shard) and runs it into the shared --out, each trial in its own directory. The search's
// aggregate files (results, report, plots) are left to the merge, a --resume of the search's directory without
// --shard, which keeps every finished trial and runs the missing ones.
#pragma once

#include <optional>

#include <tapegrad/nn/train/search.h>

namespace tapegrad::apps {

using Shard = train::Shard;

// The shard this process runs (run_trials keeps only its trials), or nothing for a whole search and for the merge.
// Set once, before any trial starts (prepare_output_directory does it).
void set_active_shard(std::optional<Shard> shard);
std::optional<Shard> active_shard();

}  // namespace tapegrad::apps
