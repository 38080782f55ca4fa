#include "support/app_runner.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

namespace tapegrad::testing {

CommandResult run_command(const std::string& command, const std::filesystem::path& directory) {
  std::string full = command + " 2>&1";
  if (!directory.empty()) full = "cd '" + directory.string() + "' && " + full;
  CommandResult result;
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("run_command: popen failed for " + command);
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string app_path(const std::string& name) { return std::string(TAPEGRAD_BINARY_DIR) + "/bin/" + name; }

void write_cifar_batch(const std::filesystem::path& file, int count, unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<double> noise(0.0, 40.0);
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(count) * 3073);
  for (int i = 0; i < count; ++i) {
    const int label = i % 10;
    bytes.push_back(static_cast<char>(label));
    for (int p = 0; p < 3072; ++p) {
      // Each class brightens its own stripe of pixels: learnable, but not at once.
      const double base = ((p / 64) % 10 == label) ? 160.0 : 100.0;
      const double v = std::clamp(base + noise(random), 0.0, 255.0);
      bytes.push_back(static_cast<char>(static_cast<unsigned char>(v)));
    }
  }
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("write_cifar_batch: could not write " + file.string());
}

void write_cifar_directory(const std::filesystem::path& directory, int count) {
  std::filesystem::create_directories(directory);
  for (int b = 1; b <= 5; ++b) {
    write_cifar_batch(directory / ("data_batch_" + std::to_string(b) + ".bin"), count, static_cast<unsigned>(b));
  }
  write_cifar_batch(directory / "test_batch.bin", count, 99);
  std::ofstream meta(directory / "batches.meta.txt");
  for (const char* name : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
    meta << name << "\n";
}

}  // namespace tapegrad::testing
