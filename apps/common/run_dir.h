// The apps' run directories (--out) are the library's (train::RunDirectory); config.json as the apps write it
// (kept on --resume, written once by the shards of a search) is their own. The library's run-directory errors
// become the apps' UsageError in app_error.h.
#pragma once

#include <nlohmann/json.hpp>

#include <tapegrad/nn/train/run_directory.h>

namespace tapegrad::apps {

using RunDirectory = train::RunDirectory;

// Writes directory.config_path() atomically, as indented JSON. In resume mode (--resume) an existing config.json
// is kept as it is: the settings that decide the numbers were compared with it before anything was written
// (train::DirectoryRun), and a refusal must leave it unchanged. A shard (--shard) writes it only when no other shard
// has (write_file_once): shards running at once never write one file.
void write_run_config(const RunDirectory& directory, const nlohmann::json& config);

}  // namespace tapegrad::apps
