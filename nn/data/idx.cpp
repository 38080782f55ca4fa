#include <tapegrad/nn/data/idx.h>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/data/byte_source.h>

namespace tapegrad::data {
namespace {

const char* const what_to_do =
    "give the folder that holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte (plain or .gz); on Debian, apt-get install dataset-fashion-mnist puts Fashion-MNIST "
    "in "
    "/usr/share/datasets/fashion-mnist";

// A gzip file's size says little about how much it holds, so a header is believed only up to this much data,
// and the buffer grows from first_gzip_chunk as decompressed bytes actually arrive.
constexpr std::uint64_t max_gzip_payload = std::uint64_t{1} << 34;
constexpr std::uint64_t first_gzip_chunk = std::uint64_t{1} << 20;
// No IDX image is this large; a header saying so is damaged or belongs to something else.
constexpr std::uint64_t max_image_pixels = std::uint64_t{1} << 24;
constexpr std::uint32_t unsigned_byte_type = 0x08;

std::uint32_t big_endian_32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

std::string magic_hint(std::uint32_t magic) {
  if (magic == 0x00000803) return " (this is an IDX images file: were the images and labels files swapped?)";
  if (magic == 0x00000801) return " (this is an IDX labels file: were the images and labels files swapped?)";
  if ((magic >> 16) != 0) return " (this is not an IDX file: its first two bytes must be zero)";
  if (((magic >> 8) & 0xff) != unsigned_byte_type) return " (the element type is not unsigned byte, 0x08)";
  return "";
}

// Reads and checks the magic number and the sizes; returns the sizes.
std::vector<std::uint32_t> read_header(detail::ByteSource& source, const std::filesystem::path& file,
                                       const std::vector<std::string>& dimension_names, const std::string& kind) {
  const auto dimensions = static_cast<std::uint32_t>(dimension_names.size());
  const std::size_t header_bytes = 4 + 4 * dimension_names.size();
  std::uint8_t header[16] = {};
  const std::size_t got = source.read(header, header_bytes);
  const std::uint32_t expected_magic = (unsigned_byte_type << 8) | dimensions;
  if (got < 4)
    throw_error(
        fmt::format("{}: the file holds only {} bytes, too few for an IDX header ({} bytes for an IDX {} file)",
                    file.string(), got, header_bytes, kind));
  const std::uint32_t magic = big_endian_32(header);
  if (magic != expected_magic)
    throw_error(
        fmt::format("{}: wrong magic number 0x{:08x} at byte offset 0, expected 0x{:08x} for an IDX {} file "
                    "(unsigned bytes, {} dimensions){}",
                    file.string(), magic, expected_magic, kind, dimensions, magic_hint(magic)));
  if (got < header_bytes)
    throw_error(
        fmt::format("{}: the IDX header is cut short: the data ends at byte offset {}, the header needs {} "
                    "bytes",
                    file.string(), got, header_bytes));
  std::vector<std::uint32_t> sizes;
  for (std::size_t k = 0; k < dimension_names.size(); ++k) {
    sizes.push_back(big_endian_32(header + 4 + 4 * k));
    if (sizes.back() == 0)
      throw_error(fmt::format("{}: the {} at byte offset {} is 0; the file holds no data", file.string(),
                              dimension_names[k], 4 + 4 * k));
  }
  if (sizes[0] > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
    throw_error(
        fmt::format("{}: the header claims {} {} (byte offset 4), more than a dataset can hold ({}); the "
                    "header is damaged",
                    file.string(), sizes[0], kind, std::numeric_limits<int>::max()));
  return sizes;
}

// Reads the `payload` bytes that follow a `header_bytes` header into storage obtained from `reserve(capacity)`,
// which must return room for `capacity` bytes keeping what is already there. `claim` says in words what the
// header claims, for the messages.
void read_payload(detail::ByteSource& source, const std::filesystem::path& file, std::uint64_t header_bytes,
                  std::uint64_t payload, const std::string& claim,
                  const std::function<std::uint8_t*(std::uint64_t)>& reserve) {
  const std::uint64_t total = header_bytes + payload;
  if (const auto size = source.known_size()) {
    if (*size < total)
      throw_error(
          fmt::format("{}: the data is shorter than the header claims: {} make {} bytes after the {}-byte "
                      "header, {} bytes in all, but the file has {} bytes, so the data ends at byte offset "
                      "{}; the file is truncated or damaged, download it again",
                      file.string(), claim, payload, header_bytes, total, *size, *size));
    if (*size > total)
      throw_error(
          fmt::format("{}: the data is longer than the header claims: {} make {} bytes in all, but the file "
                      "has {} bytes; {} extra bytes start at byte offset {}",
                      file.string(), claim, total, *size, *size - total, total));
  } else if (payload > max_gzip_payload) {
    throw_error(
        fmt::format("{}: the header claims {}, {} bytes of data, more than the {} GiB this reader accepts "
                    "from a compressed file; the header is damaged",
                    file.string(), claim, payload, max_gzip_payload >> 30));
  }

  // A plain file has been measured, so its data is read in one go; a compressed one grows as it arrives.
  std::uint64_t capacity = source.known_size() ? payload : std::min(payload, first_gzip_chunk);
  std::uint8_t* data = reserve(capacity);
  std::uint64_t have = 0;
  while (have < payload) {
    if (have == capacity) {
      capacity = std::min(payload, 2 * capacity);
      data = reserve(capacity);
    }
    const std::size_t got = source.read(data + have, static_cast<std::size_t>(capacity - have));
    if (got == 0)
      throw_error(fmt::format(
          "{}: the {}data is shorter than the header claims: {} make {} bytes in all, but the "
          "data ends at byte offset {}; the file is truncated or damaged, download it again",
          file.string(), source.compressed() ? "decompressed " : "", claim, total, header_bytes + have));
    have += got;
  }
  std::uint8_t extra = 0;
  if (source.read(&extra, 1) != 0)
    throw_error(
        fmt::format("{}: the {}data is longer than the header claims: {} make {} bytes in all, but more data "
                    "starts at byte offset {}",
                    file.string(), source.compressed() ? "decompressed " : "", claim, total, total));
}

std::filesystem::path first_existing(const std::filesystem::path& directory, const std::string& prefix,
                                     const std::string& kind, const std::string& idx_suffix) {
  std::vector<std::filesystem::path> tried;
  for (const char* separator : {"-", "."}) {
    for (const char* extension : {"", ".gz"}) {
      tried.push_back(directory / (prefix + "-" + kind + separator + idx_suffix + extension));
      if (std::filesystem::is_regular_file(tried.back())) return tried.back();
    }
  }
  std::string names;
  for (const auto& path : tried) names += (names.empty() ? "" : ", ") + path.filename().string();
  throw_error(
      fmt::format("no {} {} file in {} (looked for {}); {}", prefix, kind, directory.string(), names, what_to_do));
}

}  // namespace

IdxImages load_idx_images(const std::filesystem::path& file) {
  auto source = detail::open_byte_source(file, what_to_do);
  const auto sizes = read_header(*source, file, {"image count", "row count", "column count"}, "images");
  const std::uint64_t pixels_per_image = std::uint64_t{sizes[1]} * sizes[2];
  if (pixels_per_image > max_image_pixels)
    throw_error(
        fmt::format("{}: the header claims images of {} x {} pixels (byte offsets 8 and 12), more than {}; "
                    "the header is damaged",
                    file.string(), sizes[1], sizes[2], max_image_pixels));
  IdxImages images;
  images.rows = static_cast<int>(sizes[1]);
  images.cols = static_cast<int>(sizes[2]);
  const auto features = static_cast<Eigen::Index>(pixels_per_image);
  const std::string claim = fmt::format("{} images of {} x {} pixels", sizes[0], sizes[1], sizes[2]);
  const std::uint64_t payload = sizes[0] * pixels_per_image;
  if (source->known_size()) {
    // A plain file's size has been checked against the header before the one allocation: read into the pixels.
    read_payload(*source, file, 16, payload, claim, [&](std::uint64_t capacity) {
      images.pixels.resize(features, static_cast<Eigen::Index>(capacity / pixels_per_image));
      return images.pixels.data();
    });
    return images;
  }
  // A compressed file proves its size only as it decompresses, and one image alone can be far larger than the
  // first chunk (up to 16 MiB), so the bytes gather in a buffer that grows with what has arrived, and become the
  // pixels once they are all there.
  std::vector<std::uint8_t> bytes;
  read_payload(*source, file, 16, payload, claim, [&](std::uint64_t capacity) {
    bytes.resize(capacity);
    return bytes.data();
  });
  images.pixels = Eigen::Map<const PixelMatrix>(bytes.data(), features, static_cast<Eigen::Index>(sizes[0]));
  return images;
}

std::vector<int> load_idx_labels(const std::filesystem::path& file) {
  auto source = detail::open_byte_source(file, what_to_do);
  const auto sizes = read_header(*source, file, {"label count"}, "labels");
  std::vector<std::uint8_t> bytes;
  read_payload(*source, file, 8, sizes[0], fmt::format("{} labels", sizes[0]), [&](std::uint64_t capacity) {
    bytes.resize(capacity);
    return bytes.data();
  });
  return {bytes.begin(), bytes.end()};
}

std::vector<std::string> digit_class_names() {
  std::vector<std::string> names;
  for (int digit = 0; digit < 10; ++digit) names.push_back(std::to_string(digit));
  return names;
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

ImageDataset load_mnist(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
                        std::vector<std::string> class_names) {
  IdxImages images = load_idx_images(images_file);
  std::vector<int> labels = load_idx_labels(labels_file);
  if (class_names.empty()) class_names = digit_class_names();
  if (images.pixels.cols() != static_cast<Eigen::Index>(labels.size()))
    throw_error(
        fmt::format("{} holds {} images but {} holds {} labels; the images and labels must come from the "
                    "same split (train-* with train-*, t10k-* with t10k-*)",
                    images_file.string(), images.pixels.cols(), labels_file.string(), labels.size()));
  const int num_classes = static_cast<int>(class_names.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes)
      throw_error(fmt::format("{}: label {} at byte offset {} (label number {}) is outside 0..{} ({} classes)",
                              labels_file.string(), labels[i], 8 + i, i, num_classes - 1, num_classes));
  }
  ImageDataset dataset;
  dataset.pixels = std::move(images.pixels);
  dataset.labels = std::move(labels);
  dataset.shape = {1, images.rows, images.cols};
  dataset.class_names = std::move(class_names);
  return dataset;
}

MnistFiles find_mnist_files(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory))
    throw_error(fmt::format("MNIST-format data folder not found: {}; {}", directory.string(), what_to_do));
  MnistFiles files;
  files.train_images = first_existing(directory, "train", "images", "idx3-ubyte");
  files.train_labels = first_existing(directory, "train", "labels", "idx1-ubyte");
  files.test_images = first_existing(directory, "t10k", "images", "idx3-ubyte");
  files.test_labels = first_existing(directory, "t10k", "labels", "idx1-ubyte");
  return files;
}

TrainTestDatasets load_mnist_directory(const std::filesystem::path& directory,
                                       const std::vector<std::string>& class_names) {
  const MnistFiles files = find_mnist_files(directory);
  TrainTestDatasets loaded{load_mnist(files.train_images, files.train_labels, class_names),
                           load_mnist(files.test_images, files.test_labels, class_names)};
  check_same_kind(loaded.train, {files.train_images.string(), files.train_labels.string()}, loaded.test,
                  {files.test_images.string(), files.test_labels.string()});
  return loaded;
}

}  // namespace tapegrad::data
