#include "apps/common/datasets.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "apps/common/app_error.h"
#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/data/idx.h>

namespace tapegrad::apps {
namespace {

const char* const kCifarHint =
    "put CIFAR-10's binary files (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) in that directory: "
    "scripts/get-cifar10.sh fetches and checks them";

// Runs `split` (a load or a split of the library) with its errors as the apps word them: a validation split that
// leaves nothing to train on is bad usage (exit 2), anything else bad data (exit 3).
template <typename Split>
auto as_split_error(Split&& split) {
  return as_data_error([&] {
    try {
      return split();
    } catch (const data::SplitTooLarge& error) {
      throw UsageError(error.what());
    }
  });
}

// The fallback when CIFAR-10 is absent and --data was not given: Fashion-MNIST, split as CIFAR-10 would be.
ImageSplits load_fashion_mnist(CifarSplit split, int validation_size) {
  std::error_code error;
  if (!std::filesystem::exists(kFashionMnistDirectory, error)) {
    throw DataError(
        "no data: CIFAR-10 is not in $CIFAR10_DIR or data/cifar-10-batches-bin, and Fashion-MNIST is not in " +
            kFashionMnistDirectory.string(),
        "run scripts/get-cifar10.sh (or pass --data DIR), or install Debian's dataset-fashion-mnist package");
  }
  spdlog::warn(
      "CIFAR-10 not found (--data, $CIFAR10_DIR, data/cifar-10-batches-bin): running the same study on "
      "Fashion-MNIST from {} instead",
      kFashionMnistDirectory.string());
  auto both = as_data_error(
      [] { return data::load_mnist_directory(kFashionMnistDirectory, data::fashion_mnist_class_names()); });
  auto parts =
      split == CifarSplit::batch1_batch2
          ? data::TrainValidationSplit{data::slice(both.train, 0, 10000), data::slice(both.train, 10000, 10000)}
          : as_split_error([&] { return data::split_holdout(both.train, validation_size); });
  ImageSplits splits{std::move(parts.train), std::move(parts.validation), std::move(both.test), {}};
  splits.description = fmt::format(
      "Fashion-MNIST from {} (CIFAR-10 was not found): {} training, {} validation, {} test images",
      kFashionMnistDirectory.string(), splits.train.size(), splits.validation.size(), splits.test.size());
  return splits;
}

}  // namespace

ImageSplits load_image_splits(const std::optional<std::filesystem::path>& data_flag, CifarSplit split,
                              int validation_size) {
  // --data, when given, must hold CIFAR-10: only the search without it may end in Fashion-MNIST.
  if (data_flag && !data::holds_cifar10(*data_flag)) {
    std::error_code error;
    if (!std::filesystem::is_directory(*data_flag, error)) {
      throw DataError(fmt::format("--data {}: the directory does not exist", data_flag->string()), kCifarHint);
    }
    throw DataError(fmt::format("no CIFAR-10 in {}: data_batch_1.bin is missing", data_flag->string()),
                    kCifarHint);
  }
  const auto cifar = data_flag ? data_flag : data::find_cifar10();
  if (!cifar) return load_fashion_mnist(split, validation_size);
  auto loaded = as_split_error([&] {
    return split == CifarSplit::batch1_batch2 ? data::load_cifar10_first_two_batches(*cifar)
                                              : data::load_cifar10_holdout(*cifar, validation_size);
  });
  return {std::move(loaded.train), std::move(loaded.validation), std::move(loaded.test),
          split == CifarSplit::batch1_batch2
              ? fmt::format("CIFAR-10 from {}: train data_batch_1, validate data_batch_2, test test_batch",
                            cifar->string())
              : fmt::format("CIFAR-10 from {}: train data_batch_1..5 less the last {} images, which validate; "
                            "test test_batch",
                            cifar->string(), validation_size)};
}

}  // namespace tapegrad::apps
