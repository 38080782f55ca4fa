#include "apps/common/threads.h"

#include "apps/common/app_error.h"
#include "apps/common/hints.h"

#include <fmt/format.h>

#include <Eigen/Core>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>

namespace tapegrad::apps {

void set_thread_count(int threads) {
  if (threads < 1) throw_error(fmt::format("thread count must be at least 1, got {}", threads));
  // The library's products split their work over its own pool (core/parallel.h); Eigen's kernels underneath
  // stay on one thread each.
  Eigen::setNbThreads(1);
  try {
    set_product_threads(threads);
  } catch (const Error& error) {
    // The pool started none of its workers: the process can end cleanly, at once.
    throw Failure(fmt::format("--threads {}: {}", threads, error.what()),
                  hints::threads_refused(hardware_thread_count()));
  }
}

int max_thread_count() { return kThreadsPerHardwareThread * hardware_thread_count(); }

std::string thread_count_hint() {
  return fmt::format("give --threads from 1 to {} ({} per hardware thread; this machine has {}, and more threads only "
                     "take turns on its cores), or leave it out to use all {}",
                     max_thread_count(), kThreadsPerHardwareThread, hardware_thread_count(), hardware_thread_count());
}

}  // namespace tapegrad::apps
