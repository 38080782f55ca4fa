#include "apps/common/run_dir.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "apps/common/experiment.h"
#include "apps/common/shard.h"

namespace tapegrad::apps {

void write_run_config(const RunDirectory& directory, const nlohmann::json& config) {
  if (resume_mode()) {
    std::error_code error;
    if (std::filesystem::is_regular_file(directory.config_path(), error)) {
      std::ifstream in(directory.config_path());
      const nlohmann::json recorded = nlohmann::json::parse(in, nullptr, false);
      // The rest of the record (a study's own settings) stays as the run wrote it.
      if (!recorded.is_discarded()) return;
    }
  }
  if (active_shard()) {
    train::write_file_once(directory.config_path(), train::json_file_text(config));
    return;
  }
  train::write_json_atomically(directory.config_path(), config);
}

}  // namespace tapegrad::apps
