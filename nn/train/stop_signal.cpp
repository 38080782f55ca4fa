#include <tapegrad/nn/train/stop_signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

namespace tapegrad::train {
namespace {

std::atomic<bool> stop_flag{false};

// The first SIGINT or SIGTERM asks training to stop after the step under way (it then saves a checkpoint); a
// second one ends the process at once, the way it would have ended without a handler. Only async-signal-safe
// calls here.
extern "C" void on_stop_signal(int signal_number) {
  if (stop_flag.exchange(true)) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  static constexpr char kMessage[] =
      "\nstopping after the current step and saving a checkpoint (press Ctrl-C again to quit at once)\n";
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // A file-size limit (ulimit -f) then fails the write with EFBIG, reported with the file's path, instead of
  // killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
}

bool stop_requested() { return stop_flag.load(); }

void request_stop() { stop_flag.store(true); }

}  // namespace tapegrad::train
