// Checkpoints: everything a training run needs to continue exactly where it stopped, in one binary file.
//
// ==== Byte layout, format version 1 =============================================================================
//
// Every integer and floating-point number is little-endian. There is no padding or alignment anywhere. Names,
// keys and values are raw UTF-8 bytes without a terminator. "u32"/"u64" are unsigned, "i64" is two's complement,
// "f32"/"f64" are IEEE 754 binary32/binary64.
//
//   offset  size  field
//   0       8     magic: the ASCII bytes "TAPEGRAD"
//   8       4     u32 format version = 1
//   12      4     u32 scalar type of every tensor in the file: 1 = f32, 2 = f64
//   16      8     i64 epoch
//   24      8     i64 step                    (the training loop's global step)
//   32      8     i64 scheduler_step          (the learning-rate scheduler's position)
//   40      8     i64 optimizer_step_count    (Optimizer::step_count())
//   48      ...   module state section:     u64 count, then `count` tensor records
//           ...   optimizer state section:  u64 count, then `count` tensor records
//           ...   generators section:       u64 count, then `count` generator records
//           ...   metadata section:         u64 count, then `count` metadata records
//   end-4   4     u32 CRC-32 of every byte before it: the CRC of zip, gzip and PNG (reflected polynomial
//                 0xEDB88320, register starting at 0xFFFFFFFF, result XORed with 0xFFFFFFFF), i.e. zlib's
//                 crc32(0, data, size) in C and zlib.crc32(data[:-4]) in Python
//
//   tensor record:     u32 name length L, L bytes name,
//                      u64 rows, u64 cols,
//                      rows * cols scalars of the file's scalar type, column-major: all of column 0 (rows 0 ..
//                      rows-1), then column 1, ...
//   generator record:  u32 name length L, L bytes name,
//                      4 x u64 xoshiro256** state words (Generator::State::words, in order),
//                      u8 has_cached_normal (0 or 1), f64 cached_normal
//   metadata record:   u32 key length L, L bytes key, u64 value length V, V bytes value
//
// The module state is the tensors of checkpointed_tensors() in its order (dotted names such as "0.weight",
// "fc1.bias"), each name at most once. Optimizer state entries are in the order of Optimizer::state(). Generators and metadata are
// sorted by name (byte-wise). Names are at most 4096 bytes. The file holds nothing after the CRC.
//
// Reading a weight from another language, e.g. Python with numpy, once `offset` points at a tensor record's data:
//   W = numpy.frombuffer(data, dtype="<f4", count=rows * cols, offset=offset).reshape((rows, cols), order="F")
// ================================================================================================================
//
// Saving writes "<path>.tmp", flushes it to the disk (fsync) and renames it over <path>, so a save that fails or
// is interrupted leaves the previous checkpoint as it was. Loading checks the magic, the version, the scalar type,
// every size against the bytes that are really there (before allocating anything) and the CRC; every error names
// the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/optim/optimizer.h>

namespace tapegrad::train {

inline constexpr std::uint32_t kCheckpointFormatVersion = 1;
inline constexpr std::size_t kCheckpointMaxNameBytes = 4096;

template <typename T>
struct Checkpoint {
  // Copies of the module's saved tensors, keyed by their dotted names (see capture_module_state).
  std::vector<optim::StateEntry<T>> module_state;
  std::vector<optim::StateEntry<T>> optimizer_state;
  std::int64_t optimizer_step_count = 0;
  std::int64_t scheduler_step = 0;
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  // Every generator whose draws the run depends on (shuffling, augmentation), by a name the app chooses.
  std::map<std::string, Generator::State> generators;
  // Free-form text, e.g. metadata["config"] = the run's resolved config.json.
  std::map<std::string, std::string> metadata;

  // The file this checkpoint was loaded from (empty when built in memory), named in errors about it.
  std::filesystem::path source;

  // The generator state saved under `name`; an Error naming the file and the names it holds when there is none.
  const Generator::State& generator(const std::string& name) const;
  // The metadata value saved under `key`; an Error likewise when there is none.
  const std::string& metadata_value(const std::string& key) const;
};

template <typename T>
struct NamedTensor {
  std::string name;
  Tensor<T> tensor;
};

// The tensors of `module` that a checkpoint saves and restores, by dotted name, in a stable order: its parameters
// (named_parameters()), then its buffers (named_buffers(): BatchNorm's running statistics). Everything that saves
// or restores a module's state (the checkpoint, early stopping's best state) takes it from here.
template <typename T>
std::vector<NamedTensor<T>> checkpointed_tensors(const nn::Module<T>& module);

// Copies of the values of checkpointed_tensors(module), under their names.
template <typename T>
std::vector<optim::StateEntry<T>> capture_module_state(const nn::Module<T>& module);

// Sets every tensor of checkpointed_tensors(module) from the checkpoint. All or nothing: the names must be
// exactly the module's and every shape must match, otherwise an Error names the parameter (missing, extra, or
// "has shape (50 x 3072) in the file but (50 x 100) in the model") and the file, and the module is left unchanged.
template <typename T>
void restore_module_state(nn::Module<T>& module, const Checkpoint<T>& checkpoint);

// Writes the checkpoint to `path` atomically (see above). An Error names the file and the system's reason when
// the save fails; the previous file at `path`, if any, is then left untouched and no "<path>.tmp" remains.
template <typename T>
void save_checkpoint(const std::filesystem::path& path, const Checkpoint<T>& checkpoint);

// Reads and validates a checkpoint whose scalar type is T (float: f32, double: f64); a file of the other type is
// an Error saying which to use.
template <typename T>
Checkpoint<T> load_checkpoint(const std::filesystem::path& path);

extern template struct Checkpoint<float>;
extern template struct Checkpoint<double>;

}  // namespace tapegrad::train
