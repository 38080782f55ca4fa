#include <tapegrad/nn/train/run_checkpoint.h>

#include <fmt/format.h>

#include <stdexcept>
#include <string>

#include <tapegrad/core/error.h>

namespace tapegrad::train {

template <typename T>
Checkpoint<T> capture_run(const nn::Module<T>& module, const optim::Optimizer<T>& optimizer,
                          const data::BatchLoader<T>& loader, long step, double epoch) {
  Checkpoint<T> checkpoint;
  checkpoint.module_state = capture_module_state(module);
  checkpoint.optimizer_state = optimizer.state();
  checkpoint.optimizer_step_count = optimizer.step_count();
  checkpoint.scheduler_step = step;
  checkpoint.step = step;
  checkpoint.epoch = static_cast<std::int64_t>(epoch);
  const data::BatchLoaderState loader_state = loader.state();
  checkpoint.generators["loader"] = loader_state.generator;
  checkpoint.metadata["loader.epochs_started"] = std::to_string(loader_state.epochs_started);
  checkpoint.metadata["loader.in_epoch"] = std::to_string(loader_state.in_epoch ? 1 : 0);
  checkpoint.metadata["loader.position"] = std::to_string(loader_state.position);
  return checkpoint;
}

template <typename T>
long restore_run(const Checkpoint<T>& checkpoint, nn::Module<T>& module, optim::Optimizer<T>& optimizer,
                 data::BatchLoader<T>& loader) {
  data::BatchLoaderState loader_state;
  loader_state.generator = checkpoint.generator("loader");
  try {
    loader_state.epochs_started = std::stoll(checkpoint.metadata_value("loader.epochs_started"));
    loader_state.in_epoch = checkpoint.metadata_value("loader.in_epoch") == "1";
    loader_state.position = std::stoi(checkpoint.metadata_value("loader.position"));
  } catch (const std::logic_error&) {
    throw_error(fmt::format("cannot resume from '{}': its loader position is not a number; the checkpoint is "
                            "damaged, use an earlier one",
                            checkpoint.source.string()));
  }
  restore_module_state(module, checkpoint);
  optimizer.load_state(checkpoint.optimizer_state, static_cast<long>(checkpoint.optimizer_step_count));
  loader.set_state(loader_state);
  return static_cast<long>(checkpoint.step);
}

std::filesystem::path default_best_state_path(const std::filesystem::path& path) {
  std::filesystem::path best = path;
  best += ".best";
  return best;
}

#define TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(T)                                                                 \
  template Checkpoint<T> capture_run(const nn::Module<T>&, const optim::Optimizer<T>&,                         \
                                     const data::BatchLoader<T>&, long, double);                               \
  template long restore_run(const Checkpoint<T>&, nn::Module<T>&, optim::Optimizer<T>&, data::BatchLoader<T>&);

TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(float)
TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(double)

}  // namespace tapegrad::train
