#include <tapegrad/nn/data/batch_loader.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <tapegrad/core/error.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/data/augment.h>

namespace tapegrad::data {

void BatchLoaderOptions::validate() const {
  if (batch_size <= 0) throw_error(fmt::format("BatchLoader: batch_size must be positive, got {}", batch_size));
  if (!(flip_probability >= 0.0 && flip_probability <= 1.0))
    throw_error(fmt::format("BatchLoader: flip_probability must be in [0, 1], got {}", flip_probability));
}

template <typename T>
BatchLoader<T>::BatchLoader(const ImageDataset& dataset, Normalizer normalizer, BatchLoaderOptions options,
                            Generator generator)
    : dataset_(dataset),
      normalizer_(std::move(normalizer)),
      options_(options),
      generator_(std::move(generator)),
      epoch_start_(generator_.state()) {
  options_.validate();
  dataset_.check("BatchLoader");
  normalizer_.check_features(static_cast<int>(dataset_.pixels.rows()), "BatchLoader");
  if (options_.drop_last && dataset_.size() < options_.batch_size) {
    throw_error(fmt::format("BatchLoader: batch_size {} with drop_last leaves no batch in an epoch of {} examples; "
                            "give a batch_size of at most {}, or drop_last = false",
                            options_.batch_size, dataset_.size(), dataset_.size()));
  }
  order_.reserve(static_cast<std::size_t>(dataset_.size()));
  // The full-size batch matrix is allocated once here; only a smaller last batch resizes it.
  batch_.X.resize(dataset_.pixels.rows(), std::min(options_.batch_size, dataset_.size()));
}

template <typename T>
void BatchLoader<T>::draw_order() {
  order_.resize(static_cast<std::size_t>(dataset_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) generator_.shuffle(order_.begin(), order_.end());
}

template <typename T>
void BatchLoader<T>::start_epoch() {
  epoch_start_ = generator_.state();
  draw_order();
  ++epochs_started_;
  in_epoch_ = true;
  position_ = 0;
}

template <typename T>
bool BatchLoader<T>::next() {
  if (!in_epoch_) start_epoch();
  const int count = std::min(options_.batch_size, dataset_.size() - position_);
  if (count == 0 || (count < options_.batch_size && options_.drop_last)) {
    in_epoch_ = false;
    return false;
  }
  gather(position_, count);
  position_ += count;
  return true;
}

template <typename T>
void BatchLoader<T>::gather(int first, int count) {
  const auto features = static_cast<int>(dataset_.pixels.rows());
  batch_.X.resize(features, count);
  batch_.labels.resize(static_cast<std::size_t>(count));
  batch_.indices.resize(static_cast<std::size_t>(count));
  const double flip_probability = options_.flip_probability;
  flips_.assign(static_cast<std::size_t>(count), 0);
  for (int j = 0; j < count; ++j) {
    const int example = order_[static_cast<std::size_t>(first + j)];
    // One draw per example, in order: set_state() relies on it to replay an epoch's flips.
    if (flip_probability > 0 && generator_.bernoulli(flip_probability)) flips_[static_cast<std::size_t>(j)] = 1;
    batch_.labels[static_cast<std::size_t>(j)] = dataset_.labels[static_cast<std::size_t>(example)];
    batch_.indices[static_cast<std::size_t>(j)] = example;
  }
  // The pixels are normalised by the product threads, each its share of the columns: every core then fetches its
  // part of the images in parallel (the batch is read from memory, a random 1.2 MB of the data set), and the
  // products that follow split the same columns. Gathering on one thread made an epoch on two threads 1.2-1.4x
  // slower than on one (the second core waited for the first core's cache); the values are the same either way.
  const bool split = static_cast<std::ptrdiff_t>(count) * features >= elementwise_split_values;
  parallel_columns(count, split, [&](ColumnRange range) {
    std::vector<std::uint8_t> flipped;
    for (auto j = range.first; j < range.last; ++j) {
      const std::uint8_t* pixels = dataset_.pixels.col(batch_.indices[static_cast<std::size_t>(j)]).data();
      if (flips_[static_cast<std::size_t>(j)] != 0) {
        flipped.resize(static_cast<std::size_t>(features));
        flip_horizontal(std::span<const std::uint8_t>(pixels, static_cast<std::size_t>(features)), flipped,
                        dataset_.shape);
        pixels = flipped.data();
      }
      normalizer_.apply_column(pixels, batch_.X.col(j).data(), features);
    }
  });
}

template <typename T>
int BatchLoader<T>::batches_per_epoch() const {
  const int whole = dataset_.size() / options_.batch_size;
  const bool partial = dataset_.size() % options_.batch_size != 0;
  return whole + (partial && !options_.drop_last ? 1 : 0);
}

template <typename T>
BatchLoaderState BatchLoader<T>::state() const {
  return {in_epoch_ ? epoch_start_ : generator_.state(), epochs_started_, in_epoch_, in_epoch_ ? position_ : 0};
}

template <typename T>
void BatchLoader<T>::set_state(const BatchLoaderState& state) {
  if (state.epochs_started < 0 || (state.in_epoch && state.epochs_started == 0))
    throw_error(fmt::format("BatchLoader::set_state: {} epochs started is impossible{}", state.epochs_started,
                            state.in_epoch ? " during an epoch" : ""));
  if (state.position < 0 || state.position > dataset_.size() || (!state.in_epoch && state.position != 0))
    throw_error(fmt::format("BatchLoader::set_state: position {} does not fit a dataset of {} examples{}",
                            state.position, dataset_.size(), state.in_epoch ? "" : " between epochs"));
  generator_.set_state(state.generator);
  epoch_start_ = state.generator;
  epochs_started_ = state.epochs_started;
  in_epoch_ = state.in_epoch;
  position_ = 0;
  if (!in_epoch_) return;
  // Redraw the epoch's order and the flip draws of the examples already handed out.
  draw_order();
  if (options_.flip_probability > 0)
    for (int i = 0; i < state.position; ++i) generator_.bernoulli(options_.flip_probability);
  position_ = state.position;
}

template <typename T>
void normalized_examples(const ImageDataset& dataset, const Normalizer& normalizer, int first, int count,
                         Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& out) {
  if (first < 0 || count < 0 || first > dataset.size() || count > dataset.size() - first ||
      dataset.pixels.cols() != dataset.size())
    throw_error(fmt::format("normalized_examples: examples {}..{} are not inside a dataset of {} examples", first,
                            static_cast<long long>(first) + count - 1, dataset.size()));
  normalizer.apply(dataset.pixels.middleCols(first, count), out);
}

template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples(const ImageDataset& dataset,
                                                                     const Normalizer& normalizer, int first,
                                                                     int count) {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> out;
  normalized_examples(dataset, normalizer, first, count, out);
  return out;
}

template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples(const ImageDataset& dataset,
                                                                     const Normalizer& normalizer) {
  return normalized_examples<T>(dataset, normalizer, 0, dataset.size());
}

template <typename T>
void for_each_chunk(const ImageDataset& dataset, const Normalizer& normalizer, int chunk_size,
                    const std::function<void(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& X, int first,
                                             std::span<const int> labels)>& visit) {
  if (chunk_size <= 0) throw_error(fmt::format("for_each_chunk: chunk_size must be positive, got {}", chunk_size));
  dataset.check("for_each_chunk");
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> chunk;
  for (int first = 0; first < dataset.size(); first += chunk_size) {
    const int count = std::min(chunk_size, dataset.size() - first);
    normalized_examples(dataset, normalizer, first, count, chunk);
    visit(chunk, first, std::span<const int>(dataset.labels.data() + first, static_cast<std::size_t>(count)));
  }
}

template class BatchLoader<float>;
template class BatchLoader<double>;

#define TAPEGRAD_INSTANTIATE_NORMALIZED_EXAMPLES(T)                                                              \
  template void normalized_examples<T>(const ImageDataset&, const Normalizer&, int, int,                         \
                                       Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>&);                       \
  template Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples<T>(const ImageDataset&,          \
                                                                                   const Normalizer&, int, int); \
  template Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> normalized_examples<T>(const ImageDataset&,          \
                                                                                   const Normalizer&);           \
  template void for_each_chunk<T>(                                                                               \
      const ImageDataset&, const Normalizer&, int,                                                               \
      const std::function<void(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>&, int,                     \
                               std::span<const int>)>&);

TAPEGRAD_INSTANTIATE_NORMALIZED_EXAMPLES(float)
TAPEGRAD_INSTANTIATE_NORMALIZED_EXAMPLES(double)
#undef TAPEGRAD_INSTANTIATE_NORMALIZED_EXAMPLES

}  // namespace tapegrad::data
