// CIFAR-10 in its official binary layout: files of records, each 1 label byte (0..9) followed by 3072 pixel
// bytes (1024 red, then 1024 green, then 1024 blue, each 32 x 32 row-major), and batches.meta.txt with one
// class name per line.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::data {

inline constexpr int cifar10_num_classes = 10;
inline constexpr ImageShape cifar10_image_shape{3, 32, 32};
inline constexpr int cifar10_record_bytes = 1 + 3 * 32 * 32;

// "data_batch_1.bin" .. "data_batch_5.bin".
std::vector<std::string> cifar10_training_batch_names();
// "test_batch.bin".
std::string cifar10_test_batch_name();

// Whether `directory` has data_batch_1.bin. One file decides so that a damaged copy is not passed over in silence:
// once a directory is taken for CIFAR-10, the loaders name whichever of its other files is missing or bad.
bool holds_cifar10(const std::filesystem::path& directory);

// Where CIFAR-10 is: $CIFAR10_DIR when it is set, non-empty and holds_cifar10, else `fallback` when it does, else
// nullopt. The variable comes first so that one copy can serve many checkouts and build directories; the fallback
// is where scripts/get-cifar10.sh puts it, relative to the working directory unless given absolute.
std::optional<std::filesystem::path> find_cifar10(
    const std::filesystem::path& fallback = "data/cifar-10-batches-bin");

// The class names from `directory`/batches.meta.txt (its non-empty lines, which must be 10), or "0".."9"
// when the file is absent.
std::vector<std::string> load_cifar10_class_names(const std::filesystem::path& directory);

// One batch file. Class names come from batches.meta.txt next to it, when present.
ImageDataset load_cifar10_batch(const std::filesystem::path& file);

// The given batch files of `directory`, in the given order, as one dataset, e.g.
// load_cifar10(dir, cifar10_training_batch_names()) or load_cifar10(dir, {"test_batch.bin"}). Every file is
// checked before the pixels are allocated once for all of them.
ImageDataset load_cifar10(const std::filesystem::path& directory, const std::vector<std::string>& batch_files);

// CIFAR-10 divided for training a model: what trains, what chooses the settings, what reports the result.
struct Cifar10Splits {
  ImageDataset train;
  ImageDataset validation;
  ImageDataset test;
};

// The two ways a course divides `directory`'s batches; test is test_batch.bin in both. Every file is checked
// against the test batch (check_same_kind) before the sets can meet in a product; errors name the file.
// Train data_batch_1.bin, validate data_batch_2.bin (10,000 images each).
Cifar10Splits load_cifar10_first_two_batches(const std::filesystem::path& directory);
// Train data_batch_1.bin .. data_batch_5.bin less their last `validation_size` images, which validate
// (split_holdout: SplitTooLarge unless an image is left to train on).
Cifar10Splits load_cifar10_holdout(const std::filesystem::path& directory, int validation_size);

}  // namespace tapegrad::data
