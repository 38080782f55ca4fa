// One place that decides how many threads the numeric code of a run may use.
#pragma once

namespace tapegrad::apps {

// Sets the threads that the library's matrix products use (tapegrad::set_product_threads; Eigen's own kernels
// stay single-threaded underneath). Throws tapegrad::Error when `threads` < 1.
void set_thread_count(int threads);

// The threads the products will use now.
int product_thread_count();

// The hardware threads of this machine; at least 1 even when the standard library cannot tell.
int hardware_thread_count();

}  // namespace tapegrad::apps
