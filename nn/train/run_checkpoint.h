// A run checkpoint: what a training run needs to continue bit for bit, gathered from (and put back into) the
// module, the optimizer and the batch loader. The file format is checkpoint.h's; this fixes what goes in it:
//
//   module_state             capture_module_state(module): the tensors of checkpointed_tensors()
//   optimizer_state          optimizer.state(), and optimizer_step_count = optimizer.step_count()
//   step, scheduler_step     the update steps done (a schedule is a function of the step)
//   epoch                    the whole epochs done (step / steps per epoch, rounded down)
//   generators["loader"]     BatchLoaderState::generator (the generator as the loader's current epoch began)
//   metadata["loader.epochs_started"], ["loader.in_epoch"] ("0"/"1"), ["loader.position"]: the rest of it
//   generators[name]         each generator of the caller's RunGenerators (Dropout's), as it is at `step`
//
// The loader's generator is saved as its epoch began because the loader replays the epoch's order up to its
// position; the caller's generators are drawn from at every forward pass, so they are saved as they are at the
// checkpoint's step (evaluations run in eval() mode and draw nothing).
//
// The training loop (loop.h) passes LoopOptions::generators as the RunGenerators, adds metadata["train.rows"] (its
// evaluations so far, encode_metrics_rows) and ["train.best_step"], and saves the best evaluation's module state
// as a checkpoint of its own (module_state, step and the caller's checkpoint_metadata) at
// LoopOptions::best_state_path, by default default_best_state_path(path).
#pragma once

#include <map>
#include <string>

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/data/batch_loader.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/optim/optimizer.h>

namespace tapegrad::train {

// The generators a run draws from besides its loader's (the one Dropout layers draw their masks from), by a name
// of the caller's choice; each name non-empty and not "loader", each pointer not null.
using RunGenerators = std::map<std::string, Generator*>;

// Throws Error naming the entry of `generators` that breaks the rule above, and what to do.
void check_run_generators(const RunGenerators& generators);

// The run's state after `step` update steps.
template <typename T>
Checkpoint<T> capture_run(const nn::Module<T>& module, const optim::Optimizer<T>& optimizer,
                          const data::BatchLoader<T>& loader, long step, double epoch,
                          const RunGenerators& generators = {});

// Puts the state of `checkpoint` back into module, optimizer, loader and generators and returns its step. An Error
// names the file and what does not fit (see restore_module_state, Optimizer::load_state, BatchLoader::set_state);
// the checkpoint's generators besides "loader" must be exactly `generators` by name, checked before anything is
// restored (a missing or an unexpected one would continue with other random draws).
template <typename T>
long restore_run(const Checkpoint<T>& checkpoint, nn::Module<T>& module, optim::Optimizer<T>& optimizer,
                 data::BatchLoader<T>& loader, const RunGenerators& generators = {});

// "<path>.best": where a loop saving run checkpoints to `path` keeps early stopping's best module state unless
// LoopOptions::best_state_path names another file.
std::filesystem::path default_best_state_path(const std::filesystem::path& path);

}  // namespace tapegrad::train
