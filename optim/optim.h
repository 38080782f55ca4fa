// Every optimizer and schedule of tapegrad, for code that wants them all.
#pragma once

#include "adam.h"
#include "optimizer.h"
#include "schedule.h"
#include "sgd.h"
