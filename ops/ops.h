// Every op of tapegrad, for code that wants them all.
#pragma once

#include <tapegrad/ops/activation.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/indexing.h>
#include <tapegrad/ops/linalg.h>
#include <tapegrad/ops/loss.h>
#include <tapegrad/ops/normalization.h>
#include <tapegrad/ops/reduction.h>
#include <tapegrad/ops/registry.h>
#include <tapegrad/ops/softmax.h>
