// The gradcheck preset of cifar_softmax.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

#include "apps/common/datasets.h"

namespace tapegrad::apps::cifar_softmax {

// Prints the largest relative errors of tape vs reference vs numerical gradients for W and b, on small slices
// (d = 10 or 20, n = 1 to 3, lambda 0 and 0.1) and on a full batch (d = all features, n = 100), for both losses;
// returns them as JSON.
nlohmann::json run_gradcheck(const ImageSplits& splits, std::uint64_t seed);

}  // namespace tapegrad::apps::cifar_softmax
