// Class predictions from scores, and accuracy.
#pragma once

#include <span>
#include <vector>

#include <tapegrad/nn/reference/types.h>

namespace tapegrad::reference {

// The row of the largest entry of each column (the first one on ties). Softmax and sigmoid are increasing, so
// scores and probabilities give the same predictions.
template <typename T>
std::vector<int> predict_classes(const Matrix<T>& scores);

// The fraction of predictions equal to their labels; both must have the same, non-zero length.
double accuracy(std::span<const int> predictions, std::span<const int> labels);

}  // namespace tapegrad::reference
