#include "apps/common/datasets.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "apps/common/app_error.h"
#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/data/idx.h>

namespace tapegrad::apps {
namespace {

bool has_cifar10(const std::filesystem::path& directory) {
  std::error_code ignored;
  return std::filesystem::exists(directory / "data_batch_1.bin", ignored);
}

const char* const kCifarHint =
    "put CIFAR-10's binary files (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) in that directory: "
    "scripts/get-cifar10.sh fetches and checks them";

// Where CIFAR-10 is: --data when given (which must then hold it), else $CIFAR10_DIR, else
// data/cifar-10-batches-bin; nullopt when none of them has data_batch_1.bin.
std::optional<std::filesystem::path> find_cifar10(const std::optional<std::filesystem::path>& data_flag) {
  if (data_flag) return has_cifar10(*data_flag) ? std::optional(*data_flag) : std::nullopt;
  if (const char* env = std::getenv("CIFAR10_DIR"); env != nullptr && *env != '\0' && has_cifar10(env)) {
    return std::filesystem::path(env);
  }
  if (has_cifar10("data/cifar-10-batches-bin")) return std::filesystem::path("data/cifar-10-batches-bin");
  return std::nullopt;
}

// all_batches: the last `validation_size` images of `pool` validate, the others train.
void split_off_validation(ImageSplits& splits, const data::ImageDataset& pool, int validation_size) {
  if (validation_size >= pool.size()) {
    throw UsageError(fmt::format("the validation split ({}) must be smaller than the {} training images",
                                 validation_size, pool.size()));
  }
  auto parts = data::split_last(pool, validation_size);
  splits.train = std::move(parts.train);
  splits.validation = std::move(parts.validation);
}

}  // namespace

ImageSplits load_image_splits(const std::optional<std::filesystem::path>& data_flag, CifarSplit split,
                              int validation_size) {
  const auto cifar = find_cifar10(data_flag);
  std::error_code error;
  if (!cifar && data_flag) {
    if (!std::filesystem::is_directory(*data_flag, error)) {
      throw DataError(fmt::format("--data {}: the directory does not exist", data_flag->string()), kCifarHint);
    }
    throw DataError(fmt::format("no CIFAR-10 in {}: data_batch_1.bin is missing", data_flag->string()),
                    kCifarHint);
  }
  ImageSplits splits;
  if (!cifar) {
    if (!std::filesystem::exists(kFashionMnistDirectory, error)) {
      throw DataError(
          "no data: CIFAR-10 is not in $CIFAR10_DIR or data/cifar-10-batches-bin, and Fashion-MNIST is not in " +
              kFashionMnistDirectory.string(),
          "run scripts/get-cifar10.sh (or pass --data DIR), or install Debian's dataset-fashion-mnist package");
    }
    spdlog::warn("CIFAR-10 not found (--data, $CIFAR10_DIR, data/cifar-10-batches-bin): running the same study on "
                 "Fashion-MNIST from {} instead",
                 kFashionMnistDirectory.string());
    auto both = as_data_error(
        [] { return data::load_mnist_directory(kFashionMnistDirectory, data::fashion_mnist_class_names()); });
    if (split == CifarSplit::batch1_batch2) {
      splits.train = data::slice(both.train, 0, 10000);
      splits.validation = data::slice(both.train, 10000, 10000);
    } else {
      split_off_validation(splits, both.train, validation_size);
    }
    splits.test = std::move(both.test);
    splits.description = fmt::format(
        "Fashion-MNIST from {} (CIFAR-10 was not found): {} training, {} validation, {} test images",
        kFashionMnistDirectory.string(), splits.train.size(), splits.validation.size(), splits.test.size());
    return splits;
  }
  splits.test = as_data_error([&] { return data::load_cifar10(*cifar, {"test_batch.bin"}); });
  const std::string test_file = (*cifar / "test_batch.bin").string();
  // Each file is valid alone; together they must also agree with the test batch (and so with each other) before
  // they meet in a product.
  const auto load = [&](const std::vector<std::string>& files, const std::string& named) {
    return as_data_error([&] {
      data::ImageDataset loaded = data::load_cifar10(*cifar, files);
      const std::string path = (*cifar / named).string();
      data::check_same_kind(loaded, {path, path}, splits.test, {test_file, test_file});
      return loaded;
    });
  };
  if (split == CifarSplit::batch1_batch2) {
    splits.train = load({"data_batch_1.bin"}, "data_batch_1.bin");
    splits.validation = load({"data_batch_2.bin"}, "data_batch_2.bin");
    splits.description = fmt::format("CIFAR-10 from {}: train data_batch_1, validate data_batch_2, test test_batch",
                                     cifar->string());
  } else {
    split_off_validation(splits,
                         load(data::cifar10_training_batch_names(), "data_batch_1.bin .. data_batch_5.bin"),
                         validation_size);
    splits.description = fmt::format(
        "CIFAR-10 from {}: train data_batch_1..5 less the last {} images, which validate; test test_batch",
        cifar->string(), validation_size);
  }
  return splits;
}

}  // namespace tapegrad::apps
