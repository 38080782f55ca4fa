#include <tapegrad/nn/dropout.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>
#include <tapegrad/ops/normalization.h>

namespace tapegrad::nn {

template <typename T>
Dropout<T>::Dropout(double p, Generator& generator) : p_(p), generator_(&generator) {
  if (!(p >= 0.0 && p < 1.0)) {
    throw_error(fmt::format("Dropout: the drop probability p = {} must be in [0, 1) (p = 1 would drop everything)",
                            p));
  }
}

template <typename T>
Tensor<T> Dropout<T>::forward(const Tensor<T>& input) {
  if (!this->is_training()) return input;
  return dropout(input, p_, *generator_);
}

template <typename T>
std::string Dropout<T>::type_name() const {
  return fmt::format("Dropout(p={})", p_);
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace tapegrad::nn
