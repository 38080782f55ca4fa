#include "apps/common/threads.h"

#include <fmt/format.h>

#include <Eigen/Core>
#include <thread>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>

namespace tapegrad::apps {

void set_thread_count(int threads) {
  if (threads < 1) throw_error(fmt::format("thread count must be at least 1, got {}", threads));
  // The library's products split their work over its own pool (core/parallel.h); Eigen's kernels underneath
  // stay on one thread each.
  Eigen::setNbThreads(1);
  set_product_threads(threads);
}

int product_thread_count() { return product_threads(); }

int hardware_thread_count() {
  const unsigned reported = std::thread::hardware_concurrency();
  return reported == 0 ? 1 : static_cast<int>(reported);
}

}  // namespace tapegrad::apps
