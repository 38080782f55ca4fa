// Running a built app from a test: its exit code and everything it printed.
#pragma once

#include <filesystem>
#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/core/generator.h>

namespace tapegrad::testing {

using tapegrad::Generator;

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

// MNIST-format (IDX) data of 28 x 28 images.
struct Images {
  std::vector<std::uint8_t> pixels;  // count images of 28 x 28, one after another
  std::vector<int> labels;
};
std::string big_endian(std::uint32_t value);
// Class k lights a bar of two columns (4 + 2k, 5 + 2k): learnable by a linear model, not trivially.
Images synthetic_images(int count, Generator& generator, const std::vector<int>& classes);
std::string idx_images(const Images& images);
std::string idx_labels(const Images& images);
// <prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte in `directory`.
void write_split(const std::filesystem::path& directory, const std::string& prefix, const Images& images);
std::vector<int> all_classes();
// MNIST-format files in `directory`: `train` training and `test` test images of `classes`.
void write_mnist(const std::filesystem::path& directory, int train, int test, std::uint64_t seed,
                 const std::vector<int>& classes = all_classes());

// Whether `out` or a directory below it holds a run's invocation.json: whether a run was started there.
bool holds_a_run(const std::filesystem::path& out);

// Checks a search's results.csv and results.json in `directory` against the format every app shares
// (nn/train/search.h): the header, one row and one JSON trial per trial in the same order, the best first.
void check_results_files(const std::filesystem::path& directory, std::size_t trials);

// A program started in the background through the shell, its output going to `log`, for tests that signal it.
class BackgroundCommand {
 public:
  BackgroundCommand(const std::string& command, const std::filesystem::path& log);
  ~BackgroundCommand();  // kills and reaps the program if it still runs
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  void send(int signal_number) const;
  // Waits for the program to end: its exit code, or 128 + the signal that ended it.
  int wait();
  bool running();

 private:
  int pid_ = -1;
  int status_ = -1;
};

}  // namespace tapegrad::testing
