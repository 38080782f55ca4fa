// Optimizers and learning-rate schedules: updates against values worked out by hand from the update formulas,
// convergence on a quadratic through the tape, skipped parameters, zero_grad, checkpoints of optimizer state,
// option validation, and the schedules at hand-computed points.
#include <catch2/catch.hpp>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/core/parallel.h>
#include <tapegrad/ops/ops.h>
#include <tapegrad/optim/optim.h>

using tapegrad::Error;
using tapegrad::Matrix;
using tapegrad::Tensor;
namespace optim = tapegrad::optim;

namespace {

Matrix<double> column(std::initializer_list<double> values) {
  Matrix<double> result(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index row = 0;
  for (double value : values) result(row++, 0) = value;
  return result;
}

Tensor<double> parameter(std::initializer_list<double> values) {
  return Tensor<double>::from(column(values), true);
}

void set_grad(const Tensor<double>& tensor, std::initializer_list<double> values) {
  tensor.mutable_grad() = column(values);
}

// Values given to about 16 significant digits; a wrong rule changes them far more than this tolerance.
void require_values(const Tensor<double>& tensor, std::initializer_list<double> expected, double margin = 1e-12) {
  REQUIRE(tensor.size() == static_cast<Eigen::Index>(expected.size()));
  Eigen::Index i = 0;
  for (double value : expected) {
    INFO("entry " << i);
    CHECK(tensor.value()(i) == Approx(value).epsilon(0).margin(margin));
    ++i;
  }
}

const Matrix<double>& find_state(const std::vector<optim::StateEntry<double>>& state, const std::string& name) {
  for (const auto& entry : state) {
    if (entry.name == name) return entry.value;
  }
  FAIL("no state entry " << name);
  throw;  // unreachable: FAIL throws
}

std::vector<std::string> state_names(const std::vector<optim::StateEntry<double>>& state) {
  std::vector<std::string> names;
  for (const auto& entry : state) names.push_back(entry.name);
  return names;
}

// Runs f and requires a tapegrad::Error whose message contains every fragment.
void require_error_mentioning(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) CHECK_THAT(message, Catch::Contains(fragment));
    return;
  }
  FAIL("no tapegrad::Error thrown; expected one mentioning " << *fragments.begin());
}

// The gradients fed to the hand-worked examples below, one per step.
constexpr double kGradients[3][2] = {{0.5, 1.0}, {-1.0, 0.25}, {0.2, -0.4}};

void set_step_grad(const Tensor<double>& w, int step) { set_grad(w, {kGradients[step][0], kGradients[step][1]}); }

}  // namespace

// All hand-worked SGD examples start from w = (1, -2) with gradients g1 = (0.5, 1), g2 = (-1, 0.25),
// g3 = (0.2, -0.4) and learning rate 0.1.

TEST_CASE("SGD without momentum subtracts learning_rate * gradient", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1});
  set_step_grad(w, 0);
  sgd.step();
  // (1, -2) - 0.1 (0.5, 1) = (0.95, -2.1)
  require_values(w, {0.95, -2.1});
  set_step_grad(w, 1);
  sgd.step();
  // (0.95, -2.1) - 0.1 (-1, 0.25) = (1.05, -2.125)
  require_values(w, {1.05, -2.125});
  CHECK(sgd.step_count() == 2);
  CHECK(sgd.state().empty());
}

TEST_CASE("SGD weight decay is added to the gradient", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1, .weight_decay = 0.01});
  set_step_grad(w, 0);
  sgd.step();
  // d = (0.5 + 0.01*1, 1 + 0.01*(-2)) = (0.51, 0.98); w = (1 - 0.051, -2 - 0.098) = (0.949, -2.098)
  require_values(w, {0.949, -2.098});
  set_step_grad(w, 1);
  sgd.step();
  // d = (-1 + 0.00949, 0.25 - 0.02098) = (-0.99051, 0.22902); w = (0.949 + 0.099051, -2.098 - 0.022902)
  require_values(w, {1.048051, -2.120902});
}

TEST_CASE("SGD momentum: the first buffer is the gradient, then momentum * buffer + gradient", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1, .momentum = 0.9});
  set_step_grad(w, 0);
  sgd.step();
  // b = g1 = (0.5, 1); w = (1, -2) - 0.1 b = (0.95, -2.1)
  require_values(w, {0.95, -2.1});
  set_step_grad(w, 1);
  sgd.step();
  // b = 0.9 (0.5, 1) + (-1, 0.25) = (-0.55, 1.15); w = (0.95 + 0.055, -2.1 - 0.115) = (1.005, -2.215)
  require_values(w, {1.005, -2.215});
  set_step_grad(w, 2);
  sgd.step();
  // b = 0.9 (-0.55, 1.15) + (0.2, -0.4) = (-0.295, 0.635); w = (1.005 + 0.0295, -2.215 - 0.0635)
  require_values(w, {1.0345, -2.2785});
  const auto state = sgd.state();
  REQUIRE(state_names(state) == std::vector<std::string>{"param0.momentum"});
  CHECK(state[0].value(0) == Approx(-0.295).epsilon(0).margin(1e-12));
  CHECK(state[0].value(1) == Approx(0.635).epsilon(0).margin(1e-12));
}

TEST_CASE("SGD dampening scales the new gradient after the first step only", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1, .momentum = 0.9, .dampening = 0.5});
  set_step_grad(w, 0);
  sgd.step();
  // First buffer undamped: b = (0.5, 1); w = (0.95, -2.1)
  require_values(w, {0.95, -2.1});
  set_step_grad(w, 1);
  sgd.step();
  // b = 0.9 (0.5, 1) + 0.5 (-1, 0.25) = (-0.05, 1.025); w = (0.95 + 0.005, -2.1 - 0.1025)
  require_values(w, {0.955, -2.2025});
}

TEST_CASE("SGD Nesterov steps along gradient + momentum * buffer", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
  set_step_grad(w, 0);
  sgd.step();
  // b = (0.5, 1); d = g + 0.9 b = (0.95, 1.9); w = (1 - 0.095, -2 - 0.19) = (0.905, -2.19)
  require_values(w, {0.905, -2.19});
  set_step_grad(w, 1);
  sgd.step();
  // b = (-0.55, 1.15); d = (-1 - 0.495, 0.25 + 1.035) = (-1.495, 1.285); w = (0.905 + 0.1495, -2.19 - 0.1285)
  require_values(w, {1.0545, -2.3185});
}

TEST_CASE("SGD weight decay enters before momentum", "[optim][sgd]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  set_step_grad(w, 0);
  sgd.step();
  // d = (0.5 + 0.1, 1 - 0.2) = (0.6, 0.8) = b; w = (0.94, -2.08)
  require_values(w, {0.94, -2.08});
  set_step_grad(w, 1);
  sgd.step();
  // d = (-1 + 0.094, 0.25 - 0.208) = (-0.906, 0.042); b = (0.54 - 0.906, 0.72 + 0.042) = (-0.366, 0.762);
  // w = (0.94 + 0.0366, -2.08 - 0.0762)
  require_values(w, {0.9766, -2.1562});
}

// Adam examples: w = (1, -2), g1 = (0.5, 1), g2 = (-1, 0.25), learning rate 0.1, beta1 0.9, beta2 0.999,
// eps 1e-8. Bias corrections: step 1: 1 - 0.9 = 0.1 and 1 - 0.999 = 0.001; step 2: 1 - 0.81 = 0.19 and
// 1 - 0.998001 = 0.001999.

TEST_CASE("Adam with bias correction", "[optim][adam]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::Adam<double> adam({w}, {.learning_rate = 0.1});
  set_step_grad(w, 0);
  adam.step();
  // m = 0.1 g1 = (0.05, 0.1), v = 0.001 g1^2 = (0.00025, 0.001); m_hat = (0.5, 1), sqrt(v_hat) = (0.5, 1);
  // w = (1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 - 0.1 * 1 / (1 + 1e-8)) = (0.900000002, -2.099999999)
  require_values(w, {0.90000000199999996, -2.0999999990000000});
  set_step_grad(w, 1);
  adam.step();
  // m = 0.9 (0.05, 0.1) + 0.1 (-1, 0.25) = (-0.055, 0.115)
  // v = 0.999 (0.00025, 0.001) + 0.001 (1, 0.0625) = (0.00124975, 0.0010615)
  // m_hat = m / 0.19 = (-0.28947368421052632, 0.60526315789473684)
  // sqrt(v_hat) = sqrt(v / 0.001999) = (0.79068805087524781, 0.72870810874716966)
  // w = w - 0.1 m_hat / (sqrt(v_hat) + 1e-8) = (0.900000002 + 0.036610352..., -2.099999999 - 0.083059752...)
  require_values(w, {0.93661035424056560, -2.1830597512277280});
  const auto state = adam.state();
  CHECK(state_names(state) == std::vector<std::string>{"param0.exp_avg", "param0.exp_avg_sq", "param0.step"});
  CHECK(find_state(state, "param0.exp_avg")(0) == Approx(-0.055).epsilon(0).margin(1e-15));
  CHECK(find_state(state, "param0.exp_avg_sq")(1) == Approx(0.0010615).epsilon(0).margin(1e-15));
  CHECK(find_state(state, "param0.step")(0) == 2.0);
}

TEST_CASE("Adam weight decay is an L2 term in the gradient", "[optim][adam]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::Adam<double> adam({w}, {.learning_rate = 0.1, .weight_decay = 0.1});
  set_step_grad(w, 0);
  adam.step();
  // d = (0.5 + 0.1, 1 - 0.2) = (0.6, 0.8); m_hat = d, sqrt(v_hat) = |d|;
  // w = (1 - 0.1 * 0.6 / (0.6 + 1e-8), -2 - 0.1 * 0.8 / (0.8 + 1e-8)) = (0.90000000166666664, -2.09999999875)
  require_values(w, {0.90000000166666664, -2.0999999987500000});
  set_step_grad(w, 1);
  adam.step();
  // d = (-1 + 0.0900000001666..., 0.25 - 0.2099999998750) = (-0.90999999983333334, 0.040000000125)
  // m = 0.9 (0.06, 0.08) + 0.1 d = (-0.036999999983333334, 0.076000000012500000)
  // v = 0.999 (0.00036, 0.00064) + 0.001 d^2 = (0.00118773999969666667, 0.00064096000001)
  // m_hat = m / 0.19 = (-0.19473684201754386, 0.40000000006578947)
  // sqrt(v_hat) = (0.77082234230075900, 0.56625111051995520)
  // w = w - 0.1 m_hat / (sqrt(v_hat) + 1e-8)
  require_values(w, {0.92526351944560639, -2.1706400355765043});
}

TEST_CASE("AdamW decays the weights apart from the gradient", "[optim][adam]") {
  Tensor<double> w = parameter({1.0, -2.0});
  optim::AdamW<double> adamw({w}, {.learning_rate = 0.1, .weight_decay = 0.1});
  CHECK(adamw.options().decoupled);
  set_step_grad(w, 0);
  adamw.step();
  // w = (1, -2) * (1 - 0.1 * 0.1) = (0.99, -1.98), then the Adam step of the first example:
  // (0.99 - 0.099999998, -1.98 - 0.099999999) = (0.890000002, -2.079999999)
  require_values(w, {0.89000000199999996, -2.0799999990000000});
  set_step_grad(w, 1);
  adamw.step();
  // w = w * 0.99 = (0.88110000198, -2.05919999901), then the same moments as the first Adam example at step 2:
  // + (0.036610352..., -0.083059752...)
  require_values(w, {0.91771035422056560, -2.1422597512377280});
}

TEST_CASE("AdamW is Adam with decoupled = true, whatever the options say", "[optim][adam]") {
  Tensor<double> a = parameter({0.3, -0.7});
  Tensor<double> b = parameter({0.3, -0.7});
  optim::Adam<double> adam({a}, {.learning_rate = 0.05, .weight_decay = 0.2, .decoupled = true});
  optim::AdamW<double> adamw({b}, {.learning_rate = 0.05, .weight_decay = 0.2, .decoupled = false});
  for (int step = 0; step < 3; ++step) {
    set_step_grad(a, step);
    set_step_grad(b, step);
    adam.step();
    adamw.step();
  }
  CHECK(a.value() == b.value());
  CHECK(a.value() != column({0.3, -0.7}));
}

namespace {

// Minimises f(w) = ||w - c||^2 through the tape and returns the distance to target (the minimiser of f plus
// whatever weight decay the optimizer adds).
double minimise_quadratic(const std::function<std::unique_ptr<optim::Optimizer<double>>(Tensor<double>)>& make,
                          int steps, const Matrix<double>& target) {
  Matrix<double> c(2, 2);
  c << 1.0, -2.0, 0.5, 3.0;
  Tensor<double> w = Tensor<double>::zeros(2, 2, true);
  const Tensor<double> c_tensor = Tensor<double>::from(c);
  auto optimizer = make(w);
  for (int step = 0; step < steps; ++step) {
    optimizer->zero_grad();
    Tensor<double> loss = tapegrad::sum_of_squares(w - c_tensor);
    loss.backward();
    optimizer->step();
  }
  return (w.value() - target).cwiseAbs().maxCoeff();
}

Matrix<double> quadratic_minimum() {
  Matrix<double> c(2, 2);
  c << 1.0, -2.0, 0.5, 3.0;
  return c;
}

}  // namespace

TEST_CASE("every optimizer minimises ||w - c||^2", "[optim][convergence]") {
  const Matrix<double> c = quadratic_minimum();
  using Made = std::unique_ptr<optim::Optimizer<double>>;
  // From w = 0 the distance starts at max |c| = 3.
  SECTION("SGD") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(std::vector{w}, optim::SGDOptions{.learning_rate = 0.1});
    };
    CHECK(minimise_quadratic(make, 200, c) < 1e-10);
  }
  SECTION("SGD with momentum") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(std::vector{w},
                                                  optim::SGDOptions{.learning_rate = 0.05, .momentum = 0.9});
    };
    CHECK(minimise_quadratic(make, 500, c) < 1e-8);
  }
  SECTION("SGD with Nesterov momentum") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(
          std::vector{w}, optim::SGDOptions{.learning_rate = 0.05, .momentum = 0.9, .nesterov = true});
    };
    CHECK(minimise_quadratic(make, 500, c) < 1e-8);
  }
  SECTION("SGD with weight decay reaches the minimum of ||w - c||^2 + (wd / 2) ||w||^2, 2c / (2 + wd)") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(
          std::vector{w}, optim::SGDOptions{.learning_rate = 0.1, .momentum = 0.5, .weight_decay = 0.5});
    };
    const Matrix<double> shrunk = c * (2.0 / 2.5);
    CHECK(minimise_quadratic(make, 300, shrunk) < 1e-10);
  }
  SECTION("Adam") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::Adam<double>>(std::vector{w}, optim::AdamOptions{.learning_rate = 0.05});
    };
    CHECK(minimise_quadratic(make, 2000, c) < 1e-4);
  }
  SECTION("Adam with L2 weight decay reaches 2c / (2 + wd)") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::Adam<double>>(std::vector{w},
                                                   optim::AdamOptions{.learning_rate = 0.05, .weight_decay = 0.5});
    };
    const Matrix<double> shrunk = c * (2.0 / 2.5);
    CHECK(minimise_quadratic(make, 2000, shrunk) < 1e-4);
  }
  SECTION("AdamW") {
    auto make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::AdamW<double>>(
          std::vector{w}, optim::AdamOptions{.learning_rate = 0.05, .weight_decay = 1e-4});
    };
    CHECK(minimise_quadratic(make, 2000, c) < 1e-3);
  }
}

TEST_CASE("SGD in float minimises the quadratic too", "[optim][convergence]") {
  Matrix<float> c(2, 1);
  c << 1.5f, -0.5f;
  Tensor<float> w = Tensor<float>::zeros(2, 1, true);
  const Tensor<float> c_tensor = Tensor<float>::from(c);
  optim::SGD<float> sgd({w}, {.learning_rate = 0.1, .momentum = 0.5});
  for (int step = 0; step < 200; ++step) {
    sgd.zero_grad();
    tapegrad::sum_of_squares(w - c_tensor).backward();
    sgd.step();
  }
  CHECK((w.value() - c).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("parameters without a gradient are skipped and keep no state", "[optim]") {
  SECTION("SGD with momentum") {
    Tensor<double> used = parameter({1.0, -2.0});
    Tensor<double> unused = parameter({3.0});
    optim::SGD<double> sgd({used, unused}, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    set_step_grad(used, 0);
    sgd.step();
    require_values(used, {0.94, -2.08});  // the momentum + weight decay example, step 1
    CHECK(unused.value()(0) == 3.0);      // weight decay alone would have moved it to 2.97
    CHECK_FALSE(unused.has_grad());
    CHECK(state_names(sgd.state()) == std::vector<std::string>{"param0.momentum"});
  }
  SECTION("Adam counts each parameter's steps from its first gradient") {
    Tensor<double> early = parameter({1.0, -2.0});
    Tensor<double> late = parameter({3.0});
    optim::Adam<double> adam({early, late}, {.learning_rate = 0.1});
    set_step_grad(early, 0);
    adam.step();
    CHECK(late.value()(0) == 3.0);
    CHECK_FALSE(late.has_grad());
    CHECK(state_names(adam.state()) ==
          std::vector<std::string>{"param0.exp_avg", "param0.exp_avg_sq", "param0.step"});
    set_step_grad(early, 1);
    set_grad(late, {2.0});
    adam.step();
    // late's first step, bias-corrected as step 1 (not 2): 3 - 0.1 * 2 / (2 + 1e-8) = 2.9000000005.
    // Had it used the optimizer's step 2, m_hat = 0.2 / 0.19 and sqrt(v_hat) = sqrt(0.004 / 0.001999) would
    // give 3 - 0.0744... instead.
    CHECK(late.value()(0) == Approx(2.9000000005).epsilon(0).margin(1e-12));
    require_values(early, {0.93661035424056560, -2.1830597512277280});  // unchanged by late's arrival
    const auto state = adam.state();
    CHECK(find_state(state, "param1.step")(0) == 1.0);
    CHECK(find_state(state, "param0.step")(0) == 2.0);
    CHECK(adam.step_count() == 2);
  }
}

TEST_CASE("zero_grad zeroes every gradient in place, and gradients accumulate without it", "[optim]") {
  Tensor<double> a = parameter({1.0, 2.0});
  Tensor<double> b = parameter({-1.0});
  optim::SGD<double> sgd({a, b}, {.learning_rate = 0.1});
  auto loss = [&] { return tapegrad::sum_of_squares(a) + tapegrad::sum(b) * 3.0; };
  loss().backward();
  // d/da ||a||^2 = 2a = (2, 4); d/db 3b = 3
  CHECK(a.grad() == column({2.0, 4.0}));
  CHECK(b.grad() == column({3.0}));
  loss().backward();
  CHECK(a.grad() == column({4.0, 8.0}));
  CHECK(b.grad() == column({6.0}));
  const double* storage = a.grad().data();
  sgd.zero_grad();
  CHECK(a.grad() == column({0.0, 0.0}));
  CHECK(b.grad() == column({0.0}));
  CHECK(a.grad().data() == storage);
  sgd.step();  // a zero gradient moves nothing
  CHECK(a.value() == column({1.0, 2.0}));
  CHECK(b.value() == column({-1.0}));
}

namespace {

// Trains two copies of w = (1, -2) (3 x 1 with a third entry 0.5): the first straight through `total` steps,
// the second for `split` steps, then through a checkpoint (values, state(), step_count()) into a fresh optimizer
// for the rest. Returns both final values.
template <typename Make>
std::pair<Matrix<double>, Matrix<double>> train_with_checkpoint(Make make, int split, int total,
                                                                bool load_state = true) {
  auto gradient = [](int step) {
    return column({kGradients[step % 3][0] * (1 + step), kGradients[step % 3][1], 0.1 * step - 0.3});
  };
  Tensor<double> straight = parameter({1.0, -2.0, 0.5});
  auto straight_optimizer = make(straight);
  for (int step = 0; step < total; ++step) {
    straight.mutable_grad() = gradient(step);
    straight_optimizer->step();
  }
  Tensor<double> first = parameter({1.0, -2.0, 0.5});
  auto first_optimizer = make(first);
  for (int step = 0; step < split; ++step) {
    first.mutable_grad() = gradient(step);
    first_optimizer->step();
  }
  const Matrix<double> saved_value = first.value();
  const auto saved_state = first_optimizer->state();
  const long saved_steps = first_optimizer->step_count();
  first_optimizer.reset();

  Tensor<double> resumed = Tensor<double>::from(saved_value, true);
  auto resumed_optimizer = make(resumed);
  if (load_state) resumed_optimizer->load_state(saved_state, saved_steps);
  CHECK(resumed_optimizer->step_count() == (load_state ? saved_steps : 0));
  for (int step = split; step < total; ++step) {
    resumed.mutable_grad() = gradient(step);
    resumed_optimizer->step();
  }
  return {straight.value(), resumed.value()};
}

}  // namespace

TEST_CASE("state() and load_state() resume training exactly", "[optim][checkpoint]") {
  using Made = std::unique_ptr<optim::Optimizer<double>>;
  std::function<Made(Tensor<double>)> make;
  SECTION("SGD with Nesterov momentum and weight decay") {
    make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(
          std::vector{w},
          optim::SGDOptions{.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
    };
  }
  SECTION("SGD with dampened momentum") {
    make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::SGD<double>>(
          std::vector{w}, optim::SGDOptions{.learning_rate = 0.1, .momentum = 0.8, .dampening = 0.3});
    };
  }
  SECTION("Adam with L2 weight decay") {
    make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::Adam<double>>(std::vector{w},
                                                   optim::AdamOptions{.learning_rate = 0.1, .weight_decay = 0.1});
    };
  }
  SECTION("AdamW") {
    make = [](Tensor<double> w) -> Made {
      return std::make_unique<optim::AdamW<double>>(std::vector{w},
                                                    optim::AdamOptions{.learning_rate = 0.1, .weight_decay = 0.1});
    };
  }
  const auto [straight, resumed] = train_with_checkpoint(make, 3, 6);
  CHECK(straight == resumed);
  // Without the state the same run goes elsewhere, so the equality above is the state's doing.
  const auto [straight_again, fresh] = train_with_checkpoint(make, 3, 6, false);
  CHECK(straight_again == straight);
  CHECK((fresh - straight).cwiseAbs().maxCoeff() > 1e-3);
}

TEST_CASE("load_state rejects bad state and changes nothing then", "[optim][checkpoint]") {
  Tensor<double> w = parameter({1.0, -2.0});
  Tensor<double> u = parameter({0.5});
  optim::Adam<double> adam({w, u}, {.learning_rate = 0.1});
  set_step_grad(w, 0);
  set_grad(u, {1.0});
  adam.step();
  const auto good = adam.state();
  REQUIRE(good.size() == 6);
  auto with = [&](const std::function<void(std::vector<optim::StateEntry<double>>&)>& edit) {
    auto state = good;
    edit(state);
    return state;
  };
  using State = std::vector<optim::StateEntry<double>>;
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s[0].name = "param0.momentum"; }), 1); },
                           {"param0.momentum", "exp_avg"});
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s[0].name = "weights.exp_avg"; }), 1); },
                           {"weights.exp_avg"});
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s[3].name = "param7.exp_avg"; }), 1); },
                           {"param7.exp_avg", "2 parameters"});
  require_error_mentioning(
      [&] { adam.load_state(with([](State& s) { s[1].value = Matrix<double>::Zero(3, 1); }), 1); },
      {"param0.exp_avg_sq", "(3 x 1)", "(2 x 1)"});
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s.erase(s.begin() + 1); }), 1); },
                           {"param0.exp_avg_sq", "missing"});
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s.push_back(s[0]); }), 1); },
                           {"param0.exp_avg", "more than once"});
  require_error_mentioning([&] { adam.load_state(with([](State& s) { s[2].value(0) = 0.5; }), 1); },
                           {"param0.step", "0.5"});
  require_error_mentioning([&] { adam.load_state(good, 0); }, {"param0.step", "step count 0"});
  require_error_mentioning([&] { adam.load_state(good, -1); }, {"step count", "-1"});
  CHECK(adam.step_count() == 1);
  CHECK(adam.state().size() == 6);
  CHECK(find_state(adam.state(), "param1.exp_avg")(0) == Approx(0.1));

  optim::SGD<double> plain({w}, {.learning_rate = 0.1});
  require_error_mentioning(
      [&] {
        plain.load_state({{"param0.momentum", column({1.0, 2.0})}}, 1);
      },
      {"param0.momentum", "no entries"});
  optim::SGD<double> heavy({w}, {.learning_rate = 0.1, .momentum = 0.9});
  require_error_mentioning(
      [&] {
        heavy.load_state({{"param0.momentum", column({1.0})}}, 1);
      },
      {"param0.momentum", "(1 x 1)", "(2 x 1)"});
}

TEST_CASE("every invalid option throws an Error naming the option, the value and the range", "[optim][options]") {
  const std::vector<Tensor<double>> params{parameter({1.0})};
  auto sgd = [&](optim::SGDOptions options) { return [=] { optim::SGD<double>(params, options); }; };
  auto adam = [&](optim::AdamOptions options) { return [=] { optim::Adam<double>(params, options); }; };

  require_error_mentioning(sgd({.learning_rate = -0.1}), {"SGDOptions.learning_rate", "-0.1", "[0, inf)"});
  require_error_mentioning(sgd({.learning_rate = std::nan("")}), {"SGDOptions.learning_rate", "nan"});
  require_error_mentioning(sgd({.learning_rate = HUGE_VAL}), {"SGDOptions.learning_rate", "inf"});
  require_error_mentioning(sgd({.momentum = 1.5}), {"SGDOptions.momentum", "1.5", "[0, 1)"});
  require_error_mentioning(sgd({.momentum = 1.0}), {"SGDOptions.momentum", "1", "[0, 1)"});
  require_error_mentioning(sgd({.momentum = -0.2}), {"SGDOptions.momentum", "-0.2"});
  require_error_mentioning(sgd({.momentum = 0.9, .dampening = 1.5}), {"SGDOptions.dampening", "1.5", "[0, 1]"});
  require_error_mentioning(sgd({.weight_decay = -1e-4}), {"SGDOptions.weight_decay", "-0.0001", "[0, inf)"});
  require_error_mentioning(sgd({.nesterov = true}), {"SGDOptions.nesterov", "momentum 0"});
  require_error_mentioning(sgd({.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                           {"SGDOptions.nesterov", "dampening 0.1"});

  require_error_mentioning(adam({.learning_rate = -1.0}), {"AdamOptions.learning_rate", "-1", "[0, inf)"});
  require_error_mentioning(adam({.beta1 = 1.0}), {"AdamOptions.beta1", "1", "[0, 1)"});
  require_error_mentioning(adam({.beta1 = -0.1}), {"AdamOptions.beta1", "-0.1"});
  require_error_mentioning(adam({.beta2 = 1.2}), {"AdamOptions.beta2", "1.2", "[0, 1)"});
  require_error_mentioning(adam({.eps = 0.0}), {"AdamOptions.eps", "0", "(0, inf)"});
  require_error_mentioning(adam({.weight_decay = -0.5}), {"AdamOptions.weight_decay", "-0.5"});
  require_error_mentioning([&] { optim::AdamW<double>(params, {.beta2 = 1.0}); }, {"AdamOptions.beta2"});

  // The valid edges are accepted.
  CHECK_NOTHROW(optim::SGD<double>(params, {.learning_rate = 0.0, .momentum = 0.0, .dampening = 1.0}));
  CHECK_NOTHROW(optim::Adam<double>(params, {.beta1 = 0.0, .beta2 = 0.0}));

  optim::SGD<double> working(params, {.learning_rate = 0.1});
  require_error_mentioning([&] { working.set_learning_rate(-0.5); }, {"learning rate", "-0.5"});
  CHECK(working.learning_rate() == 0.1);
}

TEST_CASE("an optimizer takes distinct leaves only", "[optim][options]") {
  Tensor<double> w = parameter({1.0, 2.0});
  require_error_mentioning([&] { optim::SGD<double>({w, w}, {}); }, {"parameter 1", "parameter 0"});
  Tensor<double> derived = w * 2.0;
  require_error_mentioning([&] { optim::Adam<double>({derived}, {}); }, {"not a leaf"});
  optim::SGD<double> sgd({w}, {});
  w.mutable_grad() = column({1.0, 2.0, 3.0});
  require_error_mentioning([&] { sgd.step(); }, {"parameter 0", "(3 x 1)", "(2 x 1)"});
}

// CyclicLR with eta_min = 1e-5, eta_max = 1e-1, n_s = 500, so eta_max - eta_min = 0.09999.
TEST_CASE("CyclicLR follows the triangular formula", "[optim][schedule]") {
  const optim::CyclicLR cyclic({.eta_min = 1e-5, .eta_max = 1e-1, .steps_per_half_cycle = 500});
  auto at = [&](long t) { return cyclic.learning_rate_at(t); };
  CHECK(at(0) == Approx(1e-5).epsilon(1e-12));           // l = 0, rising: eta_min
  CHECK(at(250) == Approx(0.050005).epsilon(1e-12));     // 1e-5 + 250/500 * 0.09999
  CHECK(at(500) == Approx(0.1).epsilon(1e-12));          // top: eta_max
  CHECK(at(750) == Approx(0.050005).epsilon(1e-12));     // falling: 0.1 - 250/500 * 0.09999
  CHECK(at(1000) == Approx(1e-5).epsilon(1e-12));        // l = 1 starts at eta_min
  CHECK(at(1250) == Approx(0.050005).epsilon(1e-12));    // 1e-5 + (1250 - 1000)/500 * 0.09999
  CHECK(at(100) == Approx(0.020008).epsilon(1e-12));     // 1e-5 + 0.2 * 0.09999
  CHECK(at(900) == Approx(0.020008).epsilon(1e-12));     // 0.1 - (900 - 500)/500 * 0.09999
  CHECK(at(1499) == Approx(0.09980002).epsilon(1e-12));  // 1e-5 + 499/500 * 0.09999
  CHECK(at(1501) == Approx(0.09980002).epsilon(1e-12));  // 0.1 - 1/500 * 0.09999
  CHECK(at(5000) == Approx(1e-5).epsilon(1e-12));        // l = 5
}

TEST_CASE("StepDecayLR divides the rate at every k-th step", "[optim][schedule]") {
  const optim::StepDecayLR decay({.initial_learning_rate = 0.1, .divide_by = 10.0, .every_steps = 100});
  CHECK(decay.learning_rate_at(0) == Approx(0.1));
  CHECK(decay.learning_rate_at(99) == Approx(0.1));
  CHECK(decay.learning_rate_at(100) == Approx(0.01));
  CHECK(decay.learning_rate_at(199) == Approx(0.01));
  CHECK(decay.learning_rate_at(200) == Approx(0.001));
  CHECK(decay.learning_rate_at(350) == Approx(0.0001));

  // Every 3 epochs of 50 steps: k = 150; halving.
  const optim::StepDecayLR by_epochs = optim::StepDecayLR::from_epochs(0.1, 2.0, 3, 50);
  CHECK(by_epochs.options().every_steps == 150);
  CHECK(by_epochs.learning_rate_at(149) == Approx(0.1));
  CHECK(by_epochs.learning_rate_at(150) == Approx(0.05));
  CHECK(by_epochs.learning_rate_at(299) == Approx(0.05));
  CHECK(by_epochs.learning_rate_at(300) == Approx(0.025));
}

TEST_CASE("ConstantLR and Scheduler set the optimizer's rate per step", "[optim][schedule]") {
  CHECK(optim::ConstantLR(0.03).learning_rate_at(12345) == 0.03);

  Tensor<double> w = parameter({1.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.5});
  optim::Scheduler<double> scheduler(sgd,
                                     optim::CyclicLR({.eta_min = 0.0, .eta_max = 1.0, .steps_per_half_cycle = 4}));
  CHECK(scheduler.position() == 0);
  CHECK(sgd.learning_rate() == 0.0);  // set at construction: eta_0 = eta_min
  // Rates for t = 0..8 with n_s = 4: 0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0. Each update uses the rate of its
  // step, so w moves by -(rate) per unit gradient: total 0 + 0.25 + 0.5 + 0.75 + 1 + 0.75 = 3.25 over t = 0..5.
  for (int t = 0; t < 6; ++t) {
    set_grad(w, {1.0});
    sgd.step();
    scheduler.step();
  }
  CHECK(w.value()(0) == Approx(1.0 - 3.25).epsilon(1e-14));
  CHECK(scheduler.position() == 6);
  CHECK(sgd.learning_rate() == Approx(0.5));
  CHECK(scheduler.learning_rate() == Approx(0.5));

  // Resuming from a checkpoint: a new scheduler set to the saved position gives the same rate.
  optim::Scheduler<double> resumed(sgd, optim::ConstantLR(0.2));
  CHECK(sgd.learning_rate() == 0.2);
  optim::Scheduler<double> restored(sgd,
                                    optim::CyclicLR({.eta_min = 0.0, .eta_max = 1.0, .steps_per_half_cycle = 4}));
  restored.set_position(7);
  CHECK(sgd.learning_rate() == Approx(0.25));
  optim::Scheduler<double> started_late(
      sgd, optim::StepDecayLR({.initial_learning_rate = 1.0, .divide_by = 2.0, .every_steps = 2}), 5);
  CHECK(started_late.position() == 5);
  CHECK(sgd.learning_rate() == Approx(0.25));
  optim::ConstantLR(0.7).apply(sgd, 3);
  CHECK(sgd.learning_rate() == 0.7);
}

TEST_CASE("schedules reject bad options and negative steps", "[optim][schedule][options]") {
  require_error_mentioning([] { optim::CyclicLR({.eta_min = 1e-5, .eta_max = 1e-1, .steps_per_half_cycle = 0}); },
                           {"CyclicLROptions.steps_per_half_cycle", "0", ">= 1"});
  require_error_mentioning([] { optim::CyclicLR({.eta_min = 0.2, .eta_max = 0.1, .steps_per_half_cycle = 10}); },
                           {"CyclicLROptions.eta_max", "0.1", "[0.2, inf)"});
  require_error_mentioning([] { optim::CyclicLR({.eta_min = -1.0, .eta_max = 0.1, .steps_per_half_cycle = 10}); },
                           {"CyclicLROptions.eta_min", "-1"});
  require_error_mentioning(
      [] { optim::StepDecayLR({.initial_learning_rate = 0.1, .divide_by = 0.0, .every_steps = 10}); },
      {"StepDecayOptions.divide_by", "0", "(0, inf)"});
  require_error_mentioning(
      [] { optim::StepDecayLR({.initial_learning_rate = 0.1, .divide_by = 10.0, .every_steps = 0}); },
      {"StepDecayOptions.every_steps", "0", ">= 1"});
  require_error_mentioning(
      [] { optim::StepDecayLR({.initial_learning_rate = -0.1, .divide_by = 10.0, .every_steps = 1}); },
      {"StepDecayOptions.initial_learning_rate", "-0.1"});
  require_error_mentioning([] { optim::StepDecayLR::from_epochs(0.1, 10.0, 2, 0); }, {"steps_per_epoch", "0"});
  require_error_mentioning([] { optim::StepDecayLR::from_epochs(0.1, 10.0, 0, 5); }, {"every_epochs", "0"});
  require_error_mentioning([] { optim::ConstantLR(-3.0); }, {"ConstantLR.learning_rate", "-3"});
  const optim::CyclicLR cyclic({.eta_min = 0.0, .eta_max = 1.0, .steps_per_half_cycle = 4});
  require_error_mentioning([&] { cyclic.learning_rate_at(-1); }, {"CyclicLR", "-1"});

  Tensor<double> w = parameter({1.0});
  optim::SGD<double> sgd({w}, {.learning_rate = 0.5});
  optim::Scheduler<double> scheduler(sgd, cyclic);
  scheduler.set_position(2);
  require_error_mentioning([&] { scheduler.set_position(-3); }, {"-3"});
  CHECK(scheduler.position() == 2);   // a failed jump leaves the position where it was
  CHECK(sgd.learning_rate() == 0.5);  // eta_2 = 2/4
}

TEST_CASE("SGD on a large parameter: two product threads update exactly as one, and as the formula",
          "[optim][sgd][threads]") {
  // 50 x 3072, as the two-layer net's W1: above the size from which the update is split over the threads.
  tapegrad::Generator generator(5);
  const auto random = [&generator](Eigen::Index rows, Eigen::Index cols) {
    Matrix<double> m(rows, cols);
    for (Eigen::Index j = 0; j < cols; ++j)
      for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = generator.normal();
    return m;
  };
  const Matrix<double> start = random(50, 3072);
  const std::vector<Matrix<double>> gradients = {random(50, 3072), random(50, 3072), random(50, 3072)};
  const optim::SGDOptions options{.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01};
  const auto train = [&](int threads) {
    tapegrad::set_product_threads(threads);
    Tensor<double> w = Tensor<double>::from(start, true);
    optim::SGD<double> sgd({w}, options);
    for (const Matrix<double>& g : gradients) {
      w.mutable_grad() = g;
      sgd.step();
    }
    tapegrad::set_product_threads(1);
    return Matrix<double>(w.value());
  };
  // The same rule by hand: d = g + wd w; b = d, then 0.9 b + d; w -= 0.1 (d + 0.9 b).
  Matrix<double> w = start, b;
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    const Matrix<double> d = gradients[t] + 0.01 * w;
    b = t == 0 ? d : Matrix<double>(0.9 * b + d);
    w -= 0.1 * (d + 0.9 * b);
  }
  const Matrix<double> one = train(1), two = train(2);
  CHECK(one == two);
  CHECK((one - w).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((one - start).cwiseAbs().minCoeff() > 0.0);
}
