#include "apps/common/atomic_file.h"

#include <fmt/format.h>

#include <tapegrad/core/atomic_file.h>
#include <tapegrad/core/error.h>

namespace tapegrad::apps {

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  try {
    tapegrad::write_file_atomically(path, content);
  } catch (const FileWriteFailure& failure) {
    throw WriteError(fmt::format("cannot write '{}': could not {} '{}': {}", path.string(), failure.action,
                                 failure.temporary.string(), failure.reason()));
  }
}

}  // namespace tapegrad::apps
