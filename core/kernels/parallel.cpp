#include <tapegrad/core/kernels/parallel.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <tapegrad/core/error.h>

namespace tapegrad {

namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

using Clock = std::chrono::steady_clock;

// How long a worker stays awake after a job, waiting for the next one, and how long the caller spins for the
// workers' last chunks before it yields the core. The worker's spin covers the gaps of a training loop (a step
// takes under a millisecond, the gaps between its products tens of microseconds): a sleeping worker costs a
// wake-up, and Linux tends to wake it on the caller's own core, where it preempts the caller, so that both
// chunks run one after the other (measured: 240-280 us instead of 130 us for W1 X with 2 threads under load,
// against 130 us with the worker kept awake).
constexpr auto worker_spin = std::chrono::microseconds(1000);
constexpr auto caller_spin = std::chrono::microseconds(50);

// The job word: generation (32 bits) | chunks (16) | next unclaimed chunk (16). Claiming a chunk is one
// compare-and-swap that also checks the generation, so a worker waking late cannot claim from a finished job.
constexpr std::uint64_t chunk_mask = 0xffff;
std::uint64_t job_word(std::uint64_t generation, std::uint64_t chunks, std::uint64_t next) {
  return (generation << 32) | (chunks << 16) | next;
}

class Pool {
 public:
  // All the workers or none: when the system refuses a thread part-way (a process or memory limit), the ones
  // already started are stopped and joined before the error leaves, so that nothing keeps running (or waits
  // forever for a pool that was never finished) behind the caller's back.
  explicit Pool(int threads) {
    workers_.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) {
      try {
        workers_.emplace_back([this] { work(); });
      } catch (const std::exception& error) {  // std::system_error, or std::bad_alloc for its state
        stop_workers();
        throw_error(fmt::format("cannot start {} product threads: the system refused thread {} ({})", threads - 1,
                                i, error.what()));
      }
    }
  }
  ~Pool() { stop_workers(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // False when another caller's job is under way: the caller then runs its work alone.
  bool run(int chunks, const std::function<void(int)>& body) {
    std::unique_lock lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    body_ = &body;
    done_.store(0, std::memory_order_relaxed);
    const std::uint64_t generation = (job_.load(std::memory_order_relaxed) >> 32) + 1;
    job_.store(job_word(generation, static_cast<std::uint64_t>(chunks), 0), std::memory_order_release);
    wake_workers();
    claim_and_run();
    // The workers' last chunks: spin briefly, then give the core away (under load the worker may need it).
    const auto start = Clock::now();
    while (done_.load(std::memory_order_acquire) != chunks) {
      if (Clock::now() - start < caller_spin) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    return true;
  }

 private:
  // A new generation for the spinning workers; the sleeping ones (if any) are woken through the condition
  // variable. Both counters are sequentially consistent: either the caller sees a sleeper, or the sleeper sees
  // the new generation before it waits.
  void stop_workers() {
    stopping_.store(true);
    wake_workers();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  void wake_workers() {
    wake_.fetch_add(1);
    if (sleepers_.load() > 0) {
      std::lock_guard lock(sleep_mutex_);
      sleep_.notify_all();
    }
  }

  void claim_and_run() {
    std::uint64_t word = job_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t next = word & chunk_mask;
      const std::uint64_t chunks = (word >> 16) & chunk_mask;
      if (next >= chunks) return;
      if (job_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        (*body_)(static_cast<int>(next));  // body_ stays valid: the caller waits for this chunk to be counted
        done_.fetch_add(1, std::memory_order_release);
        word = job_.load(std::memory_order_acquire);
      }
    }
  }

  void work() {
    // Generation 0 is the pool's start, whenever this thread gets to run: a job or the stop posted before it
    // ran is then still seen.
    std::uint32_t seen = 0;
    for (;;) {
      const auto idle_since = Clock::now();
      while (wake_.load(std::memory_order_acquire) == seen && Clock::now() - idle_since < worker_spin) {
        for (int i = 0; i < 32; ++i) cpu_relax();
      }
      if (wake_.load() == seen) {
        std::unique_lock lock(sleep_mutex_);
        sleepers_.fetch_add(1);
        sleep_.wait(lock, [&] { return wake_.load() != seen; });
        sleepers_.fetch_sub(1);
      }
      seen = wake_.load(std::memory_order_acquire);
      if (stopping_.load(std::memory_order_acquire)) return;
      claim_and_run();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex busy_;
  const std::function<void(int)>* body_ = nullptr;
  std::atomic<std::uint64_t> job_{0};
  std::atomic<int> done_{0};
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_;
  std::atomic<int> sleepers_{0};
};

std::mutex pool_mutex;  // guards `pool` itself (replacing it), not the jobs
std::unique_ptr<Pool> pool;
std::atomic<int> thread_count{1};

}  // namespace

void set_product_threads(int threads) {
  if (threads < 1) throw_error(fmt::format("product threads must be at least 1, got {}", threads));
  std::lock_guard lock(pool_mutex);
  if (threads == thread_count.load()) return;
  pool.reset();
  // Until the new pool stands, products run on the calling thread alone, also when it cannot be had.
  thread_count.store(1);
  if (threads > 1) pool = std::make_unique<Pool>(threads);
  thread_count.store(threads);
}

int product_threads() { return thread_count.load(std::memory_order_relaxed); }

void parallel_chunks(int chunks, const std::function<void(int chunk)>& body) {
  if (chunks > 1 && chunks <= static_cast<int>(chunk_mask) && thread_count.load(std::memory_order_relaxed) > 1 &&
      pool && pool->run(chunks, body)) {
    return;
  }
  for (int chunk = 0; chunk < chunks; ++chunk) body(chunk);
}

int column_chunks(std::ptrdiff_t columns, int threads) {
  const std::ptrdiff_t grains = columns / column_grain;
  if (threads <= 1 || grains < 2) return 1;
  return static_cast<int>(std::min<std::ptrdiff_t>(threads, grains));
}

ColumnRange column_range(std::ptrdiff_t columns, int chunk, int chunks) {
  const std::ptrdiff_t grains = columns / column_grain;
  const std::ptrdiff_t first = chunk == 0 ? 0 : grains * chunk / chunks * column_grain;
  const std::ptrdiff_t last = chunk == chunks - 1 ? columns : grains * (chunk + 1) / chunks * column_grain;
  return {first, last};
}

void parallel_columns(std::ptrdiff_t columns, bool split, const std::function<void(ColumnRange range)>& body) {
  const int chunks = split ? column_chunks(columns, product_threads()) : 1;
  parallel_chunks(chunks, [&](int chunk) { body(column_range(columns, chunk, chunks)); });
}

}  // namespace tapegrad
