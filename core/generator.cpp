#include <tapegrad/core/generator.h>

#include <cmath>
#include <numbers>

#include <tapegrad/core/error.h>

namespace tapegrad {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  x += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Generator::Generator(std::uint64_t seed_value) { seed(seed_value); }

void Generator::seed(std::uint64_t seed_value) {
  std::uint64_t x = seed_value;
  for (auto& w : state_.words) w = splitmix64(x);
  state_.has_cached_normal = false;
  state_.cached_normal = 0.0;
}

std::uint64_t Generator::next_u64() {
  auto& s = state_.words;
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::uniform(double low, double high) { return low + (high - low) * uniform(); }

double Generator::normal(double mean, double stddev) {
  if (state_.has_cached_normal) {
    state_.has_cached_normal = false;
    return mean + stddev * state_.cached_normal;
  }
  // Box-Muller on (0, 1] so that log never sees zero.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  state_.cached_normal = radius * std::sin(angle);
  state_.has_cached_normal = true;
  return mean + stddev * radius * std::cos(angle);
}

std::uint64_t Generator::below(std::uint64_t n) {
  if (n == 0) throw_error("Generator::below: n must be positive");
  // Reject the top partial block so that every residue is equally likely.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  std::uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

bool Generator::bernoulli(double p) { return uniform() < p; }

std::vector<int> Generator::permutation(int n) {
  std::vector<int> order(static_cast<std::size_t>(n > 0 ? n : 0));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  shuffle(order.begin(), order.end());
  return order;
}

Generator Generator::split(std::uint64_t stream_id) const {
  std::uint64_t x = state_.words[0] ^ rotl(state_.words[2], 13) ^ (stream_id * 0xD1B54A32D192ED03ULL);
  Generator g(splitmix64(x));
  return g;
}

Generator::State Generator::state() const { return state_; }

void Generator::set_state(const State& state) { state_ = state; }

}  // namespace tapegrad
