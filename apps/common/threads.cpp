#include "apps/common/threads.h"

#include <fmt/format.h>

#include <Eigen/Core>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"

namespace tapegrad::apps {

void set_thread_count(int threads) {
  if (threads < 1) throw_error(fmt::format("thread count must be at least 1, got {}", threads));
  Eigen::setNbThreads(threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

int eigen_thread_count() { return Eigen::nbThreads(); }

int hardware_thread_count() {
  const unsigned reported = std::thread::hardware_concurrency();
  return reported == 0 ? 1 : static_cast<int>(reported);
}

}  // namespace tapegrad::apps
