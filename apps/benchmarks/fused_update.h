// A prototype of issue 18's fused update, measured before it becomes a library feature: the two-layer step written
// by hand on tapegrad::gemm, once with the unfused update the library does today (dW = (1/n) G X^T by a product,
// then a pass adding the L2 term 2 lambda W, then a pass W -= eta dW), once fused (W = (1 - 2 eta lambda) W -
// (eta / n) G X^T as one product with alpha and beta, no pass over W). Everything else in the two steps is the same
// code, so the difference between their times is what the fusion saves.
#pragma once

#include <memory>

#include "apps/benchmarks/workloads.h"

namespace tapegrad::apps {

// "manual" (fused = false) or "manual-fused": the two-layer network only.
template <typename T>
std::unique_ptr<TrainingImplementation<T>> make_manual_two_layer(const BenchmarkProblem& problem, bool fused);

}  // namespace tapegrad::apps
