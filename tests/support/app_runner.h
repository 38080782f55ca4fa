// Running a built app from a test: its exit code and everything it printed.
#pragma once

#include <filesystem>
#include <string>

namespace tapegrad::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell in `directory` (the current one when empty).
CommandResult run_command(const std::string& command, const std::filesystem::path& directory = {});

// The path of a built app: <build>/bin/<name>.
std::string app_path(const std::string& name);

// Writes a CIFAR-10 binary batch of `count` records with labels 0..9 in turn and class-dependent pixels.
void write_cifar_batch(const std::filesystem::path& file, int count, unsigned seed);
// data_batch_1..5.bin and test_batch.bin of `count` records each, plus batches.meta.txt.
void write_cifar_directory(const std::filesystem::path& directory, int count);

}  // namespace tapegrad::testing
