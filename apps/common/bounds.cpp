#include "apps/common/bounds.h"

#include <mutex>
#include <utility>

namespace tapegrad::apps {

namespace {

// The largest disk need noted so far, with its flags. Guarded: the apps check settings on their main thread, but
// nothing forbids a trial to.
struct CheckpointNeed {
  std::mutex mutex;
  Amount bytes;
  FlagValues flags;
};
CheckpointNeed& checkpoint_need() {
  static CheckpointNeed need;
  return need;
}

}  // namespace

void note_checkpoint_bytes(Amount bytes, FlagValues flags) {
  CheckpointNeed& need = checkpoint_need();
  const std::lock_guard lock(need.mutex);
  if (!(need.bytes < bytes)) return;
  need.bytes = bytes;
  need.flags = std::move(flags);
}

void check_disk_for_checkpoints(const std::filesystem::path& directory) {
  CheckpointNeed& need = checkpoint_need();
  const std::lock_guard lock(need.mutex);
  train::require_disk_room(directory, "--out", need.bytes, "the run's checkpoints", need.flags);
}

}  // namespace tapegrad::apps
