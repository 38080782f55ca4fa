// The gradcheck preset: the tape, the reports' analytic gradients and central differences, side by side on real
// images, as the reports check them before training.
#include "apps/cifar_softmax/gradcheck.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <span>
#include <vector>

#include "apps/common/classifier.h"
#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/reference/functions.h>
#include <tapegrad/nn/reference/numerical_gradient.h>
#include <tapegrad/nn/reference/sigmoid_regression.h>
#include <tapegrad/nn/reference/softmax_regression.h>
#include <tapegrad/ops/ops.h>

namespace tapegrad::apps::cifar_softmax {
namespace {

using M = Matrix<double>;

struct Case {
  Index features;
  Index examples;
  double lambda;
  LossKind loss;
};

double cost_of(LossKind loss, const M& w, const M& b, const M& x, const M& targets, double lambda) {
  return loss == LossKind::cross_entropy
             ? reference::softmax_regression_cost<double>(w, b, x, targets, lambda).cost
             : reference::sigmoid_regression_cost<double>(w, b, x, targets, lambda).cost;
}

// Central differences of the cost at the chosen entries of w (of_weights) or b, as a column. The fourth-order
// stencil with h = 1e-4 keeps both rounding (about 1e-16 J / h) and truncation (h^4) near 1e-12, so gradient
// entries as small as 1e-5 on a full batch are still checked to better than 1e-6.
M numerical(LossKind loss, M w, M b, const M& x, const M& targets, double lambda, bool of_weights,
            std::span<const Index> entries) {
  return reference::numerical_gradient_at([&] { return cost_of(loss, w, b, x, targets, lambda); },
                                          of_weights ? w : b, entries,
                                          {reference::DifferenceScheme::four_point, 1e-4});
}

// Largest relative error of `analytic` at the entries a numerical column was taken at.
double max_error(const M& analytic, const M& numerical_column, std::span<const Index> entries) {
  return reference::max_relative_error(reference::gather_entries(analytic, entries), numerical_column);
}

}  // namespace

nlohmann::json run_gradcheck(const ImageSplits& splits, std::uint64_t seed) {
  const data::Normalizer normalizer = data::Normalizer::fitted(splits.train);
  const M all = data::normalized_examples<double>(splits.train, normalizer, 0, 100);
  const std::vector<int> all_labels(splits.train.labels.begin(), splits.train.labels.begin() + 100);
  const Index classes = splits.train.num_classes();
  const Index full = splits.train.shape.features();
  const std::vector<Case> cases = {{10, 1, 0.0, LossKind::cross_entropy},  {10, 2, 0.1, LossKind::cross_entropy},
                                   {20, 3, 0.0, LossKind::cross_entropy},  {20, 3, 0.1, LossKind::cross_entropy},
                                   {full, 100, 0.0, LossKind::cross_entropy}, {full, 100, 0.1, LossKind::cross_entropy},
                                   {20, 3, 0.0, LossKind::multi_binary_cross_entropy},
                                   {20, 3, 0.1, LossKind::multi_binary_cross_entropy},
                                   {full, 100, 0.1, LossKind::multi_binary_cross_entropy}};
  nlohmann::json rows = nlohmann::json::array();
  Generator generator(seed);
  fmt::print("{:>5} {:>4} {:>7} {:>5} | {:>24} | {:>24} | {:>24}\n", "d", "n", "lambda", "loss", "tape vs reference (W, b)",
             "tape vs numerical (W, b)", "reference vs numerical");
  for (const Case& c : cases) {
    const M x = all.topLeftCorner(c.features, c.examples);
    const std::vector<int> labels(all_labels.begin(), all_labels.begin() + c.examples);
    const M w = Tensor<double>::normal(classes, c.features, generator, 0.0, 0.01).value();
    const M b = Tensor<double>::normal(classes, 1, generator, 0.0, 0.01).value();

    Tensor<double> wt(w, true), bt(b, true);
    Tensor<double> s = linear(wt, Tensor<double>(x), bt);
    const M targets = reference::one_hot<double>(labels, classes);
    Tensor<double> loss = c.loss == LossKind::cross_entropy
                              ? cross_entropy_with_logits(s, labels)
                              : multi_binary_cross_entropy_with_logits(s, Tensor<double>(targets));
    (loss + sum_of_squares(wt) * c.lambda).backward();

    const auto ref = c.loss == LossKind::cross_entropy
                         ? reference::softmax_regression_gradients<double>(w, b, x, targets, c.lambda)
                         : reference::sigmoid_regression_gradients<double>(w, b, x, targets, c.lambda);

    // Every entry on the small slices; 200 random entries of W on a full batch (each costs four passes).
    const std::vector<Index> w_entries = reference::sample_entries(w.size(), 200, generator);
    const std::vector<Index> b_entries = reference::sample_entries(b.size(), b.size(), generator);
    const M nw = numerical(c.loss, w, b, x, targets, c.lambda, true, w_entries);
    const M nb = numerical(c.loss, w, b, x, targets, c.lambda, false, b_entries);

    const double tape_ref_w = reference::max_relative_error(wt.grad(), ref.gradient.weights);
    const double tape_ref_b = reference::max_relative_error(bt.grad(), ref.gradient.bias);
    const double tape_num_w = max_error(wt.grad(), nw, w_entries);
    const double tape_num_b = max_error(bt.grad(), nb, b_entries);
    const double ref_num_w = max_error(ref.gradient.weights, nw, w_entries);
    const double ref_num_b = max_error(ref.gradient.bias, nb, b_entries);
    fmt::print("{:>5} {:>4} {:>7g} {:>5} | {:>11.2e} {:>11.2e}  | {:>11.2e} {:>11.2e}  | {:>11.2e} {:>11.2e}\n",
               c.features, c.examples, c.lambda, to_string(c.loss), tape_ref_w, tape_ref_b, tape_num_w, tape_num_b,
               ref_num_w, ref_num_b);
    rows.push_back({{"d", c.features},
                    {"n", c.examples},
                    {"lambda", c.lambda},
                    {"loss", to_string(c.loss)},
                    {"checked_weight_entries", w_entries.size()},
                    {"tape_vs_reference", {{"W", tape_ref_w}, {"b", tape_ref_b}}},
                    {"tape_vs_numerical", {{"W", tape_num_w}, {"b", tape_num_b}}},
                    {"reference_vs_numerical", {{"W", ref_num_w}, {"b", ref_num_b}}}});
  }
  return {{"data", splits.description}, {"relative_error", "|ga - gn| / max(1e-6, |ga| + |gn|)"}, {"cases", rows}};
}

}  // namespace tapegrad::apps::cifar_softmax
