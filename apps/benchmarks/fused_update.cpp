#include "apps/benchmarks/fused_update.h"

#include <tapegrad/core/gemm.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace tapegrad::apps {

namespace {

template <typename T>
class ManualTwoLayer : public TrainingImplementation<T> {
 public:
  ManualTwoLayer(const BenchmarkProblem& problem, bool fused)
      : fused_(fused),
        lambda_(static_cast<T>(problem.lambda)),
        eta_(static_cast<T>(problem.learning_rate)) {
    std::vector<Matrix<T>> values = initial_parameters<T>(WorkloadModel::two_layer, problem);
    w1_ = std::move(values[0]);
    b1_ = std::move(values[1]);
    w2_ = std::move(values[2]);
    b2_ = std::move(values[3]);
  }

  std::string name() const override { return fused_ ? "manual-fused" : "manual"; }

  double step(Matrix<T>& x, std::span<const int> labels) override {
    const T n = static_cast<T>(x.cols());
    gemm(T(1), w1_, Op::none, x, Op::none, T(0), h_);
    h_ = (h_.colwise() + b1_.col(0)).cwiseMax(T(0));
    gemm(T(1), w2_, Op::none, h_, Op::none, T(0), g2_);
    g2_.colwise() += b2_.col(0);
    double loss = 0;
    for (Index j = 0; j < g2_.cols(); ++j) {  // softmax and cross-entropy per column, then P - Y in place
      auto s = g2_.col(j);
      const T top = s.maxCoeff();
      s = (s.array() - top).exp();
      const T sum = s.sum();
      s /= sum;
      loss -= std::log(static_cast<double>(s(labels[j])));
      s(labels[j]) -= T(1);
    }
    const double cost = loss / static_cast<double>(n) +
                        static_cast<double>(lambda_) * static_cast<double>(w1_.squaredNorm() + w2_.squaredNorm());
    gemm(T(1), w2_, Op::transpose, g2_, Op::none, T(0), g1_);  // before W2 changes
    g1_ = (h_.array() > T(0)).select(g1_, T(0));
    b2_ -= (eta_ / n) * g2_.rowwise().sum();
    b1_ -= (eta_ / n) * g1_.rowwise().sum();
    update(w2_, g2_, h_, dw2_);
    update(w1_, g1_, x, dw1_);
    return cost;
  }

  double evaluate(const Matrix<T>&, std::span<const int>) override {
    throw std::logic_error("the manual two-layer prototype times steps only");
  }

 private:
  // W from the gradient G input^T / n and the L2 term 2 lambda W, with SGD's step eta.
  void update(Matrix<T>& w, const Matrix<T>& g, const Matrix<T>& input, Matrix<T>& dw) const {
    const T n = static_cast<T>(input.cols());
    if (fused_) {
      gemm(-eta_ / n, g, Op::none, input, Op::transpose, T(1) - T(2) * eta_ * lambda_, w);
      return;
    }
    gemm(T(1) / n, g, Op::none, input, Op::transpose, T(0), dw);
    dw += (T(2) * lambda_) * w;  // the L2 term's pass
    w -= eta_ * dw;              // SGD's pass
  }

  bool fused_;
  T lambda_, eta_;
  Matrix<T> w1_, b1_, w2_, b2_;
  Matrix<T> h_, g1_, g2_, dw1_, dw2_;
};

}  // namespace

template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_manual_two_layer(const BenchmarkProblem& problem, bool fused) {
  return std::make_unique<ManualTwoLayer<T>>(problem, fused);
}

template std::unique_ptr<TrainingImplementation<float>> make_manual_two_layer(const BenchmarkProblem&, bool);
template std::unique_ptr<TrainingImplementation<double>> make_manual_two_layer(const BenchmarkProblem&, bool);

}  // namespace tapegrad::apps
