#include "apps/common/hints.h"

#include <fmt/format.h>

#include <tapegrad/nn/train/resources.h>

namespace tapegrad::apps::hints {

std::string diverged(std::string_view program) {
  // The apps with the cyclical rate have no --eta: their rate's top is --eta-max.
  const bool cyclical = program == "two_layer_cyclic" || program == "k_layer_batchnorm";
  const bool constant = program == "cifar_softmax" || program == "mnist_logistic";
  const std::string what = cyclical   ? "lower --eta-max, the top of the cyclical learning rate"
                           : constant ? "lower --eta, the learning rate"
                                      : "lower the learning rate";
  return what + " (a tenth is a good next try), and start the run again in a new --out directory or with --overwrite";
}

const char* const write_failed =
    "make room on the disk that holds the --out directory (or raise the file-size limit, ulimit -f), then continue "
    "the run with --resume OUT: it goes on from its last checkpoint";

const char* const damaged_checkpoint =
    "the run's checkpoint cannot be used: delete checkpoint.bin (and best.bin) from the run directory and --resume OUT "
    "trains that run again from its beginning, or start afresh with --overwrite";

const char* const out_of_memory =
    "the run ran out of memory: try a smaller --batch-size, fewer --threads (each sweep worker holds its own model) "
    "or a smaller preset, or close other programs";

std::string threads_refused(int hardware_threads) {
  return fmt::format("give a smaller --threads (this machine has {} hardware threads), or raise the limits on "
                     "processes and memory (ulimit -u, ulimit -v) or lower each thread's stack (ulimit -s)",
                     hardware_threads);
}

const char* const other_failure =
    "if a file could not be written, make room and continue with --resume OUT; otherwise run again with --verbose to "
    "see what led to this, and if it repeats, report the command line and this message (what the run wrote so far "
    "stays in its --out directory)";

std::vector<std::string> all_hints(std::string_view program) {
  return {diverged(program),
          write_failed,
          damaged_checkpoint,
          out_of_memory,
          threads_refused(train::hardware_thread_count()),
          other_failure};
}

}  // namespace tapegrad::apps::hints
