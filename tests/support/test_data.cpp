#include "support/test_data.h"

#include <tapegrad/core/error.h>
#include <tapegrad/nn/data/cifar10.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace tapegrad::testing {

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::random_device device;
  const auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                             std::to_string(device() % 1000000));
    if (std::filesystem::create_directories(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("TempDir: could not create a temporary directory under " + base.string());
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("write_bytes: could not write " + file.string());
}

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("read_bytes: could not open " + file.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("read_json: could not open " + file.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error("read_json: " + file.string() + " is not JSON: " + error.what());
  }
}

int count_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

std::vector<std::string> directory_entries(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string file_text(std::FILE* file) {
  std::fflush(file);
  std::string content;
  char buffer[4096];
  off_t offset = 0;
  for (ssize_t count; (count = ::pread(::fileno(file), buffer, sizeof buffer, offset)) > 0; offset += count) {
    content.append(buffer, static_cast<std::size_t>(count));
  }
  return content;
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("no tapegrad::Error was thrown");
  return {};
}

std::optional<std::filesystem::path> real_cifar10() {
  auto found = data::find_cifar10(TAPEGRAD_SOURCE_DIR "/data/cifar-10-batches-bin");
  if (!found)
    WARN("skipped: no CIFAR-10 in $CIFAR10_DIR or data/cifar-10-batches-bin; scripts/get-cifar10.sh fetches it");
  return found;
}

FileSizeLimit::FileSizeLimit(rlim_t bytes) {
  ::getrlimit(RLIMIT_FSIZE, &saved_limit_);
  saved_handler_ = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved_limit_;
  limited.rlim_cur = bytes;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
}

FileSizeLimit::~FileSizeLimit() {
  ::setrlimit(RLIMIT_FSIZE, &saved_limit_);
  ::signal(SIGXFSZ, saved_handler_);
}

}  // namespace tapegrad::testing
