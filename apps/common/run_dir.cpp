#include "apps/common/run_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "apps/common/app_error.h"
#include "apps/common/atomic_file.h"
#include <tapegrad/core/error.h>

namespace tapegrad::apps {

namespace {

[[noreturn]] void throw_unusable(const std::filesystem::path& root, const std::string& reason) {
  throw UsageError(fmt::format("cannot use the --out directory '{}': {}", root.string(), reason),
                   "choose a directory you can write to with --out");
}

// Writing one byte (not only creating the file) also catches a full disk or an exhausted quota.
void probe_writable(const std::filesystem::path& root) {
  const std::filesystem::path probe =
      root / fmt::format(".tapegrad-write-probe-{}", static_cast<long>(::getpid()));
  const int descriptor = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (descriptor < 0)
    throw_unusable(root, "cannot create a file in it: " + std::generic_category().message(errno));
  const bool written = ::write(descriptor, "x", 1) == 1;
  const int write_error = errno;
  ::close(descriptor);
  ::unlink(probe.c_str());
  if (!written) throw_unusable(root, "cannot write a file in it: " + std::generic_category().message(write_error));
}

void write_json(const std::filesystem::path& path, const nlohmann::json& value) {
  // Replacing invalid UTF-8 (a path in a legacy encoding) beats losing the whole file at the end of a run.
  write_file_atomically(path, value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace

RunDirectory::RunDirectory(std::filesystem::path root) : root_(std::move(root)) {
  if (root_.empty()) throw_unusable(root_, "the path is empty");
  std::error_code error;
  std::filesystem::create_directories(root_, error);
  if (error) throw_unusable(root_, error.message());
  if (!std::filesystem::is_directory(root_, error)) throw_unusable(root_, "it exists but is not a directory");
  probe_writable(root_);
}

std::filesystem::path RunDirectory::plot_path(std::string_view name) const {
  return root_ / (std::string(name) + ".png");
}

void RunDirectory::write_config(const nlohmann::json& config) const { write_json(config_path(), config); }

void RunDirectory::write_summary(const nlohmann::json& summary) const { write_json(summary_path(), summary); }

RunDirectory RunDirectory::sub_run(const std::filesystem::path& relative) const {
  if (relative.empty() || relative.is_absolute()) {
    throw_error(fmt::format("sub-run directory '{}' must be a relative path inside '{}'", relative.string(),
                            root_.string()));
  }
  for (const auto& part : relative) {
    if (part == "..") {
      throw_error(fmt::format("sub-run directory '{}' must stay inside '{}' and so cannot contain '..'",
                              relative.string(), root_.string()));
    }
  }
  return RunDirectory(root_ / relative);
}

std::string sub_run_name(const std::vector<std::pair<std::string, double>>& settings) {
  std::string name;
  for (const auto& [key, value] : settings) {
    if (!name.empty()) name += '_';
    name += fmt::format("{}{}", key, value);
  }
  return name;
}

}  // namespace tapegrad::apps
