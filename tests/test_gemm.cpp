// gemm (every product of the library) and the product threads it splits its work over.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/gemm.h>
#include <tapegrad/core/kernels/gemm_avx512.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/core/kernels/parallel.h>

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

namespace {

// One product (float or double) checked against the same product in double: C is a block of a larger matrix (leading
// dimension ldc > m) whose surroundings must stay untouched, A and B are blocks too (lda, ldb larger than their
// rows), and C starts as NaN when beta is 0 (it must not be read). Each entry may differ from the double result
// by a few float roundings per term of its sum.
template <typename T, typename Product>
void check_product(Index m, Index n, Index k, bool ta, bool tb, T alpha, T beta, Generator& g,
                   const Product& product_under_test) {
  INFO("m " << m << " n " << n << " k " << k << " ta " << ta << " tb " << tb << " alpha " << alpha << " beta "
            << beta);
  const Index a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  Matrix<T> a_store(a_rows + 3, a_cols), b_store(b_rows + 5, b_cols), c_store(m + 7, n);
  for (Index j = 0; j < a_store.cols(); ++j)
    for (Index i = 0; i < a_store.rows(); ++i) a_store(i, j) = static_cast<T>(g.normal());
  for (Index j = 0; j < b_store.cols(); ++j)
    for (Index i = 0; i < b_store.rows(); ++i) b_store(i, j) = static_cast<T>(g.normal());
  for (Index j = 0; j < c_store.cols(); ++j)
    for (Index i = 0; i < c_store.rows(); ++i) c_store(i, j) = static_cast<T>(g.normal());
  const Matrix<T> c_before = c_store;
  if (beta == T(0)) c_store.block(2, 0, m, n).setConstant(std::numeric_limits<T>::quiet_NaN());

  const Matrix<double> a = a_store.block(1, 0, a_rows, a_cols).template cast<double>();
  const Matrix<double> b = b_store.block(2, 0, b_rows, b_cols).template cast<double>();
  const Matrix<double> opa = ta ? Matrix<double>(a.transpose()) : a, opb = tb ? Matrix<double>(b.transpose()) : b;
  const Matrix<double> c0 = c_before.block(2, 0, m, n).template cast<double>();
  const Matrix<double> exact = double(alpha) * opa * opb + (beta == T(0) ? Matrix<double>::Zero(m, n) : Matrix<double>(double(beta) * c0));
  const Matrix<double> magnitude = std::abs(double(alpha)) * opa.cwiseAbs() * opb.cwiseAbs() + std::abs(double(beta)) * c0.cwiseAbs();

  product_under_test(a_store.data() + 1, a_store.rows(), b_store.data() + 2, b_store.rows(), c_store.data() + 2,
                     c_store.rows());

  const double unit = std::numeric_limits<T>::epsilon();
  double worst = 0.0;
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < m; ++i) {
      const double error = std::abs(double(c_store(2 + i, j)) - exact(i, j));
      const double allowed = 2.0 * unit * static_cast<double>(k + 2) * magnitude(i, j) + 1e-30;
      if (!(error <= allowed)) {
        FAIL_CHECK("C(" << i << ", " << j << ") = " << c_store(2 + i, j) << ", exact " << exact(i, j));
        return;
      }
      worst = std::max(worst, error / allowed);
    }
  }
  // Nothing outside C's block was written.
  CHECK(c_store.topRows(2) == c_before.topRows(2));
  CHECK(c_store.bottomRows(5) == c_before.bottomRows(5));
  CHECK(worst < 1.0);
}

template <typename Product>
void check_float_product(Index m, Index n, Index k, bool ta, bool tb, float alpha, float beta, Generator& g,
                         const Product& product_under_test) {
  check_product<float>(m, n, k, ta, tb, alpha, beta, g, product_under_test);
}

// Every product form, alpha and beta, at every edge of the blockings (the AVX-512 float kernel's 16-row vectors,
// 48-row panels, tail rows, 144-row blocks, 8-column register blocks and 256-term blocks; Eigen's are smaller)
// through kernels::gemm_at at one level.
template <typename T>
void check_level(kernels::Isa isa, Generator& g) {
  INFO("level " << kernels::isa_name(isa));
  const Index ms[] = {1, 2, 3, 4, 5, 15, 16, 17, 18, 33, 48, 49, 50, 97, 145};
  const Index ns[] = {1, 7, 8, 9, 16, 17, 100, 769};
  const Index ks[] = {1, 17, 257};
  for (const Index m : ms) {
    for (const Index n : ns) {
      for (const Index k : ks) {
        for (int ops = 0; ops < 4; ++ops) {
          const bool ta = (ops & 1) != 0, tb = (ops & 2) != 0;
          const T alpha = ops == 3 ? T(-0.5) : T(1), beta = (m + n + k) % 3 == 0 ? T(0.75) : T(0);
          check_product<T>(m, n, k, ta, tb, alpha, beta, g,
                           [&](const T* a, Index lda, const T* b, Index ldb, T* c, Index ldc) {
                             kernels::gemm_at<T>(isa, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                           });
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("gemm in float: tapegrad's AVX-512 kernel at every edge of its blocking, against double", "[gemm][avx512]") {
  if (kernels::active_isa() != kernels::Isa::avx512) {
    WARN("skipped: this CPU has no AVX-512 (or TAPEGRAD_ISA / TAPEGRAD_AVX512=0 lowers the level), so the kernel is "
         "never used here");
    return;
  }
  Generator g(23);
  // Rows around the 16-row vectors, the 48-row panels, the tail kernels (m mod 16 up to 4) and the 144-row
  // blocks; columns around the 8-column register blocks, the two-panel packing (16) and the 768-column blocks;
  // terms around the 256-term blocks.
  const Index ms[] = {1, 2, 3, 4, 5, 15, 16, 17, 18, 21, 33, 47, 48, 49, 50, 97, 145, 150};
  const Index ns[] = {1, 7, 8, 9, 16, 17, 100, 769};
  const Index ks[] = {1, 17, 257};
  for (const Index m : ms) {
    for (const Index n : ns) {
      for (const Index k : ks) {
        for (int ops = 0; ops < 4; ++ops) {
          const bool ta = (ops & 1) != 0, tb = (ops & 2) != 0;
          const float alpha = ops == 3 ? -0.5f : 1.0f, beta = (m + n + k) % 3 == 0 ? 0.75f : 0.0f;
          Matrix<float> workspace(detail::avx512_sgemm_workspace(m, n, k) + 16, 1);
          // 64-byte alignment, as gemm gives it
          float* aligned = workspace.data();
          while (reinterpret_cast<std::uintptr_t>(aligned) % 64 != 0) ++aligned;
          check_float_product(m, n, k, ta, tb, alpha, beta, g,
                              [&](const float* a, Index lda, const float* b, Index ldb, float* c, Index ldc) {
                                detail::avx512_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, aligned);
                              });
        }
      }
    }
  }
  // The two-layer step's own shapes, and a long sum over several term blocks.
  check_float_product(50, 100, 3072, false, false, 1.0f, 0.0f, g,
                      [&](const float* a, Index lda, const float* b, Index ldb, float* c, Index ldc) {
                        Matrix<float> ws(detail::avx512_sgemm_workspace(50, 100, 3072) + 16, 1);
                        float* aligned = ws.data();
                        while (reinterpret_cast<std::uintptr_t>(aligned) % 64 != 0) ++aligned;
                        detail::avx512_sgemm(false, false, 50, 100, 3072, 1.0f, a, lda, b, ldb, 0.0f, c, ldc, aligned);
                      });
}

TEST_CASE("every instruction-set level's kernels, float and double, at every blocking edge, against double",
          "[gemm][kernels]") {
  using kernels::Isa;
  Generator g(25);
  std::string missing;
  for (const Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
    if (isa > kernels::cpu_isa()) {
      missing += std::string(missing.empty() ? "" : ", ") + kernels::isa_name(isa);
      continue;
    }
    check_level<float>(isa, g);
    check_level<double>(isa, g);
  }
  // A level above the CPU's is refused with an error, not run.
  if (!missing.empty()) {
    WARN("not tested here: this CPU has no " << missing << " (its best level is "
                                               << kernels::isa_name(kernels::cpu_isa()) << ")");
    float x = 1.0f, y = 0.0f;
    CHECK_THROWS_AS(kernels::gemm_at<float>(Isa::avx512, false, false, 1, 1, 1, 1.0f, &x, 1, &x, 1, 0.0f, &y, 1),
                    Error);
  }
  CHECK(kernels::active_isa() <= kernels::cpu_isa());
}

TEST_CASE("gemm in float through the library's backend, 1 and 2 threads, short wide results included", "[gemm]") {
  Generator g(24);
  struct Shape {
    Index m, n, k;
  };
  // 10 x 3072 from a transposed B is the softmax gradient (run as its transpose), 50 x 3072 the two-layer one.
  for (const Shape s : {Shape{10, 3072, 100}, Shape{50, 3072, 100}, Shape{50, 100, 3072}, Shape{10, 300, 7},
                        Shape{3, 5, 4}}) {
    for (const int threads : {1, 2}) {
      ThreadsGuard guard(threads);
      for (int ops = 0; ops < 4; ++ops) {
        const bool ta = (ops & 1) != 0, tb = (ops & 2) != 0;
        for (const float beta : {0.0f, 2.0f}) {
          check_float_product(s.m, s.n, s.k, ta, tb, 1.5f, beta, g,
                              [&](const float* a, Index lda, const float* b, Index ldb, float* c, Index ldc) {
                                const Index a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
                                const Index b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
                                const Eigen::Map<const Matrix<float>, 0, Eigen::OuterStride<>> am(
                                    a, a_rows, a_cols, Eigen::OuterStride<>(lda));
                                const Eigen::Map<const Matrix<float>, 0, Eigen::OuterStride<>> bm(
                                    b, b_rows, b_cols, Eigen::OuterStride<>(ldb));
                                Matrix<float> result(s.m, s.n);
                                for (Index j = 0; j < s.n; ++j)
                                  for (Index i = 0; i < s.m; ++i) result(i, j) = c[i + ldc * j];
                                gemm(1.5f, am, ta ? Op::transpose : Op::none, bm, tb ? Op::transpose : Op::none,
                                     beta, result);
                                for (Index j = 0; j < s.n; ++j)
                                  for (Index i = 0; i < s.m; ++i) c[i + ldc * j] = result(i, j);
                              });
        }
      }
    }
  }
}
