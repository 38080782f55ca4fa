// Generator: the seeded random source behind every draw, shuffle and augmentation in tapegrad.
//
// xoshiro256** seeded through splitmix64, with Box-Muller normals computed here rather than by
// std::normal_distribution, so that the same seed gives the same numbers on every standard library and the whole
// state (four words plus the cached normal) can be saved in a checkpoint and restored exactly.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace tapegrad {

class Generator {
 public:
  struct State {
    std::array<std::uint64_t, 4> words{};
    bool has_cached_normal = false;
    double cached_normal = 0.0;
    bool operator==(const State&) const = default;
  };

  explicit Generator(std::uint64_t seed = 0);

  void seed(std::uint64_t seed);
  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double low, double high);
  double normal(double mean = 0.0, double stddev = 1.0);
  // Uniform integer in [0, n); n must be positive. Unbiased (rejection).
  std::uint64_t below(std::uint64_t n);
  bool bernoulli(double p);

  // Fisher-Yates over indices 0..n-1.
  std::vector<int> permutation(int n);
  template <typename It>
  void shuffle(It first, It last) {
    const auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      const std::uint64_t j = below(i);
      std::swap(first[static_cast<std::ptrdiff_t>(i - 1)], first[static_cast<std::ptrdiff_t>(j)]);
    }
  }

  // An independent stream derived from this one's state and a stream id (for trials run side by side).
  Generator split(std::uint64_t stream_id) const;

  State state() const;
  void set_state(const State& state);

 private:
  State state_;
};

}  // namespace tapegrad
