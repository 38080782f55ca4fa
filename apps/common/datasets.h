// Finding and splitting the data an app trains on: CIFAR-10 in its official binary layout, or, when it cannot
// be had, Fashion-MNIST from Debian's dataset-fashion-mnist package, said plainly.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/nn/data/idx.h>
#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::apps {

inline const std::filesystem::path kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

struct ImageSplits {
  data::ImageDataset train;
  data::ImageDataset validation;
  data::ImageDataset test;
  std::string description;  // e.g. "CIFAR-10 from data/cifar-10-batches-bin: train data_batch_1, ..."
  bool is_cifar10 = false;
  std::filesystem::path directory;
};

enum class CifarSplit {
  batch1_batch2,  // train data_batch_1, validate data_batch_2 (the reports' default)
  all_batches,    // data_batch_1..5 less the last `validation_size` images, which validate
};

// Where CIFAR-10 is: --data when given (which must then hold it), else $CIFAR10_DIR, else
// data/cifar-10-batches-bin; nullopt when none of them has data_batch_1.bin.
std::optional<std::filesystem::path> find_cifar10(const std::optional<std::filesystem::path>& data_flag);

// CIFAR-10 split as asked, or Fashion-MNIST split the same way (10,000 / 10,000 for batch1_batch2) when CIFAR-10
// is absent and --data was not given. Throws DataError (exit 3) naming what is missing and how to get it.
ImageSplits load_image_splits(const std::optional<std::filesystem::path>& data_flag, CifarSplit split,
                              int validation_size);

// How a directory of IDX files (MNIST, Fashion-MNIST) becomes train / validation / test.
struct IdxSplitOptions {
  std::string name = "Fashion-MNIST";     // the data set's name in the description
  std::vector<std::string> class_names{};  // empty: Fashion-MNIST's article names
  // When given, only these classes, relabelled 0, 1, ... in this order (a binary task: two classes).
  std::vector<int> classes{};
  // Only the first this many training images (after the class filter) are used; 0: all of them.
  int limit_train = 0;
  // The last round(fraction * n) of the (filtered, limited) training images validate ...
  double validation_fraction = 0.1;
  // ... unless a fixed number is given.
  std::optional<int> validation_size{};
};

// Splits data already loaded from `directory` as `options` say, so that an app that needs several splits (a
// binary and a ten-class task) reads the files once. Throws UsageError (exit 2) for classes or split sizes that
// cannot be had, and DataError (exit 3) when a chosen class has no training image.
ImageSplits split_idx_data(const data::TrainTestDatasets& loaded, const std::filesystem::path& directory,
                           const IdxSplitOptions& options);

// Reads the IDX files of `directory` (DataError naming the file and offset of any problem), then split_idx_data.
ImageSplits load_idx_splits(const std::filesystem::path& directory, const IdxSplitOptions& options);

// Fashion-MNIST (or MNIST, named `name`, with Fashion-MNIST's class names) from a directory of IDX files, split
// into train / validation (the last `validation_size` training images) / test.
ImageSplits load_idx_splits(const std::filesystem::path& directory, int validation_size, const std::string& name);

}  // namespace tapegrad::apps
