// The whole public library in one include: tensors and the tape, every op, modules and layers, data sets and the
// batch loader, optimizers and schedules, the training loop and run checkpoints. (The hand-derived reference
// gradients, nn/reference, are the tests' oracle and are included on their own: <tapegrad/nn/reference/...>.)
#pragma once

#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/core/gradcheck.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/data/data.h>
#include <tapegrad/nn/nn.h>
#include <tapegrad/nn/train/train.h>
#include <tapegrad/ops/ops.h>
#include <tapegrad/optim/optim.h>
