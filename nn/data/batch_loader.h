// BatchLoader: the training loop's source of mini-batches. Each epoch visits every example once, in a fresh
// random order when shuffling, gathering the columns of the byte matrix straight into one reused
// floating-point matrix, normalised and optionally mirrored on the way.
//
//   data::BatchLoader<float> loader(train, normalizer, {.batch_size = 100, .flip_probability = 0.5},
//                                   Generator(seed));
//   for (int epoch = 0; epoch < epochs; ++epoch)
//     while (loader.next()) step(loader.batch().X, loader.batch().labels);
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <tapegrad/core/generator.h>
#include <tapegrad/nn/data/image_dataset.h>
#include <tapegrad/nn/data/normalizer.h>

namespace tapegrad::data {

struct BatchLoaderOptions {
  int batch_size = 100;
  bool shuffle = true;
  // The chance that each drawn image is mirrored left-right (flip_horizontal); 0 turns flipping off.
  double flip_probability = 0.0;
  // Leave out the last batch of an epoch when it is smaller than batch_size (a data set smaller than one batch is
  // then refused: no epoch would have a batch).
  bool drop_last = false;

  // Throws tapegrad::Error naming the bad option.
  void validate() const;
};

template <typename T>
struct Batch {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> X;  // features x size(), normalised
  std::vector<int> labels;                             // labels[j] is the class of column j
  std::vector<int> indices;                            // the dataset columns the batch was gathered from

  int size() const { return static_cast<int>(labels.size()); }
};

// Where a loader is, for checkpoints: restoring it with set_state() continues with the very same batches.
struct BatchLoaderState {
  // The generator as it was when the current epoch began (the epoch's order and flips are drawn from it), or
  // as it is now when no epoch is under way.
  Generator::State generator;
  std::int64_t epochs_started = 0;
  bool in_epoch = false;
  int position = 0;  // examples of the current epoch already handed out

  bool operator==(const BatchLoaderState&) const = default;
};

template <typename T>
class BatchLoader {
 public:
  // The loader reads `dataset` without copying it: the dataset must outlive the loader. All randomness (the
  // order and the flips) comes from `generator`, which the loader owns: the same seed gives the same batches.
  BatchLoader(const ImageDataset& dataset, Normalizer normalizer, BatchLoaderOptions options, Generator generator);
  BatchLoader(ImageDataset&& dataset, Normalizer normalizer, BatchLoaderOptions options,
              Generator generator) = delete;

  // Fills batch() with the next batch and returns true, or returns false once at the end of the epoch. When no
  // epoch is under way it begins one, so `while (loader.next())` is exactly one epoch.
  bool next();
  // Begins a new epoch now, abandoning what is left of the current one.
  void start_epoch();

  const Batch<T>& batch() const { return batch_; }
  // The same batch, writable: for a step that lends the batch's storage to a model (train::Loop's default step
  // swaps X into its input leaf and back). Whatever is left in it, next() overwrites it.
  Batch<T>& mutable_batch() { return batch_; }
  int batches_per_epoch() const;
  std::int64_t epochs_started() const { return epochs_started_; }
  // The current epoch's order of dataset columns (0..n-1 without shuffling).
  const std::vector<int>& order() const { return order_; }

  const ImageDataset& dataset() const { return dataset_; }
  const Normalizer& normalizer() const { return normalizer_; }
  const BatchLoaderOptions& options() const { return options_; }

  BatchLoaderState state() const;
  // Throws tapegrad::Error when the state cannot belong to this loader (a position beyond the dataset).
  void set_state(const BatchLoaderState& state);

 private:
  void draw_order();
  void gather(int first, int count);

  const ImageDataset& dataset_;
  Normalizer normalizer_;
  BatchLoaderOptions options_;
  Generator generator_;
  Generator::State epoch_start_;
  std::int64_t epochs_started_ = 0;
  bool in_epoch_ = false;
  int position_ = 0;
  std::vector<int> order_;
  std::vector<std::uint8_t> flips_;  // the current batch's flip draws, one per example
  Batch<T> batch_;
};

// Examples first .. first + count - 1 of `dataset`, normalised: features x count. The second form reuses `out`.
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples(const ImageDataset& dataset,
                                                                     const Normalizer& normalizer, int first,
                                                                     int count);
template <typename T>
void normalized_examples(const ImageDataset& dataset, const Normalizer& normalizer, int first, int count,
                         Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& out);
// The whole dataset at once (features x size, so 50,000 CIFAR images take 600 MB in float: prefer chunks).
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples(const ImageDataset& dataset,
                                                                     const Normalizer& normalizer);

// For evaluation: visits the dataset in order, chunk_size examples at a time (the last chunk may be smaller),
// each normalised into one reused matrix. `visit` gets the chunk, the index of its first example and its labels.
template <typename T>
void for_each_chunk(const ImageDataset& dataset, const Normalizer& normalizer, int chunk_size,
                    const std::function<void(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& X, int first,
                                             std::span<const int> labels)>& visit);

}  // namespace tapegrad::data
