#include <tapegrad/nn/data/image_dataset.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <tapegrad/core/error.h>

namespace tapegrad::data {
namespace {

constexpr std::size_t max_examples = static_cast<std::size_t>(std::numeric_limits<int>::max());

std::string join_names(const std::vector<std::string>& names) {
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) joined += (i == 0 ? "" : ", ") + names[i];
  return "[" + joined + "]";
}

// An empty dataset with the same description as `like`, room for `count` examples.
ImageDataset empty_like(const ImageDataset& like, int count) {
  ImageDataset result;
  result.shape = like.shape;
  result.class_names = like.class_names;
  result.pixels.resize(like.pixels.rows(), count);
  result.labels.resize(static_cast<std::size_t>(count));
  return result;
}

void copy_column(const ImageDataset& from, int from_index, ImageDataset& to, int to_index) {
  const auto rows = static_cast<std::size_t>(from.pixels.rows());
  if (rows > 0) std::memcpy(to.pixels.col(to_index).data(), from.pixels.col(from_index).data(), rows);
  to.labels[static_cast<std::size_t>(to_index)] = from.labels[static_cast<std::size_t>(from_index)];
}

ImageDataset concatenate_pointers(const std::vector<const ImageDataset*>& datasets) {
  if (datasets.empty()) throw_error("concatenate: no datasets given");
  const ImageDataset& first = *datasets.front();
  std::size_t total = 0;
  for (std::size_t i = 0; i < datasets.size(); ++i) {
    const ImageDataset& part = *datasets[i];
    part.check(fmt::format("concatenate: dataset {}", i));
    if (part.shape != first.shape)
      throw_error(fmt::format("concatenate: dataset {} has images of {} but dataset 0 has {}", i,
                              to_string(part.shape), to_string(first.shape)));
    if (part.class_names != first.class_names)
      throw_error(fmt::format("concatenate: dataset {} has classes {} but dataset 0 has {}", i,
                              join_names(part.class_names), join_names(first.class_names)));
    total += part.labels.size();
  }
  if (total > static_cast<std::size_t>(max_examples))
    throw_error(
        fmt::format("concatenate: {} examples in all, more than a dataset can index ({})", total, max_examples));
  ImageDataset result = empty_like(first, static_cast<int>(total));
  Eigen::Index column = 0;
  for (const ImageDataset* part : datasets) {
    result.pixels.middleCols(column, part->pixels.cols()) = part->pixels;
    std::copy(part->labels.begin(), part->labels.end(), result.labels.begin() + column);
    column += part->pixels.cols();
  }
  return result;
}

}  // namespace

int classes_in_labels(const std::vector<int>& labels) {
  int largest = -1;
  for (int label : labels) largest = std::max(largest, label);
  return largest + 1;
}

void check_same_kind(const ImageDataset& reference, const DatasetSources& reference_sources, const ImageDataset& other,
                     const DatasetSources& other_sources) {
  if (!(other.shape == reference.shape))
    throw_error(fmt::format("{} has {} values per image ({}) but {} has {} ({}); every split must come from the same "
                            "data set",
                            other_sources.images, other.shape.features(), to_string(other.shape),
                            reference_sources.images, reference.shape.features(), to_string(reference.shape)));
  if (other.num_classes() != reference.num_classes())
    throw_error(fmt::format("{} has {} class names but {} has {}; every split must come from the same data set",
                            other_sources.labels, other.num_classes(), reference_sources.labels,
                            reference.num_classes()));
  const int other_classes = classes_in_labels(other.labels);
  const int reference_classes = classes_in_labels(reference.labels);
  if (other_classes != reference_classes)
    throw_error(fmt::format("{} has labels of {} class{} (0..{}) but {} has labels of {} (0..{}); every split must "
                            "hold the same classes",
                            other_sources.labels, other_classes, other_classes == 1 ? "" : "es", other_classes - 1,
                            reference_sources.labels, reference_classes, reference_classes - 1));
}

std::string to_string(const ImageShape& shape) {
  return fmt::format("{} x {} x {}", shape.channels, shape.height, shape.width);
}

void ImageDataset::check(const std::string& context) const {
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0)
    throw_error(fmt::format("{}: image shape {} has a dimension that is not positive", context, to_string(shape)));
  if (pixels.rows() != shape.features())
    throw_error(fmt::format("{}: pixels have {} rows but images of {} have {} features", context, pixels.rows(),
                            to_string(shape), shape.features()));
  if (pixels.cols() != static_cast<Eigen::Index>(labels.size()))
    throw_error(fmt::format("{}: {} columns of pixels but {} labels", context, pixels.cols(), labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes())
      throw_error(fmt::format("{}: label {} of example {} is outside 0..{} ({} class names)", context, labels[i],
                              i, num_classes() - 1, num_classes()));
  }
}

template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> one_hot(const std::vector<int>& labels, int num_classes) {
  if (num_classes <= 0) throw_error(fmt::format("one_hot: num_classes must be positive, got {}", num_classes));
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> targets =
      Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Zero(num_classes,
                                                             static_cast<Eigen::Index>(labels.size()));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw_error(fmt::format("one_hot: label {} at position {} is outside 0..{}", labels[i], i, num_classes - 1));
    targets(labels[i], static_cast<Eigen::Index>(i)) = T(1);
  }
  return targets;
}

template Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic> one_hot<float>(const std::vector<int>&, int);
template Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> one_hot<double>(const std::vector<int>&, int);

TrainValidationSplit split_last(const ImageDataset& dataset, int validation_size) {
  dataset.check("split_last");
  if (validation_size < 0 || validation_size > dataset.size())
    throw_error(fmt::format("split_last: validation size {} is outside 0..{} (the dataset has {} examples)",
                            validation_size, dataset.size(), dataset.size()));
  const int train_size = dataset.size() - validation_size;
  return {slice(dataset, 0, train_size), slice(dataset, train_size, validation_size)};
}

TrainValidationSplit split_holdout(const ImageDataset& dataset, int validation_size) {
  if (validation_size >= dataset.size())
    throw SplitTooLarge(fmt::format("the validation split ({}) must be smaller than the {} training images",
                                    validation_size, dataset.size()));
  return split_last(dataset, validation_size);
}

TrainValidationSplit split_fraction(const ImageDataset& dataset, double validation_fraction) {
  if (!(validation_fraction >= 0.0 && validation_fraction <= 1.0))
    throw_error(fmt::format("split_fraction: validation fraction {} is outside [0, 1]", validation_fraction));
  const auto validation_size = static_cast<int>(std::lround(validation_fraction * dataset.size()));
  return split_last(dataset, validation_size);
}

ImageDataset concatenate(std::span<const ImageDataset> datasets) {
  std::vector<const ImageDataset*> pointers;
  for (const ImageDataset& part : datasets) pointers.push_back(&part);
  return concatenate_pointers(pointers);
}

ImageDataset concatenate(const std::vector<std::reference_wrapper<const ImageDataset>>& datasets) {
  std::vector<const ImageDataset*> pointers;
  for (const ImageDataset& part : datasets) pointers.push_back(&part);
  return concatenate_pointers(pointers);
}

ImageDataset filter_classes(const ImageDataset& dataset, const std::vector<int>& classes) {
  dataset.check("filter_classes");
  if (classes.empty()) throw_error("filter_classes: no classes given");
  std::vector<int> new_label(static_cast<std::size_t>(dataset.num_classes()), -1);
  for (std::size_t position = 0; position < classes.size(); ++position) {
    const int old_label = classes[position];
    if (old_label < 0 || old_label >= dataset.num_classes())
      throw_error(fmt::format("filter_classes: class {} is outside 0..{} (classes {})", old_label,
                              dataset.num_classes() - 1, join_names(dataset.class_names)));
    if (new_label[static_cast<std::size_t>(old_label)] != -1)
      throw_error(fmt::format("filter_classes: class {} is listed twice", old_label));
    new_label[static_cast<std::size_t>(old_label)] = static_cast<int>(position);
  }
  std::vector<int> kept;
  for (int i = 0; i < dataset.size(); ++i)
    if (new_label[static_cast<std::size_t>(dataset.labels[static_cast<std::size_t>(i)])] != -1) kept.push_back(i);

  ImageDataset result = subset(dataset, kept);
  for (int& label : result.labels) label = new_label[static_cast<std::size_t>(label)];
  result.class_names.clear();
  for (int old_label : classes)
    result.class_names.push_back(dataset.class_names[static_cast<std::size_t>(old_label)]);
  return result;
}

ImageDataset subset(const ImageDataset& dataset, const std::vector<int>& indices) {
  dataset.check("subset");
  if (indices.size() > static_cast<std::size_t>(max_examples))
    throw_error(fmt::format("subset: {} indices, more than a dataset can index", indices.size()));
  ImageDataset result = empty_like(dataset, static_cast<int>(indices.size()));
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= dataset.size())
      throw_error(
          fmt::format("subset: index {} at position {} is outside 0..{}", indices[i], i, dataset.size() - 1));
    copy_column(dataset, indices[i], result, static_cast<int>(i));
  }
  return result;
}

ImageDataset slice(const ImageDataset& dataset, int first, int count) {
  dataset.check("slice");
  if (first < 0 || count < 0 || first > dataset.size() || count > dataset.size() - first)
    throw_error(fmt::format("slice: examples {}..{} are not inside a dataset of {} examples", first,
                            static_cast<long long>(first) + count - 1, dataset.size()));
  ImageDataset result = empty_like(dataset, count);
  result.pixels = dataset.pixels.middleCols(first, count);
  std::copy(dataset.labels.begin() + first, dataset.labels.begin() + first + count, result.labels.begin());
  return result;
}

}  // namespace tapegrad::data
