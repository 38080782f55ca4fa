// The training loop any Module can use: mini-batch steps from a BatchLoader, an optional learning-rate schedule,
// evaluation at chosen steps, early stopping on the validation loss (keeping the best weights), run checkpoints
// with exact resume, metrics.csv, stopping on NaN/Inf, a stop request (Ctrl-C) and progress.
//
//   train::Loop<float> loop(model, optimizer, loader, loss,
//                           {.total_steps = 2000, .patience = 5, .metrics_path = "runs/mlp/metrics.csv"});
//   loop.set_schedule(schedule).set_evaluation_data(train_set, validation_set);
//   loop.callbacks().on_evaluation = [](const train::MetricsRow& row) { ... };
//   const train::Outcome outcome = loop.run();
//
// A step draws the next batch (a new epoch begins, reshuffled, when one ends), sets the schedule's rate for the
// step, computes the gradients (by default: zero them, forward, loss, backward; or the caller's GradientStep), and
// updates through the optimizer. Evaluations run without recording and with the module in eval() mode; the
// module's own mode is put back afterwards.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/nn/train/evaluate.h>
#include <tapegrad/nn/train/metrics.h>
#include <tapegrad/nn/train/progress.h>
#include <tapegrad/nn/train/run_checkpoint.h>
#include <tapegrad/optim/optimizer.h>
#include <tapegrad/optim/schedule.h>

namespace tapegrad::train {

// The loss of one batch: the model's outputs and the batch's labels -> a 1 x 1 tensor, the cost that training
// minimises (the data loss plus any penalty the caller adds, e.g. nn::l2_penalty).
template <typename T>
using LossFunction = std::function<Tensor<T>(const Tensor<T>& outputs, std::span<const int> labels)>;

// What one step's gradient computation reports: the batch's loss and cost (loss + penalty).
struct StepLoss {
  double loss = 0;
  double cost = 0;
};

// A replacement for the default gradient computation of a step: it must leave d cost / d parameter in the
// gradient of every parameter the optimizer updates (replacing what was there) and return the batch's loss and
// cost. The batch is lent, writable, so that a step may swap its storage (it is overwritten by the next batch).
template <typename T>
using GradientStep = std::function<StepLoss(data::Batch<T>& batch)>;

// Measures the model on a whole data set (the training evaluation or the validation set).
using Evaluator = std::function<Evaluation(const data::ImageDataset& dataset)>;

// Thrown by Loop::resume_from for a checkpoint saved by another run: an entry of LoopOptions::checkpoint_metadata
// is missing from it or differs. A type of its own so that an application can report it as a usage error (the
// wrong run directory or settings) rather than as a damaged file.
class ForeignCheckpoint : public Error {
 public:
  // (Parameters named apart from the members they set: a user's -Wshadow stays quiet on this header.)
  ForeignCheckpoint(const std::string& message, std::string entry, std::optional<std::string> in_checkpoint,
                    std::string in_run)
      : Error(message), key(std::move(entry)), saved(std::move(in_checkpoint)), expected(std::move(in_run)) {}

  std::string key;                   // the entry that differs
  std::optional<std::string> saved;  // its value in the checkpoint (none: the checkpoint lacks it)
  std::string expected;              // this run's value
};

struct LoopOptions {
  long total_steps = 0;  // >= 0: update steps of the whole run
  // Steps after which to evaluate (0: before the first update), ascending, each in [0, total_steps]. When empty,
  // they follow from the two settings below (see evaluation_steps()).
  std::vector<long> evaluation_steps = {};
  long evaluate_every_steps = 0;  // >= 0; 0: once per epoch (the loader's batches per epoch)
  bool evaluate_at_start = true;
  // Early stopping: stop when the validation loss has not improved for this many evaluations in a row (0: off),
  // then put back the module state of the best evaluation.
  int patience = 0;
  int evaluation_chunk = 2000;  // >= 1: examples per evaluation pass of the default evaluator
  // A run checkpoint is saved here after every evaluation, at a stop request and at the end (empty: none); with
  // early stopping, the best evaluation's module state goes to best_state_path.
  std::filesystem::path checkpoint_path = {};
  // Where early stopping's best module state is saved (empty: default_best_state_path(checkpoint_path), see
  // run_checkpoint.h). Ignored when checkpoint_path is empty: a run without checkpoints saves no best state.
  std::filesystem::path best_state_path = {};
  // Entries written into every checkpoint's metadata (e.g. the run's settings as JSON); resume_from refuses a
  // checkpoint whose entries differ (ForeignCheckpoint), so that a run never continues another run's state. Keys
  // beginning "train." or "loader." are the loop's and the loader's own, and refused.
  std::map<std::string, std::string> checkpoint_metadata = {};
  // The generators the run draws from besides the loader's own, by a name of your choice (not "loader"): the one
  // your Dropout layers draw their masks from, e.g. {{"dropout", &generator}}. Each must outlive the loop. Every
  // checkpoint saves them as they are at its step and resume_from restores them, so that a resumed run draws what
  // the uninterrupted run would have; resume_from refuses a checkpoint that lacks one of them or holds another.
  // With checkpoint_path set, the loop refuses to start while a layer of the module draws from a generator not
  // listed here (nn::Module::own_generators()).
  RunGenerators generators = {};
  // metrics.csv (metrics_columns(); empty: none). run(start) writes it afresh with start.rows, then appends a row
  // at every evaluation before that evaluation's checkpoint, so that the row is kept when the checkpoint cannot be
  // written. A resumed run's file therefore ends as the uninterrupted run's, whatever the file held before.
  std::filesystem::path metrics_path = {};
  // A progress report of the run's steps (ProgressReporter, with "cost ..." as its status); none when unset.
  std::optional<ProgressOptions> progress = {};
  // The end of the message when training diverges, e.g. an app's flag for the rate.
  std::string divergence_advice = "try a smaller learning rate";

  // Throws tapegrad::Error naming the bad option.
  void validate() const;
};

// Evaluation steps: every `every` steps up to `total_steps` (and total_steps itself), with 0 first when asked.
std::vector<long> evaluation_steps(long total_steps, long every, bool include_start);

struct StepProgress {
  long step = 0;         // update steps done, this one included
  long total_steps = 0;
  double epoch = 0;
  double learning_rate = 0;  // the rate this step used
  double loss = 0;
  double cost = 0;
};

struct Callbacks {
  // After every update.
  std::function<void(const StepProgress&)> on_step;
  // After every evaluation (after on_new_best for the same step), before the loop's own checkpoint, so that what
  // the caller records of it (a metrics file's row) is kept even when the checkpoint cannot be written.
  std::function<void(const MetricsRow&)> on_evaluation;
  // With early stopping: an evaluation has just set a new best validation loss; the module holds its state.
  std::function<void(long step)> on_new_best;
  // Polled before every step; true ends training cleanly after the step under way (Ctrl-C).
  std::function<bool()> stop_requested;
};

// Where a run begins. A fresh run starts at step 0 with nothing behind it; a resumed run starts at its
// checkpoint's step with the evaluations it already made and (with early stopping) the module state of the best
// of them, so that it goes on exactly as the uninterrupted run would have.
template <typename T>
struct Start {
  long step = 0;
  std::vector<MetricsRow> rows;       // evaluations already made, in order, none after `step`
  std::vector<Matrix<T>> best_state;  // the best evaluation's values of checkpointed_tensors() (patience > 0)
  long best_step = -1;                // the step that state is from; must be the best of `rows`
  // What the error says to do when the saved best state is not that of the best evaluation.
  std::string restart_advice = "start the run again from its beginning";
};

struct Outcome {
  std::vector<MetricsRow> rows;  // every evaluation of the run, a resumed run's earlier ones included
  long steps = 0;                // update steps done
  double train_seconds = 0;      // time in update steps
  double evaluation_seconds = 0;
  bool early_stopped = false;
  long best_step = -1;  // with early stopping: the step whose module state was kept
  double stopped_epoch = 0;
  bool diverged = false;
  std::string divergence;  // what went wrong, at which step, and what to do
  bool interrupted = false;
};

template <typename T>
class Loop {
 public:
  // Every reference must outlive the loop. The options are validated here (an Error names the bad one).
  Loop(nn::Module<T>& module, optim::Optimizer<T>& optimizer, data::BatchLoader<T>& loader, LossFunction<T> loss,
       LoopOptions options);

  // The rate of every step from `schedule` (referenced, not copied); without one the optimizer's rate is kept.
  Loop& set_schedule(const optim::LearningRateSchedule& schedule);
  // The sets the evaluations measure: training metrics on `train` (usually the training set itself), early
  // stopping on `validation`. Both must outlive the loop. Without them no evaluation is made.
  Loop& set_evaluation_data(const data::ImageDataset& train, const data::ImageDataset& validation);
  // Replaces the default evaluator (evaluate_module with the loader's normaliser and the loss function).
  Loop& set_evaluator(Evaluator evaluator);
  // Replaces the default gradient computation of a step.
  Loop& set_gradient_step(GradientStep<T> step);
  // The part of the cost that is not data loss, for the default evaluator and step to report loss and cost
  // apart (e.g. [&] { return lambda * squared weights; }); without it, loss == cost.
  Loop& set_penalty(std::function<double()> penalty);
  Callbacks& callbacks() { return callbacks_; }

  // Measures the module on `dataset` as the evaluations do (the evaluator, else evaluate_module with the loss
  // function and the penalty), in eval() mode: e.g. the test set after run().
  Evaluation evaluate(const data::ImageDataset& dataset);
  // Trains from `start` to the end, an early stop, a divergence or a stop request.
  Outcome run(const Start<T>& start = {});
  // Restores module, optimizer, loader and LoopOptions::generators from the run checkpoint at `path` (and, with
  // early stopping, the best state from best_state_path, or "<path>.best" when that option is empty), as saved by
  // a loop with the same options, and returns where to continue: run(resume_from(path)). Throws ForeignCheckpoint
  // for a checkpoint of another run (its checkpoint_metadata differs), Error for a file that cannot be used or
  // whose generators are not LoopOptions::generators by name.
  Start<T> resume_from(const std::filesystem::path& path);

  const LoopOptions& options() const { return options_; }
  // The evaluation steps of this run (options().evaluation_steps or those that follow from the settings), listed
  // in full: for inspection. The run itself never lists them; it asks for the next one (next_evaluation_after).
  std::vector<long> planned_evaluations() const;
  // The first evaluation step of the plan after `step` (-1 for the step before the start), or -1 when none is
  // left. Computed, not looked up in a list, so a plan of 10^10 steps costs nothing until it runs.
  long next_evaluation_after(long step) const;
  long steps_per_epoch() const;

 private:
  struct RunState;  // one run's progress: its outcome so far, early stopping's best, the next evaluation

  // The file of early stopping's best state for run checkpoints at `checkpoint`: the best_state_path option when
  // set (whatever `checkpoint` is), else default_best_state_path(checkpoint).
  // Writes the module's state as the best evaluation's (at `step`) to best_state_file, when checkpoints are saved.
  void save_best_state(long step);
  std::filesystem::path best_state_file(const std::filesystem::path& checkpoint) const;

  // With run checkpoints: an Error naming the first module that draws from a generator options_.generators lacks.
  void check_generators_saved() const;
  StepLoss default_step(data::Batch<T>& batch);
  Evaluation default_evaluation(const data::ImageDataset& dataset);
  // The steps of run(), each on the state of the run under way.
  void check_start(const Start<T>& start) const;
  void replay_early_stopping(RunState& run, const Start<T>& start);
  bool note_validation(RunState& run, const MetricsRow& row);
  void save_run_checkpoint(const RunState& run, long step);
  void evaluate_at(RunState& run, long step);
  bool train_one_step(RunState& run, long& step, const std::vector<nn::NamedParameter<T>>& parameters);
  void finish(RunState& run, long step);

  nn::Module<T>& module_;
  optim::Optimizer<T>& optimizer_;
  data::BatchLoader<T>& loader_;
  LossFunction<T> loss_;
  LoopOptions options_;
  long evaluate_every_ = 1;  // without an explicit list: every this many steps (and at the end)
  const optim::LearningRateSchedule* schedule_ = nullptr;
  const data::ImageDataset* train_evaluation_ = nullptr;
  const data::ImageDataset* validation_ = nullptr;
  Evaluator evaluator_;
  GradientStep<T> gradient_step_;
  std::function<double()> penalty_;
  Callbacks callbacks_;
  // The default step's input leaf: the batch's storage is swapped in for the step and back, never copied.
  Tensor<T> input_ = Tensor<T>::from(Matrix<T>());
};

extern template class Loop<float>;
extern template class Loop<double>;

}  // namespace tapegrad::train
