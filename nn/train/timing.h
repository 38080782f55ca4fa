// Wall-clock time of a run or of a part of it, from a monotonic clock (never goes back when the system clock is
// set).
#pragma once

#include <chrono>

namespace tapegrad::train {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tapegrad::train
