#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <tapegrad/core/generator.h>

using tapegrad::Generator;

TEST_CASE("same seed, same numbers, different seed, different numbers", "[generator]") {
  Generator a(42), b(42), c(43);
  bool all_same = true, any_differs_from_c = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    all_same = all_same && x == b.next_u64();
    any_differs_from_c = any_differs_from_c || x != c.next_u64();
  }
  CHECK(all_same);
  CHECK(any_differs_from_c);
}

TEST_CASE("state round trip continues the same stream, cached normal included", "[generator]") {
  Generator g(7);
  g.normal();  // leaves a cached second normal
  const auto saved = g.state();
  CHECK(saved.has_cached_normal);
  std::vector<double> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(g.normal());
  Generator restored(999);
  restored.set_state(saved);
  for (int i = 0; i < 5; ++i) CHECK(restored.normal() == expected[static_cast<std::size_t>(i)]);
}

TEST_CASE("distributions have the right moments and ranges", "[generator]") {
  Generator g(1);
  const int n = 200000;
  double sum = 0, sum_sq = 0, usum = 0;
  for (int i = 0; i < n; ++i) {
    const double x = g.normal(2.0, 3.0);
    sum += x;
    sum_sq += x * x;
    const double u = g.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    usum += u;
  }
  const double mean = sum / n;
  CHECK(mean == Approx(2.0).margin(0.03));
  CHECK(std::sqrt(sum_sq / n - mean * mean) == Approx(3.0).margin(0.03));
  CHECK(usum / n == Approx(0.5).margin(0.005));
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[g.below(7)];
  for (int c : counts) CHECK(c == Approx(10000).margin(400));
  REQUIRE_THROWS(g.below(0));
}

TEST_CASE("permutation is a permutation and split streams differ", "[generator]") {
  Generator g(3);
  auto p = g.permutation(1000);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);
  CHECK(p != identity);
  Generator s1 = g.split(1), s2 = g.split(2), s1again = g.split(1);
  const auto x1 = s1.next_u64();
  CHECK(x1 != s2.next_u64());
  CHECK(x1 == s1again.next_u64());
}
