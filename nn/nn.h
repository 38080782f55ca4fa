// The whole of tapegrad::nn for code that wants it all: modules, initialisation, losses, evaluation, checkpoints.
#pragma once

#include "activation.h"
#include "checkpoint.h"
#include "evaluation.h"
#include "init.h"
#include "linear.h"
#include "loss.h"
#include "module.h"
#include "sequential.h"
