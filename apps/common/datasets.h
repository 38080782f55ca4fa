// Finding and splitting the data an app trains on: CIFAR-10 in its official binary layout, or, when it cannot
// be had, Fashion-MNIST from Debian's dataset-fashion-mnist package, said plainly.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::apps {

inline const std::filesystem::path kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

struct ImageSplits {
  data::ImageDataset train;
  data::ImageDataset validation;
  data::ImageDataset test;
  std::string description;  // e.g. "CIFAR-10 from data/cifar-10-batches-bin: train data_batch_1, ..."
};

enum class CifarSplit {
  batch1_batch2,  // train data_batch_1, validate data_batch_2 (the reports' default)
  all_batches,    // data_batch_1..5 less the last `validation_size` images, which validate
};

// CIFAR-10 split as asked, or Fashion-MNIST split the same way (10,000 / 10,000 for batch1_batch2) when CIFAR-10
// is absent and --data was not given. Throws DataError (exit 3) naming what is missing and how to get it.
ImageSplits load_image_splits(const std::optional<std::filesystem::path>& data_flag, CifarSplit split,
                              int validation_size);

}  // namespace tapegrad::apps
