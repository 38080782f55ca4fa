// Every optimizer and schedule of tapegrad, for code that wants them all.
#pragma once

#include <tapegrad/optim/adam.h>
#include <tapegrad/optim/optimizer.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>
