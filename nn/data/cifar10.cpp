#include <tapegrad/nn/data/cifar10.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/data/byte_source.h>

namespace tapegrad::data {
namespace {

const char* const what_to_do =
    "give the folder that holds CIFAR-10's binary version, data_batch_1.bin .. data_batch_5.bin and "
    "test_batch.bin (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpacked)";

constexpr int pixel_bytes = cifar10_record_bytes - 1;
// Records are read in blocks of this many, so a batch file passes through a 3 MB buffer on its way to the
// pixel matrix instead of being held twice.
constexpr std::uint64_t records_per_block = 1024;

// The number of records in a file of `size` bytes, from the size alone, before anything is allocated.
int record_count(const std::filesystem::path& file, std::uint64_t size) {
  if (size == 0)
    throw_error(
        fmt::format("{}: the file is empty (0 bytes); a CIFAR-10 batch is a sequence of {}-byte records "
                    "(1 label byte + {} pixel bytes); {}",
                    file.string(), cifar10_record_bytes, pixel_bytes, what_to_do));
  const std::uint64_t whole_records = size / cifar10_record_bytes;
  const std::uint64_t leftover = size % cifar10_record_bytes;
  if (leftover != 0)
    throw_error(
        fmt::format("{}: truncated or oversized: {} bytes is not a whole number of {}-byte records; the last "
                    "record starts at offset {} and has only {} bytes (after {} whole records); {}",
                    file.string(), size, cifar10_record_bytes, whole_records * cifar10_record_bytes, leftover,
                    whole_records, what_to_do));
  if (whole_records > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw_error(fmt::format("{}: {} records are more than a dataset can index", file.string(), whole_records));
  return static_cast<int>(whole_records);
}

// Reads `count` records of `file` into columns first_column .. first_column + count - 1 of `dataset`.
void read_records(const std::filesystem::path& file, int count, ImageDataset& dataset, int first_column) {
  auto source = detail::open_byte_source(file, what_to_do);
  if (source->compressed())
    throw_error(
        fmt::format("{}: the file is gzip-compressed; CIFAR-10 batches are read as the plain .bin files "
                    "inside cifar-10-binary.tar.gz (extract the archive first)",
                    file.string()));
  std::vector<std::uint8_t> block(std::min<std::uint64_t>(static_cast<std::uint64_t>(count), records_per_block) *
                                  cifar10_record_bytes);
  int record = 0;
  while (record < count) {
    const int in_block = static_cast<int>(std::min<std::uint64_t>(records_per_block, count - record));
    const std::size_t wanted = static_cast<std::size_t>(in_block) * cifar10_record_bytes;
    const std::uint64_t block_offset = source->offset();
    if (source->read(block.data(), wanted) != wanted)
      throw_error(
          fmt::format("{}: the file ended at byte offset {} while reading record {} of {}; it changed while "
                      "being read, or is on a failing disk",
                      file.string(), source->offset(), record, count));
    for (int i = 0; i < in_block; ++i) {
      const std::uint8_t* bytes = block.data() + static_cast<std::size_t>(i) * cifar10_record_bytes;
      const int label = bytes[0];
      if (label >= cifar10_num_classes)
        throw_error(
            fmt::format("{}: label {} at byte offset {} (record {}) is outside 0..{}; this is not a CIFAR-10 "
                        "batch (CIFAR-100 records, for one, start with two label bytes)",
                        file.string(), label, block_offset + static_cast<std::uint64_t>(i) * cifar10_record_bytes,
                        record + i, cifar10_num_classes - 1));
      const int column = first_column + record + i;
      std::memcpy(dataset.pixels.col(column).data(), bytes + 1, pixel_bytes);
      dataset.labels[static_cast<std::size_t>(column)] = label;
    }
    record += in_block;
  }
}

std::string trimmed(const std::string& line) {
  const char* space = " \t\r\n";
  const auto first = line.find_first_not_of(space);
  if (first == std::string::npos) return {};
  return line.substr(first, line.find_last_not_of(space) - first + 1);
}

ImageDataset load_files(const std::vector<std::filesystem::path>& files, std::vector<std::string> class_names) {
  std::vector<int> counts;
  std::uint64_t total = 0;
  for (const auto& file : files) {
    counts.push_back(record_count(file, detail::existing_file_size(file, what_to_do)));
    total += static_cast<std::uint64_t>(counts.back());
  }
  if (total > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw_error(fmt::format("load_cifar10: {} records in all are more than a dataset can index", total));

  ImageDataset dataset;
  dataset.shape = cifar10_image_shape;
  dataset.class_names = std::move(class_names);
  dataset.pixels.resize(pixel_bytes, static_cast<Eigen::Index>(total));
  dataset.labels.resize(total);
  int column = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    read_records(files[i], counts[i], dataset, column);
    column += counts[i];
  }
  return dataset;
}

// Reads `files` of `directory` and checks them against `test`; `named` stands for the files in messages.
ImageDataset load_checked(const std::filesystem::path& directory, const std::vector<std::string>& files,
                          const std::string& named, const ImageDataset& test) {
  ImageDataset loaded = load_cifar10(directory, files);
  const std::string path = (directory / named).string();
  const std::string test_file = (directory / cifar10_test_batch_name()).string();
  check_same_kind(loaded, {path, path}, test, {test_file, test_file});
  return loaded;
}

}  // namespace

Cifar10Splits load_cifar10_first_two_batches(const std::filesystem::path& directory) {
  Cifar10Splits splits;
  splits.test = load_cifar10(directory, {cifar10_test_batch_name()});
  splits.train = load_checked(directory, {"data_batch_1.bin"}, "data_batch_1.bin", splits.test);
  splits.validation = load_checked(directory, {"data_batch_2.bin"}, "data_batch_2.bin", splits.test);
  return splits;
}

Cifar10Splits load_cifar10_holdout(const std::filesystem::path& directory, int validation_size) {
  Cifar10Splits splits;
  splits.test = load_cifar10(directory, {cifar10_test_batch_name()});
  auto parts = split_holdout(
      load_checked(directory, cifar10_training_batch_names(), "data_batch_1.bin .. data_batch_5.bin", splits.test),
      validation_size);
  splits.train = std::move(parts.train);
  splits.validation = std::move(parts.validation);
  return splits;
}

std::vector<std::string> cifar10_training_batch_names() {
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back(fmt::format("data_batch_{}.bin", i));
  return names;
}

std::string cifar10_test_batch_name() { return "test_batch.bin"; }

bool holds_cifar10(const std::filesystem::path& directory) {
  std::error_code unreadable_counts_as_absent;
  return std::filesystem::exists(directory / "data_batch_1.bin", unreadable_counts_as_absent);
}

std::optional<std::filesystem::path> find_cifar10(const std::filesystem::path& fallback) {
  if (const char* variable = std::getenv("CIFAR10_DIR");
      variable != nullptr && *variable != '\0' && holds_cifar10(variable))
    return std::filesystem::path(variable);
  if (holds_cifar10(fallback)) return fallback;
  return std::nullopt;
}

std::vector<std::string> load_cifar10_class_names(const std::filesystem::path& directory) {
  const auto meta = directory / "batches.meta.txt";
  std::vector<std::string> names;
  if (!std::filesystem::exists(meta)) {
    for (int i = 0; i < cifar10_num_classes; ++i) names.push_back(std::to_string(i));
    return names;
  }
  std::ifstream in(meta);
  if (!in) throw_error(fmt::format("cannot open {}", meta.string()));
  std::string line;
  while (std::getline(in, line)) {
    std::string name = trimmed(line);
    if (!name.empty()) names.push_back(std::move(name));
  }
  if (static_cast<int>(names.size()) != cifar10_num_classes)
    throw_error(
        fmt::format("{}: expected {} class names, one per line, but found {}; restore the file from the "
                    "CIFAR-10 archive or delete it to use the names 0..9",
                    meta.string(), cifar10_num_classes, names.size()));
  return names;
}

ImageDataset load_cifar10_batch(const std::filesystem::path& file) {
  detail::existing_file_size(file, what_to_do);
  return load_files({file}, load_cifar10_class_names(file.parent_path()));
}

ImageDataset load_cifar10(const std::filesystem::path& directory, const std::vector<std::string>& batch_files) {
  if (batch_files.empty())
    throw_error(
        "load_cifar10: no batch files given; name some of data_batch_1.bin .. data_batch_5.bin, "
        "test_batch.bin");
  if (!std::filesystem::is_directory(directory))
    throw_error(fmt::format("CIFAR-10 folder not found: {}; {}", directory.string(), what_to_do));
  std::vector<std::filesystem::path> files;
  for (const auto& name : batch_files) files.push_back(directory / name);
  return load_files(files, load_cifar10_class_names(directory));
}

}  // namespace tapegrad::data
