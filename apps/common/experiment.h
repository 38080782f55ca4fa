// One training run, end to end: build the model, train it with the chosen schedule and gradient path, and leave
// a complete run directory (config.json, metrics.csv, summary.json, plots, checkpoint). Every app's presets are
// lists of these runs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "apps/common/bounds.h"
#include "apps/common/classifier.h"
#include "apps/common/datasets.h"
#include "apps/common/run_dir.h"
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/train/loop.h>

namespace tapegrad::apps {

enum class ModelKind { linear, two_layer };
enum class ScheduleKind { constant, step_decay, cyclic };

const char* to_string(ModelKind kind);
const char* to_string(ScheduleKind kind);

struct ExperimentSettings {
  std::string name = "run";
  ModelKind model = ModelKind::linear;
  LossKind loss = LossKind::cross_entropy;
  int hidden = 50;          // two-layer only
  double init_std = 0.01;   // linear models: W and b from N(0, init_std^2)
  double eta = 0.001;       // constant and step-decay schedules
  double lambda = 0;
  int batch_size = 100;
  int epochs = 40;          // used when total_steps is 0
  long total_steps = 0;     // when > 0, the number of update steps (the cyclic schedule sets it from cycles)
  GradientPath path = GradientPath::tape;
  ScheduleKind schedule = ScheduleKind::constant;
  double decay_factor = 10;  // step decay: eta divided by this ...
  int decay_every_epochs = 10;  // ... every this many epochs
  double eta_min = 1e-5;    // cyclic
  double eta_max = 1e-1;
  long n_s = 500;
  int cycles = 1;
  double flip_probability = 0;
  bool shuffle = true;
  // false trains without biases: every bias is set to 0 and left out of the optimizer, so it stays 0 (a model
  // without the constant input). The weights start exactly as they would with biases.
  bool use_bias = true;
  long evaluate_every_steps = 0;  // 0: at the end of every epoch
  bool evaluate_at_start = true;
  int patience = 0;         // early stopping on the validation loss, in evaluations (0: off)
  bool use_double = false;
  std::uint64_t seed = 42;
  int threads = 1;
  bool plot_templates = true;
  bool plot_histogram = false;
  bool show_progress = true;
  bool save_checkpoint = true;

  long steps_per_epoch(long training_examples) const;
  long planned_steps(long training_examples) const;
  // Throws UsageError naming the first setting out of range.
  void validate() const;
  nlohmann::json to_json() const;
};

// The flags of an app that decide what an ExperimentSettings' run will allocate, with their values, for the
// messages of check_bounds; an app without such a flag leaves the list empty.
struct ExperimentFlags {
  FlagValues steps;        // the update steps, e.g. --epochs 40 --batch-size 100, or --n-s 500 --cycles 1
  FlagValues evaluations;  // the evaluation points, e.g. --epochs 40, or --cycles 1 --eval-per-cycle 10
  FlagValues model;        // the model's size, e.g. --hidden 50
};

// Refuses (UsageError, exit 2, naming the flags) settings whose update steps, evaluation points or memory cannot
// fit, for a training set of at most `max_training_examples` images of `features` values in `classes` classes,
// with `runs_at_once` such runs side by side (a sweep's workers). Everything in overflow-safe arithmetic, before
// anything is allocated.
void check_bounds(const ExperimentSettings& settings, long max_training_examples, long features, long classes,
                  const ExperimentFlags& flags, long runs_at_once = 1);

struct ExperimentData {
  const data::ImageDataset* train = nullptr;
  const data::ImageDataset* validation = nullptr;
  const data::ImageDataset* test = nullptr;
  data::Normalizer normalizer;
  std::string description;  // where the data came from, said plainly in config.json and the summary
};

// The three splits of `splits` (which must outlive the result) with the normaliser to apply to them.
ExperimentData experiment_data(const ImageSplits& splits, data::Normalizer normalizer);

struct ExperimentResult {
  ExperimentSettings settings;
  train::Evaluation train;
  train::Evaluation validation;
  train::Evaluation test;
  train::Outcome outcome;
  nlohmann::json summary;
  std::filesystem::path directory;
  std::vector<double> weight_norms;  // the L2 norm of each weight matrix at the end
};

// Runs one experiment into `directory`. A diverging run keeps what it wrote (metrics so far, the last good
// checkpoint, a summary saying what happened) and then throws Error naming the step; a stop request (Ctrl-C)
// saves the checkpoint after the step under way and throws Interrupted.
ExperimentResult run_experiment(const ExperimentSettings& settings, const ExperimentData& data,
                                const RunDirectory& directory);

// Resume mode (--resume DIR), for the whole process. When it is on, run_experiment first looks at what its
// directory holds: a finished run (summary.json says completed or early_stopped) is read back instead of trained
// again; a run with a checkpoint continues from it and ends exactly as the uninterrupted run would have (on one
// thread: the same bytes); anything else starts afresh. The directory's settings must be this run's.
// It is also on in a shard (--shard), which continues what its own trials left.
void set_resume_mode(bool on);
bool resume_mode();

}  // namespace tapegrad::apps
