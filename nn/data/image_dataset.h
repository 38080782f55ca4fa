// ImageDataset: images kept once as bytes (one column per image) with their labels, and the operations that
// reshape a dataset without touching pixel values: one-hot targets, splits, concatenation, class filtering and
// subsets.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>

namespace tapegrad::data {

// Pixels as stored on disk, features x examples. Bytes, not floats, so that all 50,000 CIFAR-10 training
// images take 150 MB; batches are converted to floating point only when they are drawn.
using PixelMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic>;
using PixelVector = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, 1>;

// The layout of one column: `channels` planes of height x width, each plane row-major. This is the byte
// order of CIFAR-10 (1024 red, 1024 green, 1024 blue) and of IDX images (channels = 1).
struct ImageShape {
  int channels = 0;
  int height = 0;
  int width = 0;

  int features() const { return channels * height * width; }
  bool operator==(const ImageShape&) const = default;
};

// "3 x 32 x 32", the way shapes appear in messages.
std::string to_string(const ImageShape& shape);

struct ImageDataset {
  PixelMatrix pixels;       // shape.features() x size()
  std::vector<int> labels;  // one per column, each in [0, num_classes())
  ImageShape shape;
  std::vector<std::string> class_names;  // index = label

  int size() const { return static_cast<int>(labels.size()); }
  int num_classes() const { return static_cast<int>(class_names.size()); }

  // Throws tapegrad::Error, prefixed by `context`, when the parts disagree: pixel rows vs shape, pixel columns
  // vs labels, or a label outside the class list. Every function below checks its inputs with it.
  void check(const std::string& context) const;
};

// The number of classes that `labels` use: the largest label + 1 (0 for no labels).
int classes_in_labels(const std::vector<int>& labels);

// Where a dataset's images and labels came from, for messages (the same file for CIFAR-10).
struct DatasetSources {
  std::string images;
  std::string labels;
};

// Splits that are each valid alone must also agree with each other before they meet in a product: throws
// tapegrad::Error naming the files of both when `other` has images of another shape than `reference` (e.g.
// "t10k-images-idx3-ubyte has 812 values per image (1 x 28 x 29) but train-images-idx3-ubyte has 784 (1 x 28 x
// 28)"), another number of class names, or labels of another number of classes (classes_in_labels).
void check_same_kind(const ImageDataset& reference, const DatasetSources& reference_sources, const ImageDataset& other,
                     const DatasetSources& other_sources);

// Targets for the losses: a num_classes x n matrix with a single 1 per column.
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> one_hot(const std::vector<int>& labels, int num_classes);

struct TrainValidationSplit {
  ImageDataset train;
  ImageDataset validation;
};

// The LAST `validation_size` examples become the validation set, the rest stay for training, both in their
// original order (files are already shuffled, and a fixed tail makes runs comparable).
TrainValidationSplit split_last(const ImageDataset& dataset, int validation_size);
// Thrown by split_holdout when the validation part would leave nothing to train on: a mistake in the size asked
// for rather than in the data, so a program can tell the two apart.
class SplitTooLarge : public Error {
 public:
  explicit SplitTooLarge(const std::string& message) : Error(message) {}
};
// split_last for a training set held out from: throws SplitTooLarge ("the validation split (N) must be smaller
// than the M training images") unless at least one example is left to train on.
TrainValidationSplit split_holdout(const ImageDataset& dataset, int validation_size);
// Same, with round(fraction * size) validation examples; fraction in [0, 1].
TrainValidationSplit split_fraction(const ImageDataset& dataset, double validation_fraction);

// The datasets one after another; they must agree on shape and class names. The second form takes
// references, so concatenate({train_a, train_b}) copies each dataset once, into the result.
ImageDataset concatenate(std::span<const ImageDataset> datasets);
ImageDataset concatenate(const std::vector<std::reference_wrapper<const ImageDataset>>& datasets);

// Keeps the examples of the given classes, in dataset order, relabelled by their position in `classes`
// (filter_classes(d, {3, 5}) makes class 3 label 0 and class 5 label 1, e.g. for a binary task).
ImageDataset filter_classes(const ImageDataset& dataset, const std::vector<int>& classes);

// The examples at `indices`, in that order (repeats allowed).
ImageDataset subset(const ImageDataset& dataset, const std::vector<int>& indices);
// The examples first .. first + count - 1.
ImageDataset slice(const ImageDataset& dataset, int first, int count);

}  // namespace tapegrad::data
