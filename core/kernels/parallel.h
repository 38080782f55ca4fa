// The threads one run may use for its matrix products: a small persistent pool in which the calling thread
// works too.
//
// Why our own pool rather than Eigen's OpenMP products: a training step's products are small (about 30 MFLOP,
// tens of microseconds each), so how threads wait and share the work decides the speed. Measured on a shared
// 2-core machine, OpenMP's spin-waiting made 2 threads alternate between a good mode and one slower than 1 thread,
// and 10-20x slower under load; Eigen's own split also packs the whole 50-row W1 on one thread. Here:
//  - work is cut into chunks that the caller and the workers claim from one atomic counter, so a worker that the
//    scheduler has not run yet costs nothing: the caller takes its chunks (under load, 2 threads degrade to 1,
//    not to 10x slower);
//  - workers spin for a millisecond after a job (the next product of a step follows within microseconds), then
//    sleep on a condition variable, so an idle run does not burn the other engineers' core;
//  - one job at a time: a thread that finds the pool busy (trials of a sweep side by side) runs its work alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace tapegrad {

// The number of threads (the caller included) that products may use; 1 unless set. Not thread-safe against
// products running at the same time: set it before the work starts (the apps' --threads does).
void set_product_threads(int threads);
int product_threads();

// Runs body(chunk) for every chunk in [0, chunks), spread over the product threads; returns when all are done.
// Exceptions must not leave `body`. With one product thread, a single chunk, or a pool busy with another
// caller's job, the caller runs every chunk itself, in order.
void parallel_chunks(int chunks, const std::function<void(int chunk)>& body);

// How gemm splits a result's columns over threads, shared with elementwise passes over the same matrices (the
// optimisers' updates), so that each thread touches the columns it computed: parts of whole multiples of
// column_grain columns (the last part takes the remainder; whole grains keep the kernels' register blocks full),
// at most one part per thread.
constexpr std::ptrdiff_t column_grain = 16;
struct ColumnRange {
  std::ptrdiff_t first, last;  // [first, last)
};
// The number of parts for `columns` columns and `threads` threads (1 when there are fewer than two grains).
int column_chunks(std::ptrdiff_t columns, int threads);
ColumnRange column_range(std::ptrdiff_t columns, int chunk, int chunks);

// Runs body(range) for each part of `columns` columns split as above over the product threads when `split`, or
// once for all of them on the calling thread otherwise (also when there are fewer than two grains).
void parallel_columns(std::ptrdiff_t columns, bool split, const std::function<void(ColumnRange range)>& body);

// Elementwise passes over at least this many values are worth splitting (the batch loader, the normaliser, the
// optimisers' updates); below it, handing out the work costs about what it saves.
constexpr std::ptrdiff_t elementwise_split_values = 1 << 16;

}  // namespace tapegrad
