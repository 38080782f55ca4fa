#include <tapegrad/nn/train/run_checkpoint.h>

#include <fmt/format.h>

#include <stdexcept>
#include <string>

#include <tapegrad/core/error.h>

namespace tapegrad::train {
namespace {

constexpr const char* kLoaderGenerator = "loader";

// The caller's generators that `checkpoint` holds, for a message: "'dropout', 'noise'" or "none".
template <typename T>
std::string saved_generator_names(const Checkpoint<T>& checkpoint) {
  std::string names;
  for (const auto& entry : checkpoint.generators) {
    if (entry.first == kLoaderGenerator) continue;
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", entry.first);
  }
  return names.empty() ? "none" : names;
}

// Refuses, before anything is restored, a checkpoint whose generators (the loader's aside) are not `generators` by
// name: the run would go on with other random draws than the saved run's.
template <typename T>
void check_saved_generators(const Checkpoint<T>& checkpoint, const RunGenerators& generators) {
  const std::string file = checkpoint.source.string();
  for (const auto& entry : generators) {
    if (checkpoint.generators.contains(entry.first)) continue;
    throw_error(
        fmt::format("cannot resume from '{}': it holds no state of generator '{}', which this run was given "
                    "(LoopOptions::generators), so the draws from it could not go on where they stopped; "
                    "resume with the generators the run was saved with (it holds {}), or start the run "
                    "again from its beginning",
                    file, entry.first, saved_generator_names(checkpoint)));
  }
  for (const auto& entry : checkpoint.generators) {
    if (entry.first == kLoaderGenerator || generators.contains(entry.first)) continue;
    throw_error(
        fmt::format("cannot resume from '{}': it holds the state of generator '{}', which this run was not "
                    "given; give the loop the generator the run saved under that name (for Dropout, the one "
                    "its layers draw their masks from), e.g. LoopOptions::generators = "
                    "{{{{\"{}\", &generator}}}}, so that its draws go on where they stopped",
                    file, entry.first, entry.first));
  }
}

}  // namespace

void check_run_generators(const RunGenerators& generators) {
  for (const auto& [name, generator] : generators) {
    if (name.empty()) {
      throw_error(
          "run generators (LoopOptions::generators): a generator has an empty name; give each one a name of "
          "its own, e.g. \"dropout\"");
    }
    if (name == kLoaderGenerator) {
      throw_error(
          "run generators (LoopOptions::generators): the name 'loader' is the batch loader's own generator's "
          "in a run checkpoint; give yours another name, e.g. \"dropout\"");
    }
    if (name.size() > kCheckpointMaxNameBytes) {
      throw_error(
          fmt::format("run generators (LoopOptions::generators): a name is {} bytes long; a checkpoint holds "
                      "names of at most {} bytes",
                      name.size(), kCheckpointMaxNameBytes));
    }
    if (generator == nullptr) {
      throw_error(
          fmt::format("run generators (LoopOptions::generators): generator '{}' is a null pointer; give the "
                      "address of the Generator itself, e.g. &generator",
                      name));
    }
  }
}

template <typename T>
Checkpoint<T> capture_run(const nn::Module<T>& module, const optim::Optimizer<T>& optimizer,
                          const data::BatchLoader<T>& loader, long step, double epoch,
                          const RunGenerators& generators) {
  check_run_generators(generators);
  Checkpoint<T> checkpoint;
  checkpoint.module_state = capture_module_state(module);
  checkpoint.optimizer_state = optimizer.state();
  checkpoint.optimizer_step_count = optimizer.step_count();
  checkpoint.scheduler_step = step;
  checkpoint.step = step;
  checkpoint.epoch = static_cast<std::int64_t>(epoch);
  const data::BatchLoaderState loader_state = loader.state();
  checkpoint.generators[kLoaderGenerator] = loader_state.generator;
  checkpoint.metadata["loader.epochs_started"] = std::to_string(loader_state.epochs_started);
  checkpoint.metadata["loader.in_epoch"] = std::to_string(loader_state.in_epoch ? 1 : 0);
  checkpoint.metadata["loader.position"] = std::to_string(loader_state.position);
  for (const auto& [name, generator] : generators) checkpoint.generators[name] = generator->state();
  return checkpoint;
}

template <typename T>
long restore_run(const Checkpoint<T>& checkpoint, nn::Module<T>& module, optim::Optimizer<T>& optimizer,
                 data::BatchLoader<T>& loader, const RunGenerators& generators) {
  check_run_generators(generators);
  check_saved_generators(checkpoint, generators);
  data::BatchLoaderState loader_state;
  loader_state.generator = checkpoint.generator(kLoaderGenerator);
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
  for (const auto& [name, generator] : generators) generator->set_state(checkpoint.generators.at(name));
  return static_cast<long>(checkpoint.step);
}

std::filesystem::path default_best_state_path(const std::filesystem::path& path) {
  std::filesystem::path best = path;
  best += ".best";
  return best;
}

#define TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(T)                                                                 \
  template Checkpoint<T> capture_run(const nn::Module<T>&, const optim::Optimizer<T>&,                         \
                                     const data::BatchLoader<T>&, long, double, const RunGenerators&);         \
  template long restore_run(const Checkpoint<T>&, nn::Module<T>&, optim::Optimizer<T>&, data::BatchLoader<T>&, \
                            const RunGenerators&);

TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(float)
TAPEGRAD_INSTANTIATE_RUN_CHECKPOINT(double)

}  // namespace tapegrad::train
