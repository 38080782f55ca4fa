// gemm (every product of the library) and the product threads it splits its work over.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"

using namespace tapegrad;

namespace {

Matrix<double> random_matrix(Index rows, Index cols, Generator& g) {
  Matrix<double> m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = g.normal();
  return m;
}

// Restores one product thread whatever the test does.
struct ThreadsGuard {
  explicit ThreadsGuard(int threads) { set_product_threads(threads); }
  ~ThreadsGuard() { set_product_threads(1); }
};

}  // namespace

TEST_CASE("gemm: every transposition, alpha and beta, on 1 and 2 threads, equals Eigen's product", "[gemm]") {
  Generator g(21);
  // The second shape is above the threshold where the columns are split across threads (with a ragged last part).
  struct Shape {
    Index m, k, n;
  };
  for (const Shape s : {Shape{3, 5, 4}, Shape{50, 300, 100}, Shape{10, 100, 517}}) {
    for (const int threads : {1, 2}) {
      ThreadsGuard guard(threads);
      for (const bool ta : {false, true}) {
        for (const bool tb : {false, true}) {
          INFO("m " << s.m << " k " << s.k << " n " << s.n << " threads " << threads << " ta " << ta << " tb " << tb);
          const Matrix<double> a = ta ? random_matrix(s.k, s.m, g) : random_matrix(s.m, s.k, g);
          const Matrix<double> b = tb ? random_matrix(s.n, s.k, g) : random_matrix(s.k, s.n, g);
          const Matrix<double> opa = ta ? Matrix<double>(a.transpose()) : a;
          const Matrix<double> opb = tb ? Matrix<double>(b.transpose()) : b;
          const Matrix<double> exact = opa * opb;
          const double tolerance = 1e-12 * static_cast<double>(s.k);
          const Op op_a = ta ? Op::transpose : Op::none, op_b = tb ? Op::transpose : Op::none;

          Matrix<double> c = Matrix<double>::Constant(2, 2, std::nan(""));  // beta 0: resized, never read
          product(a, op_a, b, op_b, c);
          REQUIRE(c.rows() == s.m);
          REQUIRE(c.cols() == s.n);
          CHECK((c - exact).cwiseAbs().maxCoeff() <= tolerance);

          const Matrix<double> start = random_matrix(s.m, s.n, g);
          c = start;
          add_product(a, op_a, b, op_b, c);
          CHECK((c - (start + exact)).cwiseAbs().maxCoeff() <= tolerance);

          c = start;
          gemm(-0.5, a, op_a, b, op_b, 2.0, c);
          CHECK((c - (2.0 * start - 0.5 * exact)).cwiseAbs().maxCoeff() <= tolerance);
        }
      }
    }
  }
}

TEST_CASE("gemm: blocks as operands, empty inner size, and shape errors", "[gemm]") {
  Generator g(22);
  const Matrix<double> big = random_matrix(40, 60, g);
  const Matrix<double> x = random_matrix(30, 7, g);
  Matrix<double> c;
  product<double>(big.block(5, 10, 20, 30), Op::none, x, Op::none, c);  // a block with a leading dimension of 40
  CHECK((c - big.block(5, 10, 20, 30) * x).cwiseAbs().maxCoeff() <= 1e-12);

  const Matrix<double> empty_a(4, 0), empty_b(0, 3);
  c = Matrix<double>::Constant(4, 3, 1.0);
  add_product(empty_a, Op::none, empty_b, Op::none, c);
  CHECK(c == Matrix<double>::Constant(4, 3, 1.0));
  product(empty_a, Op::none, empty_b, Op::none, c);
  CHECK(c == Matrix<double>::Zero(4, 3));

  CHECK_THROWS_WITH(product(x, Op::none, x, Op::none, c), Catch::Contains("inner sizes differ"));
  Matrix<double> wrong(3, 3);
  CHECK_THROWS_WITH(add_product(x, Op::transpose, x, Op::none, wrong), Catch::Contains("(3 x 3)"));
  CHECK(std::string(gemm_backend()).size() > 0);
}

TEST_CASE("parallel_chunks runs every chunk exactly once, also for callers on several threads", "[gemm][threads]") {
  CHECK_THROWS(set_product_threads(0));
  ThreadsGuard guard(2);
  CHECK(product_threads() == 2);
  for (const int chunks : {1, 2, 3, 17}) {
    std::vector<std::atomic<int>> runs(static_cast<std::size_t>(chunks));
    parallel_chunks(chunks, [&](int chunk) { runs[static_cast<std::size_t>(chunk)].fetch_add(1); });
    for (const auto& r : runs) CHECK(r.load() == 1);
  }
  // Two callers at once (trials of a sweep side by side): one gets the pool, the other runs alone; both finish
  // with every chunk done once.
  std::vector<std::atomic<int>> first(64), second(64);
  auto caller = [](std::vector<std::atomic<int>>& runs) {
    for (int round = 0; round < 200; ++round) {
      parallel_chunks(4, [&](int chunk) { runs[static_cast<std::size_t>(round % 16 * 4 + chunk)].fetch_add(1); });
    }
  };
  std::thread other([&] { caller(second); });
  caller(first);
  other.join();
  int total = 0;
  for (const auto& r : first) total += r.load();
  for (const auto& r : second) total += r.load();
  CHECK(total == 2 * 200 * 4);
  // Changing the count replaces the pool; the old workers are joined.
  set_product_threads(1);
  set_product_threads(2);
  std::atomic<int> sum{0};
  parallel_chunks(8, [&](int chunk) { sum.fetch_add(chunk); });
  CHECK(sum.load() == 28);
}
