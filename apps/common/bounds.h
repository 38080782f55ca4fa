// What a run's settings will ask of the machine, estimated from the flags before anything is allocated or written,
// with the library's checks (train::ResourceEstimate, resources.h): settings that cannot fit are refused at once
// with exit 2 (run_app maps train::ResourceLimitExceeded to a UsageError), naming the flags that decide the
// amount, instead of growing for minutes and ending in std::bad_alloc.
//
//   const ResourceEstimate limits;
//   limits.require_steps(Amount(2) * Amount(n_s) * Amount(cycles), {{"--n-s", n_s}, {"--cycles", cycles}});
#pragma once

#include <tapegrad/nn/train/resources.h>

#include <filesystem>

namespace tapegrad::apps {

// The library's counts, checks and machine (resources.h), as the apps use them; a setting is named by its flag.
using train::Amount;
using train::ResourceEstimate;
using FlagValues = train::SettingValues;

// The disk that --out is on must hold, at once, the largest checkpoint a run writes twice (the new one is written
// beside the old before the rename) and its best weights, for every run side by side. The apps' bound checks note
// what their settings need (the largest noted counts: checking the same settings again changes nothing), and
// prepare_output_directory calls check_disk_for_checkpoints before anything is written into --out.
void note_checkpoint_bytes(Amount bytes, FlagValues flags);
// Refuses (train::ResourceLimitExceeded) the largest amount noted when the disk of `directory` has less room,
// naming --out, both amounts and the flags that decide the larger one.
void check_disk_for_checkpoints(const std::filesystem::path& directory);

}  // namespace tapegrad::apps
