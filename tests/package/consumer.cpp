// Fits y = 3x - 1 with the installed library and prints the learnt slope and intercept.
#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/ops.h>

#include <cstdio>

int main() {
  using namespace tapegrad;
  Generator generator(1);
  Tensor<double> x = Tensor<double>::uniform(1, 64, generator, -1.0, 1.0);
  Tensor<double> y(x.value().array() * 3.0 - 1.0);
  Tensor<double> w = Tensor<double>::zeros(1, 1, true);
  Tensor<double> b = Tensor<double>::zeros(1, 1, true);
  for (int step = 0; step < 500; ++step) {
    Tensor<double> loss = mean(square(linear(w, x, b) - y));
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    w.mutable_value() -= 0.3 * w.grad();
    b.mutable_value() -= 0.3 * b.grad();
  }
  std::printf("slope %.6f intercept %.6f\n", w.item(), b.item());
  return (std::abs(w.item() - 3.0) < 1e-4 && std::abs(b.item() + 1.0) < 1e-4) ? 0 : 1;
}
