// Helpers the tests share: a fresh temporary directory per test, and small files written on purpose.
#pragma once

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tapegrad::testing {

// AddressSanitizer and ThreadSanitizer reserve terabytes of shadow memory when a program starts, which a limit on
// the address space (ulimit -v, RLIMIT_AS) forbids: the cases that need such a limit cannot run under them (the
// program aborts before main).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderShadowSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kUnderShadowSanitizer = true;
#else
inline constexpr bool kUnderShadowSanitizer = false;
#endif
#else
inline constexpr bool kUnderShadowSanitizer = false;
#endif

// A new empty directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "tapegrad");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& file, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& file);
// A JSON file parsed; throws (failing the test) naming the file when it is missing or not JSON.
nlohmann::json read_json(const std::filesystem::path& file);
// The number of lines in a text file (0 when it does not exist).
int count_lines(const std::filesystem::path& file);
// The names of the entries of a directory, sorted.
std::vector<std::string> directory_entries(const std::filesystem::path& directory);

// Everything written to `file` so far, from its start (flushed first); the file's position is left alone.
std::string file_text(std::FILE* file);

// The message of the tapegrad::Error that `action` throws; fails the test when it throws nothing.
std::string error_message(const std::function<void()>& action);

// The real CIFAR-10 for the tests that need it: data::find_cifar10 with this source tree's
// data/cifar-10-batches-bin as the fallback. When there is none it warns that the calling test is skipped and how
// to get the data; the caller then returns.
std::optional<std::filesystem::path> real_cifar10();

// Limits the size of files this process may write (RLIMIT_FSIZE), so that a write fails half-way as on a full
// disk; SIGXFSZ is ignored meanwhile so that the write returns EFBIG instead of killing the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes);
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit();

 private:
  rlimit saved_limit_{};
  sighandler_t saved_handler_ = SIG_DFL;
};

}  // namespace tapegrad::testing
