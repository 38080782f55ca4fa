// Every op of tapegrad, for code that wants them all.
#pragma once

#include "activation.h"
#include "elementwise.h"
#include "indexing.h"
#include "linalg.h"
#include "loss.h"
#include "reduction.h"
#include "registry.h"
#include "softmax.h"
