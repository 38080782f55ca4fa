// The whole of tapegrad::train: the training loop, its evaluation and metrics, run checkpoints, run directories,
// hyperparameter searches, model files (with their normaliser), resource checks and the build record.
#pragma once

#include <tapegrad/nn/train/build_record.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/train/csv.h>
#include <tapegrad/nn/train/curves.h>
#include <tapegrad/nn/train/directory_run.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/nn/train/loop.h>
#include <tapegrad/nn/train/metrics.h>
#include <tapegrad/nn/train/model_file.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/resources.h>
#include <tapegrad/nn/train/run_checkpoint.h>
#include <tapegrad/nn/train/run_directory.h>
#include <tapegrad/nn/train/search.h>
#include <tapegrad/nn/train/stop_signal.h>
#include <tapegrad/nn/train/timing.h>
#include <tapegrad/nn/train/trials.h>
