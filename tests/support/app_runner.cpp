#include "support/app_runner.h"

#include "support/test_data.h"

#include <catch2/catch.hpp>

#include <tapegrad/nn/train/search.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

namespace tapegrad::testing {

using tapegrad::Generator;

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

std::string big_endian(std::uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i)
    bytes[static_cast<std::size_t>(i)] = static_cast<char>((value >> (24 - 8 * i)) & 0xff);
  return bytes;
}

// Class k lights a bar of two columns (4 + 2k, 5 + 2k) over rows 3..24 on a dim noisy background, so that a
// linear model separates the classes well but not trivially (noise, and bars of neighbours touch).
Images synthetic_images(int count, Generator& generator, const std::vector<int>& classes) {
  constexpr int kSide = 28;
  Images images;
  images.pixels.resize(static_cast<std::size_t>(count) * kSide * kSide);
  for (int n = 0; n < count; ++n) {
    const int label = classes[static_cast<std::size_t>(generator.below(classes.size()))];
    images.labels.push_back(label);
    for (int row = 0; row < kSide; ++row) {
      for (int column = 0; column < kSide; ++column) {
        const bool bar = row >= 3 && row <= 24 && (column == 4 + 2 * label || column == 5 + 2 * label);
        const auto value = bar ? 150 + generator.below(106) : generator.below(90);
        images.pixels[static_cast<std::size_t>((n * kSide + row) * kSide + column)] =
            static_cast<std::uint8_t>(value);
      }
    }
  }
  return images;
}

std::string idx_images(const Images& images) {
  constexpr std::uint32_t kSide = 28;
  std::string bytes = big_endian(0x00000803) + big_endian(static_cast<std::uint32_t>(images.labels.size())) +
                      big_endian(kSide) + big_endian(kSide);
  bytes.append(images.pixels.begin(), images.pixels.end());
  return bytes;
}

std::string idx_labels(const Images& images) {
  std::string bytes = big_endian(0x00000801) + big_endian(static_cast<std::uint32_t>(images.labels.size()));
  for (int label : images.labels) bytes.push_back(static_cast<char>(label));
  return bytes;
}

void write_split(const std::filesystem::path& directory, const std::string& prefix, const Images& images) {
  write_bytes(directory / (prefix + "-images-idx3-ubyte"), idx_images(images));
  write_bytes(directory / (prefix + "-labels-idx1-ubyte"), idx_labels(images));
}

std::vector<int> all_classes() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; }

// MNIST-format files in `directory`: `train` training and `test` test images of `classes`.
void write_mnist(const std::filesystem::path& directory, int train, int test, std::uint64_t seed,
                 const std::vector<int>& classes) {
  std::filesystem::create_directories(directory);
  Generator generator(seed);
  write_split(directory, "train", synthetic_images(train, generator, classes));
  write_split(directory, "t10k", synthetic_images(test, generator, classes));
}

}  // namespace tapegrad::testing

namespace tapegrad::testing {

BackgroundCommand::BackgroundCommand(const std::string& command, const std::filesystem::path& log) {
  const std::string full = "exec " + command + " > '" + log.string() + "' 2>&1";
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("BackgroundCommand: fork failed for " + command);
  if (pid_ == 0) {
    ::execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void BackgroundCommand::send(int signal_number) const {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, signal_number);
}

bool BackgroundCommand::running() {
  if (status_ >= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int BackgroundCommand::wait() {
  if (status_ < 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return status_;
}

bool holds_a_run(const std::filesystem::path& out) {
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(out, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->path().filename() == "invocation.json") return true;
  }
  return false;
}

void check_results_files(const std::filesystem::path& directory, std::size_t trials) {
  INFO(directory.string());
  std::ifstream csv(directory / "results.csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  REQUIRE(lines.size() == trials + 1);
  std::string header;
  for (const auto& column : tapegrad::train::kResultColumns) header += (header.empty() ? "" : ",") + column;
  CHECK(lines.front() == header);
  const auto json = read_json(directory / "results.json");
  REQUIRE(json["trials"].size() == trials);
  for (std::size_t i = 0; i < trials; ++i) {
    const auto& trial = json["trials"][i];
    CHECK(trial["rank"] == i + 1);
    CHECK(lines[i + 1].starts_with(std::to_string(i + 1) + "," + trial["name"].get<std::string>() + ","));
  }
  if (json["trials"][0]["completed"] == true) CHECK(json["best"] == json["trials"][0]["name"]);
  for (const char* key : {"name", "workers", "wall_seconds", "trial_seconds_sum", "speedup"}) {
    INFO(key);
    CHECK(json.contains(key));
  }
}

}  // namespace tapegrad::testing
