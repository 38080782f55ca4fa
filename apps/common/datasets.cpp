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

}  // namespace

ImageSplits load_image_splits(const std::optional<std::filesystem::path>& data_flag, CifarSplit split,
                              int validation_size) {
  const auto cifar = find_cifar10(data_flag);
  if (!cifar) {
    if (data_flag) {
      std::error_code error;
      if (!std::filesystem::is_directory(*data_flag, error)) {
        throw DataError(fmt::format("--data {}: the directory does not exist", data_flag->string()), kCifarHint);
      }
      throw DataError(fmt::format("no CIFAR-10 in {}: data_batch_1.bin is missing", data_flag->string()), kCifarHint);
    }
    std::error_code ignored;
    if (!std::filesystem::exists(kFashionMnistDirectory, ignored)) {
      throw DataError(
          "no data: CIFAR-10 is not in $CIFAR10_DIR or data/cifar-10-batches-bin, and Fashion-MNIST is not in " +
              kFashionMnistDirectory.string(),
          "run scripts/get-cifar10.sh (or pass --data DIR), or install Debian's dataset-fashion-mnist package");
    }
    spdlog::warn("CIFAR-10 not found (--data, $CIFAR10_DIR, data/cifar-10-batches-bin): running the same study on "
                 "Fashion-MNIST from {} instead",
                 kFashionMnistDirectory.string());
    auto both = as_data_error([] {
      return data::load_mnist_directory(kFashionMnistDirectory, data::fashion_mnist_class_names());
    });
    ImageSplits splits;
    if (split == CifarSplit::batch1_batch2) {
      splits.train = data::slice(both.train, 0, 10000);
      splits.validation = data::slice(both.train, 10000, 10000);
    } else {
      auto parts = data::split_last(both.train, validation_size);
      splits.train = std::move(parts.train);
      splits.validation = std::move(parts.validation);
    }
    splits.test = std::move(both.test);
    splits.description = fmt::format(
        "Fashion-MNIST from {} (CIFAR-10 was not found): {} training, {} validation, {} test images",
        kFashionMnistDirectory.string(), splits.train.size(), splits.validation.size(), splits.test.size());
    return splits;
  }

  ImageSplits splits;
  const auto sources = [&](const std::string& files) {
    const std::string path = (*cifar / files).string();
    return data::DatasetSources{path, path};
  };
  data::ImageDataset test = as_data_error([&] { return data::load_cifar10(*cifar, {"test_batch.bin"}); });
  // Each file is valid alone; together they must also agree before they meet in a product.
  const auto check_against_test = [&](const data::ImageDataset& dataset, const std::string& files) {
    as_data_error([&] { data::check_same_kind(dataset, sources(files), test, sources("test_batch.bin")); });
  };
  if (split == CifarSplit::batch1_batch2) {
    splits.train = as_data_error([&] { return data::load_cifar10(*cifar, {"data_batch_1.bin"}); });
    splits.validation = as_data_error([&] { return data::load_cifar10(*cifar, {"data_batch_2.bin"}); });
    check_against_test(splits.train, "data_batch_1.bin");
    as_data_error([&] {
      data::check_same_kind(splits.train, sources("data_batch_1.bin"), splits.validation, sources("data_batch_2.bin"));
    });
    splits.description = fmt::format("CIFAR-10 from {}: train data_batch_1, validate data_batch_2, test test_batch",
                                     cifar->string());
  } else {
    auto all = as_data_error([&] { return data::load_cifar10(*cifar, data::cifar10_training_batch_names()); });
    check_against_test(all, "data_batch_1.bin .. data_batch_5.bin");
    if (validation_size >= all.size()) {
      throw UsageError(fmt::format("the validation split ({}) must be smaller than the {} training images",
                                   validation_size, all.size()));
    }
    auto parts = data::split_last(all, validation_size);
    splits.train = std::move(parts.train);
    splits.validation = std::move(parts.validation);
    splits.description = fmt::format(
        "CIFAR-10 from {}: train data_batch_1..5 less the last {} images, which validate; test test_batch",
        cifar->string(), validation_size);
  }
  splits.test = std::move(test);
  return splits;
}

}  // namespace tapegrad::apps
