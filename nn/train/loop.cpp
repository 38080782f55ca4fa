#include <tapegrad/nn/train/loop.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/train/csv.h>
#include <tapegrad/nn/train/run_checkpoint.h>

namespace tapegrad::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The name of a parameter holding NaN or Inf, or nothing.
template <typename T>
std::optional<std::string> non_finite_parameter(const std::vector<nn::NamedParameter<T>>& parameters) {
  for (const auto& named : parameters)
    if (!named.tensor.value().allFinite()) return named.name;
  return std::nullopt;
}

template <typename T>
std::vector<Matrix<T>> current_state(const nn::Module<T>& module) {
  std::vector<Matrix<T>> values;
  for (const auto& named : checkpointed_tensors(module)) values.push_back(named.tensor.value());
  return values;
}

constexpr const char* kRowsKey = "train.rows";
constexpr const char* kBestStepKey = "train.best_step";

}  // namespace

void LoopOptions::validate() const {
  if (total_steps < 0) {
    throw_error(fmt::format("LoopOptions: total_steps is {}; it must be >= 0 (the update steps of the run)",
                            total_steps));
  }
  if (evaluate_every_steps < 0) {
    throw_error(fmt::format("LoopOptions: evaluate_every_steps is {}; it must be >= 0 (0: once per epoch)",
                            evaluate_every_steps));
  }
  if (patience < 0) {
    throw_error(fmt::format("LoopOptions: patience is {}; it must be >= 0 (0 turns early stopping off)", patience));
  }
  if (evaluation_chunk < 1) {
    throw_error(fmt::format("LoopOptions: evaluation_chunk is {}; it must be at least 1", evaluation_chunk));
  }
  for (std::size_t i = 0; i < evaluation_steps.size(); ++i) {
    const long step = evaluation_steps[i];
    if (step < 0 || step > total_steps) {
      throw_error(fmt::format("LoopOptions: evaluation_steps[{}] is {}; every evaluation step must lie in [0, {}] "
                              "(total_steps)",
                              i, step, total_steps));
    }
    if (i > 0 && step <= evaluation_steps[i - 1]) {
      throw_error(fmt::format("LoopOptions: evaluation_steps[{}] is {} after {}; list the steps in ascending order, "
                              "each once",
                              i, step, evaluation_steps[i - 1]));
    }
  }
  for (const auto& entry : checkpoint_metadata) {
    const std::string_view key = entry.first;
    if (key.starts_with("train.") || key.starts_with("loader.")) {
      throw_error(fmt::format("LoopOptions: checkpoint_metadata key '{}' begins with \"{}\", which the loop and "
                              "the loader keep for their own entries; choose a key without that prefix",
                              key, key.substr(0, key.find('.') + 1)));
    }
  }
  check_run_generators(generators);
}

std::vector<long> evaluation_steps(long total_steps, long every, bool include_start) {
  std::vector<long> steps;
  if (include_start) steps.push_back(0);
  if (every <= 0) every = total_steps;
  for (long t = every; t < total_steps; t += every) steps.push_back(t);
  if (total_steps > 0 && (steps.empty() || steps.back() != total_steps)) steps.push_back(total_steps);
  return steps;
}

template <typename T>
Loop<T>::Loop(nn::Module<T>& module, optim::Optimizer<T>& optimizer, data::BatchLoader<T>& loader,
              LossFunction<T> loss, LoopOptions options)
    : module_(module), optimizer_(optimizer), loader_(loader), loss_(std::move(loss)), options_(std::move(options)) {
  options_.validate();
  if (!loss_) {
    throw_error("train::Loop: the loss function is empty; give a function of (outputs, labels) returning the 1 x 1 "
                "cost");
  }
  evaluate_every_ = options_.evaluate_every_steps > 0 ? options_.evaluate_every_steps : steps_per_epoch();
  check_generators_saved();
}

template <typename T>
void Loop<T>::check_generators_saved() const {
  if (options_.checkpoint_path.empty()) return;  // nothing to resume
  const auto listed = [&](const Generator* generator) {
    return std::any_of(options_.generators.begin(), options_.generators.end(),
                       [&](const auto& entry) { return entry.second == generator; });
  };
  std::vector<nn::NamedModule<T>> modules = module_.named_modules();
  modules.insert(modules.begin(), {"(this)", nullptr});  // the module itself, which has no name of its own
  for (const auto& [name, child] : modules) {
    const nn::Module<T>& layer = child ? *child : module_;
    for (const Generator* generator : layer.own_generators()) {
      if (listed(generator)) continue;
      throw_error(fmt::format(
          "train::Loop: module '{}' ({}) draws from a generator that LoopOptions::generators does not list, so a "
          "run resumed from checkpoint_path would draw other random numbers than the uninterrupted run; add that "
          "generator under a name of your choice, e.g. .generators = {{{{\"dropout\", &generator}}}}",
          name, layer.type_name()));
    }
  }
}

template <typename T>
std::vector<long> Loop<T>::planned_evaluations() const {
  if (!options_.evaluation_steps.empty()) return options_.evaluation_steps;
  return evaluation_steps(options_.total_steps, evaluate_every_, options_.evaluate_at_start);
}

template <typename T>
long Loop<T>::next_evaluation_after(long step) const {
  const auto& listed = options_.evaluation_steps;
  if (!listed.empty()) {
    const auto next = std::upper_bound(listed.begin(), listed.end(), step);
    return next == listed.end() ? -1 : *next;
  }
  // The steps of evaluation_steps(total, every, at_start), one at a time: 0 (when asked), every multiple of
  // `every` below the total, then the total itself.
  const long total = options_.total_steps;
  if (step < 0 && options_.evaluate_at_start) return 0;
  if (total <= 0 || step >= total) return -1;
  const long from = std::max(step, 0L);
  const long to_next_multiple = evaluate_every_ - from % evaluate_every_;  // in [1, every]: cannot overflow
  return to_next_multiple >= total - from ? total : from + to_next_multiple;
}

template <typename T>
long Loop<T>::steps_per_epoch() const {
  return std::max(1, loader_.batches_per_epoch());
}

template <typename T>
Loop<T>& Loop<T>::set_schedule(const optim::LearningRateSchedule& schedule) {
  schedule_ = &schedule;
  return *this;
}

template <typename T>
Loop<T>& Loop<T>::set_evaluation_data(const data::ImageDataset& train, const data::ImageDataset& validation) {
  train_evaluation_ = &train;
  validation_ = &validation;
  return *this;
}

template <typename T>
Loop<T>& Loop<T>::set_evaluator(Evaluator evaluator) {
  evaluator_ = std::move(evaluator);
  return *this;
}

template <typename T>
Loop<T>& Loop<T>::set_gradient_step(GradientStep<T> step) {
  gradient_step_ = std::move(step);
  return *this;
}

template <typename T>
Loop<T>& Loop<T>::set_penalty(std::function<double()> penalty) {
  penalty_ = std::move(penalty);
  return *this;
}

template <typename T>
StepLoss Loop<T>::default_step(data::Batch<T>& batch) {
  // The batch is lent to the input leaf for the step: Eigen swaps dynamic matrices by pointer, so nothing is
  // copied, and the loader gets its storage back (also when the step throws) to fill with the next batch.
  struct Lend {
    Matrix<T>& batch;
    Matrix<T>& leaf;
    Lend(Matrix<T>& b, Matrix<T>& l) : batch(b), leaf(l) { batch.swap(leaf); }
    ~Lend() { batch.swap(leaf); }
    Lend(const Lend&) = delete;
    Lend& operator=(const Lend&) = delete;
  } lend(batch.X, input_.mutable_value());
  module_.zero_grad();
  const Tensor<T> outputs = module_.forward(input_);
  const Tensor<T> cost = loss_(outputs, batch.labels);
  if (cost.rows() != 1 || cost.cols() != 1) {
    throw_error(fmt::format("train::Loop: the loss function gave a {} tensor; it must give the batch's cost as "
                            "1 x 1",
                            cost.shape_string()));
  }
  cost.backward();
  StepLoss result;
  result.cost = static_cast<double>(cost.item());
  result.loss = penalty_ ? result.cost - penalty_() : result.cost;
  return result;
}

template <typename T>
Evaluation Loop<T>::default_evaluation(const data::ImageDataset& dataset) {
  return evaluate_module<T>(module_, dataset, loader_.normalizer(), loss_, options_.evaluation_chunk, penalty_);
}

template <typename T>
Evaluation Loop<T>::evaluate(const data::ImageDataset& dataset) {
  const EvaluationModeGuard<T> mode(module_);  // whichever evaluator runs, layers such as Dropout are off
  return evaluator_ ? evaluator_(dataset) : default_evaluation(dataset);
}

template <typename T>
struct Loop<T>::RunState {
  Outcome outcome;
  double best_validation_loss = std::numeric_limits<double>::infinity();
  int evaluations_without_improvement = 0;
  std::vector<Matrix<T>> best_state;  // the module's values at the best evaluation (patience > 0)
  long next_evaluation = -1;          // the next step to evaluate at; -1 for none
  long steps_per_epoch = 1;
  std::optional<CsvAppender> metrics;          // with LoopOptions::metrics_path
  std::unique_ptr<ProgressReporter> progress;  // with LoopOptions::progress
  double epoch_of(long step) const { return static_cast<double>(step) / static_cast<double>(steps_per_epoch); }
};

template <typename T>
void Loop<T>::check_start(const Start<T>& start) const {
  if (start.step < 0) throw_error(fmt::format("train::Loop: a run cannot start at step {}", start.step));
  if (start.step > options_.total_steps) {
    throw_error(
        fmt::format("train::Loop: the run to continue is at step {}, past total_steps {}: give total_steps "
                    "of at least {} to go on from it, or start the run afresh",
                    start.step, options_.total_steps, start.step));
  }
  if (options_.patience > 0 && validation_ == nullptr) {
    throw_error("train::Loop: early stopping (patience > 0) watches the validation loss, but no validation set was "
                "given; call set_evaluation_data(train, validation)");
  }
}

// Early stopping's bookkeeping for one evaluation (patience > 0); true when it is a new best.
template <typename T>
bool Loop<T>::note_validation(RunState& run, const MetricsRow& row) {
  if (row.validation.loss < run.best_validation_loss) {
    run.best_validation_loss = row.validation.loss;
    run.evaluations_without_improvement = 0;
    run.outcome.best_step = row.step;
    return true;
  }
  if (++run.evaluations_without_improvement >= options_.patience) run.outcome.early_stopped = true;
  return false;
}

// Early stopping's state after the evaluations a resumed run made before: the same comparisons, replayed.
template <typename T>
void Loop<T>::replay_early_stopping(RunState& run, const Start<T>& start) {
  if (options_.patience <= 0) return;
  for (const MetricsRow& row : start.rows) note_validation(run, row);
  if (run.outcome.best_step < 0) return;
  if (start.best_state.size() != checkpointed_tensors(module_).size()) {
    throw_error(fmt::format("resuming at step {}: the weights of the best evaluation (step {}) are missing",
                            start.step, run.outcome.best_step));
  }
  if (start.best_step != run.outcome.best_step) {
    throw_error(fmt::format("resuming at step {}: the saved best weights are those of step {}, but the best "
                            "evaluation before that step is step {} (the run was stopped while saving them); {}",
                            start.step, start.best_step, run.outcome.best_step, start.restart_advice));
  }
  run.best_state = start.best_state;
}

template <typename T>
void Loop<T>::save_run_checkpoint(const RunState& run, long step) {
  if (options_.checkpoint_path.empty()) return;
  Checkpoint<T> checkpoint =
      capture_run(module_, optimizer_, loader_, step, run.epoch_of(step), options_.generators);
  checkpoint.metadata.insert(options_.checkpoint_metadata.begin(), options_.checkpoint_metadata.end());
  checkpoint.metadata[kRowsKey] = encode_metrics_rows(run.outcome.rows);
  checkpoint.metadata[kBestStepKey] = std::to_string(run.outcome.best_step);
  save_checkpoint(options_.checkpoint_path, checkpoint);
}

template <typename T>
void Loop<T>::evaluate_at(RunState& run, long step) {
  const auto evaluation_start = Clock::now();
  MetricsRow row;
  row.step = step;
  row.epoch = run.epoch_of(step);
  row.learning_rate = optimizer_.learning_rate();
  row.train = evaluate(*train_evaluation_);
  row.validation = evaluate(*validation_);
  run.outcome.evaluation_seconds += seconds_since(evaluation_start);
  run.outcome.rows.push_back(row);
  const bool new_best = options_.patience > 0 && note_validation(run, row);
  if (new_best) {
    run.best_state = current_state(module_);
    if (callbacks_.on_new_best) callbacks_.on_new_best(step);
  }
  if (run.metrics) run.metrics->append_row(metrics_cells(row));
  if (callbacks_.on_evaluation) callbacks_.on_evaluation(row);
  // The run checkpoint first: one killed before the best state's file is written holds the best state itself
  // (its best step is its own step), and resume_from takes it from there.
  save_run_checkpoint(run, step);
  if (new_best) save_best_state(step);
}

template <typename T>
void Loop<T>::save_best_state(long step) {
  if (options_.checkpoint_path.empty()) return;
  Checkpoint<T> best;
  best.module_state = capture_module_state(module_);
  best.step = step;
  best.metadata = options_.checkpoint_metadata;
  save_checkpoint(best_state_file(options_.checkpoint_path), best);
}

// One update step, then the evaluations due at it; false (with `step` the last good one) when the run ends here
// for a stop request or a divergence.
template <typename T>
bool Loop<T>::train_one_step(RunState& run, long& step, const std::vector<nn::NamedParameter<T>>& parameters) {
  Outcome& outcome = run.outcome;
  const auto epoch_of = [&](long at) { return run.epoch_of(at); };
  if (callbacks_.stop_requested && callbacks_.stop_requested()) {
    outcome.interrupted = true;
    return false;
  }
  if (schedule_ != nullptr) schedule_->apply(optimizer_, step);
  if (!loader_.next()) loader_.next();  // the end of an epoch: the next call starts (and reshuffles) the next one
  data::Batch<T>& batch = loader_.mutable_batch();  // lent to the step, not copied
  const StepLoss step_loss = gradient_step_ ? gradient_step_(batch) : default_step(batch);
  if (!std::isfinite(step_loss.cost)) {
    outcome.diverged = true;
    outcome.divergence = fmt::format(
        "training diverged at step {} (epoch {:.2f}): the cost became {} with learning rate {:g}; {}", step + 1,
        epoch_of(step + 1), std::isnan(step_loss.cost) ? "nan" : fmt::format("{}", step_loss.cost),
        optimizer_.learning_rate(), options_.divergence_advice);
    return false;
  }
  optimizer_.step();
  ++step;
  // The cost catches most divergence one step later, but a ReLU can hide a NaN weight from the loss for good.
  if (const auto bad = non_finite_parameter(parameters)) {
    outcome.diverged = true;
    outcome.divergence = fmt::format(
        "training diverged at step {} (epoch {:.2f}): the update made parameter '{}' NaN or Inf with learning "
        "rate {:g}; {}",
        step, epoch_of(step), *bad, optimizer_.learning_rate(), options_.divergence_advice);
    --step;  // that update is not part of the run: the last good state is the step before
    return false;
  }
  if (run.progress) {
    run.progress->set_status(fmt::format("cost {:.4f}", step_loss.cost));
    run.progress->advance();
  }
  if (callbacks_.on_step) {
    callbacks_.on_step({.step = step,
                        .total_steps = options_.total_steps,
                        .epoch = epoch_of(step),
                        .learning_rate = optimizer_.learning_rate(),
                        .loss = step_loss.loss,
                        .cost = step_loss.cost});
  }
  while (run.next_evaluation >= 0 && run.next_evaluation <= step) {
    if (run.next_evaluation == step) evaluate_at(run, step);
    run.next_evaluation = next_evaluation_after(run.next_evaluation);
  }
  return true;
}

// After the last step: the best weights back with early stopping, and the final checkpoint.
template <typename T>
void Loop<T>::finish(RunState& run, long step) {
  run.outcome.steps = step;
  run.outcome.stopped_epoch = run.epoch_of(step);
  if (run.outcome.early_stopped && !run.best_state.empty()) {
    NoGradGuard no_grad;
    const auto tensors = checkpointed_tensors(module_);
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].tensor.mutable_value() = run.best_state[i];
  }
  // A diverged run keeps the checkpoint of its last evaluation: the last good state.
  if (!run.outcome.diverged) save_run_checkpoint(run, step);
  if (run.progress) run.progress->finish();
  if (run.metrics) run.metrics->close();
}

template <typename T>
Outcome Loop<T>::run(const Start<T>& start) {
  check_start(start);
  RunState run;
  run.steps_per_epoch = steps_per_epoch();
  run.outcome.rows = start.rows;
  replay_early_stopping(run, start);
  if (!options_.metrics_path.empty()) {
    // Afresh from the start's rows: rows written after the checkpoint being resumed, or a damaged file, go.
    run.metrics = CsvAppender::create(options_.metrics_path, metrics_columns());
    for (const MetricsRow& row : start.rows) run.metrics->append_row(metrics_cells(row));
  }
  if (options_.progress) {
    const auto steps_left = static_cast<std::size_t>(options_.total_steps - start.step);
    run.progress = std::make_unique<ProgressReporter>(steps_left, *options_.progress);
  }
  // Evaluations still to make: a resumed run has made those up to its last row already.
  const bool can_evaluate = train_evaluation_ != nullptr && validation_ != nullptr;
  const long done_up_to = start.rows.empty() ? start.step - 1 : start.rows.back().step;
  run.next_evaluation = can_evaluate ? next_evaluation_after(std::max(start.step - 1, done_up_to)) : -1;

  // The rate of the first step in place, so that an evaluation before it reports it.
  if (schedule_ != nullptr) schedule_->apply(optimizer_, start.step);
  if (run.next_evaluation == start.step) {
    evaluate_at(run, start.step);
    run.next_evaluation = next_evaluation_after(start.step);
  }

  const auto train_start = Clock::now();
  const double evaluation_before = run.outcome.evaluation_seconds;
  const std::vector<nn::NamedParameter<T>> parameters = module_.named_parameters();
  long step = start.step;
  while (step < options_.total_steps && !run.outcome.early_stopped && train_one_step(run, step, parameters)) {
  }
  run.outcome.train_seconds =
      seconds_since(train_start) - (run.outcome.evaluation_seconds - evaluation_before);
  finish(run, step);
  return run.outcome;
}

template <typename T>
std::filesystem::path Loop<T>::best_state_file(const std::filesystem::path& checkpoint) const {
  return options_.best_state_path.empty() ? default_best_state_path(checkpoint) : options_.best_state_path;
}

template <typename T>
Start<T> Loop<T>::resume_from(const std::filesystem::path& path) {
  const Checkpoint<T> checkpoint = load_checkpoint<T>(path);
  for (const auto& [key, value] : options_.checkpoint_metadata) {
    const auto saved = checkpoint.metadata.find(key);
    if (saved == checkpoint.metadata.end() || saved->second != value) {
      const bool missing = saved == checkpoint.metadata.end();
      // Settings records can be long: enough of each to tell them apart.
      const auto shown = [](const std::string& text) {
        return text.size() <= 80 ? text : text.substr(0, 77) + "...";
      };
      throw ForeignCheckpoint(
          fmt::format(
              "cannot resume from '{}': it was saved by another run: its metadata '{}' is {} there but {} "
              "here; resume with the options it was saved with, or remove it (and its best state) to start "
              "afresh",
              path.string(), key, missing ? "missing" : shown(saved->second), shown(value)),
          key, missing ? std::nullopt : std::optional<std::string>(saved->second), value);
    }
  }
  Start<T> start;
  start.rows = decode_metrics_rows(checkpoint.metadata_value(kRowsKey));
  long saved_best_step = -1;
  try {
    saved_best_step = std::stol(checkpoint.metadata_value(kBestStepKey));
  } catch (const std::logic_error&) {
    throw_error(fmt::format("cannot resume from '{}': its best step is not a number; the checkpoint is damaged, "
                            "use an earlier one",
                            path.string()));
  }
  if (options_.patience > 0 && saved_best_step >= 0 && saved_best_step == static_cast<long>(checkpoint.step)) {
    // The best evaluation is the checkpoint's own: its file may not have been written yet (see evaluate_at).
    for (const auto& entry : checkpoint.module_state) start.best_state.push_back(entry.value);
    start.best_step = saved_best_step;
  } else if (options_.patience > 0 && saved_best_step >= 0) {
    const std::filesystem::path best_path = best_state_file(path);
    const Checkpoint<T> best = load_checkpoint<T>(best_path);
    const auto tensors = checkpointed_tensors(module_);
    bool fits = best.module_state.size() == tensors.size();
    for (std::size_t i = 0; fits && i < tensors.size(); ++i) {
      const auto& saved = best.module_state[i];
      fits = saved.name == tensors[i].name && saved.value.rows() == tensors[i].tensor.rows() &&
             saved.value.cols() == tensors[i].tensor.cols();
    }
    if (!fits) {
      throw_error(fmt::format("cannot resume from '{}': the best state in '{}' does not have the module's tensor "
                              "names and shapes; it was saved from a different model",
                              path.string(), best_path.string()));
    }
    for (const auto& entry : best.module_state) start.best_state.push_back(entry.value);
    start.best_step = static_cast<long>(best.step);
  }
  start.step = restore_run(checkpoint, module_, optimizer_, loader_, options_.generators);
  if (start.best_step == start.step && start.step >= 0 && options_.patience > 0) save_best_state(start.step);
  return start;
}

template class Loop<float>;
template class Loop<double>;

}  // namespace tapegrad::train
