// The whole of tapegrad::nn for code that wants it all: modules, initialisation, losses, evaluation.
#pragma once

#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/evaluation.h>
#include <tapegrad/nn/init.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/loss.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/nn/sequential.h>
// Module state, normalisation layers, safetensors.
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/dropout.h>
#include <tapegrad/nn/safetensors.h>
#include <tapegrad/nn/state_dict.h>
