// One place that decides how many threads the numeric code of a run may use.
#pragma once

#include <tapegrad/nn/train/resources.h>

#include <string>

namespace tapegrad::apps {

// The hardware threads of this machine, at least 1 (the library's, resources.h).
using train::hardware_thread_count;

// --threads allows at most this many threads per hardware thread of the machine. The products split their work
// into at most one part per thread, and threads beyond the cores only take turns on them: a larger count is a
// mistake (a typo, or a count meant for another machine) that would reserve a stack per thread and could end in a
// refused thread. The headroom keeps a run started on a machine with a few more cores resumable here.
inline constexpr int kThreadsPerHardwareThread = 4;

// Sets the threads that the library's matrix products use (tapegrad::set_product_threads; Eigen's own kernels
// stay single-threaded underneath). Throws tapegrad::Error when `threads` < 1, and AppError (exit 1, a hint naming
// --threads) when the system cannot start that many threads; the pool then runs none, and products use one thread.
void set_thread_count(int threads);


// The most threads --threads allows here: kThreadsPerHardwareThread times hardware_thread_count().
int max_thread_count();
// What to do when --threads is out of range: the allowed range, why, and the default.
std::string thread_count_hint();

}  // namespace tapegrad::apps
