// One place that decides how many threads the numeric code of a run may use.
#pragma once

namespace tapegrad::apps {

// Sets the threads that Eigen's products use (Eigen::setNbThreads) and, when built with OpenMP, the threads of
// OpenMP parallel regions. Throws tapegrad::Error when `threads` < 1.
void set_thread_count(int threads);

// The threads Eigen's products will use now (1 when Eigen was built without OpenMP).
int eigen_thread_count();

// The hardware threads of this machine; at least 1 even when the standard library cannot tell.
int hardware_thread_count();

}  // namespace tapegrad::apps
