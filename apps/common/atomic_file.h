// The apps' whole-file writer: config.json, summary.json, results, reports. A crash, a kill or a full disk never
// leaves half of a file behind.
#pragma once

#include <filesystem>
#include <string_view>

namespace tapegrad::apps {

// Writes `content` to a temporary file in the same directory, flushes it to disk (fsync) and renames it over
// `path`, so readers see either the old file or the new one, never a mix. Throws WriteError naming `path` and the
// OS error (the apps answer it with the make-room-and-resume hint); the temporary file is removed on failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace tapegrad::apps
