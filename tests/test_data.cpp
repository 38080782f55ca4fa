// Tests of nn/data: the CIFAR-10 and IDX readers on small files written here (plain and gzip), every kind of bad
// file they must refuse, normalisation, splits, flips and the batch loader.
#include "tests/support/test_data.h"

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/data/data.h>

using Catch::Contains;
using tapegrad::Generator;
using tapegrad::testing::read_bytes;
using tapegrad::testing::real_cifar10;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
namespace data = tapegrad::data;

namespace {

// A pixel value that differs between neighbouring positions and images, so that any mix-up shows.
std::uint8_t pattern(int image, int position) {
  return static_cast<std::uint8_t>((image * 31 + position * 7 + 3) % 256);
}

std::string cifar_record(int label, int image) {
  std::string record(1, static_cast<char>(label));
  for (int i = 0; i < 3072; ++i) record += static_cast<char>(pattern(image, i));
  return record;
}

std::string cifar_file(const std::vector<int>& labels, int first_image = 0) {
  std::string bytes;
  for (std::size_t i = 0; i < labels.size(); ++i)
    bytes += cifar_record(labels[i], first_image + static_cast<int>(i));
  return bytes;
}

std::string big_endian(std::uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i)
    bytes[static_cast<std::size_t>(i)] = static_cast<char>((value >> (24 - 8 * i)) & 0xff);
  return bytes;
}

std::string idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, int images_written) {
  std::string bytes = big_endian(0x00000803) + big_endian(count) + big_endian(rows) + big_endian(cols);
  for (int image = 0; image < images_written; ++image)
    for (std::uint32_t i = 0; i < rows * cols; ++i)
      bytes += static_cast<char>(pattern(image, static_cast<int>(i)));
  return bytes;
}

std::string idx_labels(const std::vector<int>& labels) {
  std::string bytes = big_endian(0x00000801) + big_endian(static_cast<std::uint32_t>(labels.size()));
  for (int label : labels) bytes += static_cast<char>(label);
  return bytes;
}

std::string gzip(const std::string& raw) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&stream, static_cast<uLong>(raw.size())) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  REQUIRE(static_cast<unsigned char>(out[0]) == 0x1f);
  return out;
}

// A dataset of `count` images of `shape` whose pixels follow pattern() and whose labels cycle through the classes.
data::ImageDataset make_dataset(int count, data::ImageShape shape, int num_classes) {
  data::ImageDataset dataset;
  dataset.shape = shape;
  dataset.pixels.resize(shape.features(), count);
  for (int image = 0; image < count; ++image) {
    for (int i = 0; i < shape.features(); ++i) dataset.pixels(i, image) = pattern(image, i);
    dataset.labels.push_back(image % num_classes);
  }
  for (int k = 0; k < num_classes; ++k) dataset.class_names.push_back("class " + std::to_string(k));
  return dataset;
}

// Limits the address space of this process to what it uses now plus `headroom`, so that a reader that
// allocated what a lying header claims would fail with std::bad_alloc instead of a tapegrad::Error. Not under
// AddressSanitizer, whose shadow memory does not mix with such limits.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(std::uint64_t headroom) {
#if !defined(__SANITIZE_ADDRESS__)
    active_ = getrlimit(RLIMIT_AS, &saved_) == 0;
    std::ifstream statm("/proc/self/statm");
    std::uint64_t pages = 0;
    if (!(statm >> pages)) active_ = false;
    if (!active_) return;
    rlimit limit = saved_;
    const std::uint64_t wanted = pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) + headroom;
    if (saved_.rlim_cur == RLIM_INFINITY || wanted < saved_.rlim_cur) limit.rlim_cur = wanted;
    active_ = setrlimit(RLIMIT_AS, &limit) == 0;
#else
    (void)headroom;
#endif
  }
  ~AddressSpaceLimit() {
    if (active_) setrlimit(RLIMIT_AS, &saved_);
  }
  AddressSpaceLimit(const AddressSpaceLimit&) = delete;
  AddressSpaceLimit& operator=(const AddressSpaceLimit&) = delete;

 private:
  rlimit saved_{};
  bool active_ = false;
};

constexpr std::uint64_t one_gibibyte = std::uint64_t{1} << 30;

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// CIFAR-10

TEST_CASE("CIFAR-10 batch: labels and pixels round trip exactly, in the file's byte order", "[data][cifar]") {
  TempDir dir("cifar");
  const std::vector<int> labels = {3, 0, 9, 5};
  write_bytes(dir / "data_batch_1.bin", cifar_file(labels));

  const data::ImageDataset batch = data::load_cifar10_batch(dir / "data_batch_1.bin");
  REQUIRE(batch.size() == 4);
  REQUIRE(batch.shape == data::ImageShape{3, 32, 32});
  REQUIRE(batch.pixels.rows() == 3072);
  REQUIRE(batch.pixels.cols() == 4);
  REQUIRE(batch.labels == labels);
  REQUIRE(batch.num_classes() == 10);
  REQUIRE(batch.class_names.front() == "0");
  REQUIRE(batch.class_names.back() == "9");
  int mismatches = 0;
  for (int image = 0; image < 4; ++image)
    for (int i = 0; i < 3072; ++i) mismatches += batch.pixels(i, image) != pattern(image, i);
  REQUIRE(mismatches == 0);
  // Spot checks against the raw file: green plane, row 5, column 7 of image 2 is byte 1 + 1024 + 5 * 32 + 7 of
  // record 2.
  const std::string raw = read_bytes(dir / "data_batch_1.bin");
  const std::size_t green_5_7 = 1024 + 5 * 32 + 7;
  REQUIRE(batch.pixels(static_cast<Eigen::Index>(green_5_7), 2) ==
          static_cast<std::uint8_t>(raw[2 * 3073 + 1 + green_5_7]));
  REQUIRE(batch.pixels(3071, 3) == static_cast<std::uint8_t>(raw[4 * 3073 - 1]));
}

TEST_CASE("CIFAR-10: class names come from batches.meta.txt", "[data][cifar]") {
  TempDir dir("cifar");
  write_bytes(dir / "test_batch.bin", cifar_file({1, 2}));
  write_bytes(dir / "batches.meta.txt",
              "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  const auto test = data::load_cifar10(dir.path(), {data::cifar10_test_batch_name()});
  REQUIRE(test.class_names.size() == 10);
  REQUIRE(test.class_names[1] == "automobile");
  REQUIRE(test.class_names[9] == "truck");
  REQUIRE(data::load_cifar10_batch(dir / "test_batch.bin").class_names[3] == "cat");

  write_bytes(dir / "batches.meta.txt", "airplane\nautomobile\n");
  REQUIRE_THROWS_WITH(data::load_cifar10(dir.path(), {"test_batch.bin"}),
                      Contains("batches.meta.txt") && Contains("expected 10 class names") && Contains("found 2"));
}

TEST_CASE("CIFAR-10: batches concatenate in the order given", "[data][cifar]") {
  TempDir dir("cifar");
  write_bytes(dir / "data_batch_1.bin", cifar_file({1, 2, 3}, 0));
  write_bytes(dir / "data_batch_2.bin", cifar_file({7, 8}, 3));
  REQUIRE(data::cifar10_training_batch_names().size() == 5);
  REQUIRE(data::cifar10_training_batch_names()[1] == "data_batch_2.bin");

  const auto both = data::load_cifar10(dir.path(), {"data_batch_2.bin", "data_batch_1.bin"});
  REQUIRE(both.size() == 5);
  REQUIRE(both.labels == std::vector<int>{7, 8, 1, 2, 3});
  // Column 0 is image 3 (first record of batch 2), column 2 is image 0.
  REQUIRE(both.pixels(100, 0) == pattern(3, 100));
  REQUIRE(both.pixels(100, 2) == pattern(0, 100));

  const auto first = data::load_cifar10_batch(dir / "data_batch_1.bin");
  const auto second = data::load_cifar10_batch(dir / "data_batch_2.bin");
  const auto joined = data::concatenate({second, first});
  REQUIRE(joined.labels == both.labels);
  REQUIRE(joined.pixels == both.pixels);
}

TEST_CASE("CIFAR-10: a missing file or folder says which and what to do", "[data][cifar][errors]") {
  TempDir dir("cifar");
  write_bytes(dir / "data_batch_1.bin", cifar_file({1}));
  REQUIRE_THROWS_AS(data::load_cifar10(dir.path(), {"data_batch_1.bin", "data_batch_4.bin"}), tapegrad::Error);
  REQUIRE_THROWS_WITH(data::load_cifar10(dir.path(), {"data_batch_1.bin", "data_batch_4.bin"}),
                      Contains("not found") && Contains("data_batch_4.bin") &&
                          Contains("give the folder that holds CIFAR-10's binary version") &&
                          Contains("cifar-10-binary.tar.gz"));
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(dir / "nothing.bin"),
                      Contains("nothing.bin") && Contains("not found"));
  REQUIRE_THROWS_WITH(data::load_cifar10(dir / "no-such-folder", {"data_batch_1.bin"}),
                      Contains("no-such-folder") && Contains("give the folder that holds"));
  REQUIRE_THROWS_WITH(data::load_cifar10(dir.path(), {}), Contains("no batch files"));
}

TEST_CASE("CIFAR-10: empty, truncated and oversized files are refused from their size", "[data][cifar][errors]") {
  TempDir dir("cifar");
  const auto file = dir / "data_batch_1.bin";

  write_bytes(file, "");
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file), Contains("data_batch_1.bin") && Contains("empty"));

  const std::string two_records = cifar_file({1, 2});
  write_bytes(file, two_records + std::string(100, '\x01'));
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file),
                      Contains("data_batch_1.bin") && Contains("truncated or oversized") &&
                          Contains("6246 bytes is not a whole number of 3073-byte records") &&
                          Contains("the last record starts at offset 6146"));

  write_bytes(file, two_records.substr(0, 3072));
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file), Contains("3072 bytes is not a whole number") &&
                                                          Contains("the last record starts at offset 0"));

  write_bytes(file, two_records + "x");
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file),
                      Contains("the last record starts at offset 6146 and has only 1"));

  // One bad file among good ones fails the whole load before anything is read.
  write_bytes(dir / "data_batch_2.bin", two_records);
  REQUIRE_THROWS_WITH(data::load_cifar10(dir.path(), {"data_batch_2.bin", "data_batch_1.bin"}),
                      Contains("data_batch_1.bin") && Contains("truncated or oversized"));
}

TEST_CASE("CIFAR-10: a label above 9 is reported with its byte offset", "[data][cifar][errors]") {
  TempDir dir("cifar");
  const auto file = dir / "data_batch_3.bin";
  write_bytes(file, cifar_file({0, 9, 10, 1}));
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file), Contains("data_batch_3.bin") && Contains("label 10") &&
                                                          Contains("byte offset 6146") && Contains("record 2"));
  write_bytes(file, cifar_file({255}));
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(file), Contains("label 255 at byte offset 0"));
}

TEST_CASE("CIFAR-10: a gzip-compressed batch is refused with advice", "[data][cifar][errors]") {
  TempDir dir("cifar");
  write_bytes(dir / "data_batch_1.bin", gzip(cifar_file({1, 2})));
  // The compressed size is not a multiple of 3073, so pad it to one: the refusal must come from the magic bytes.
  std::string compressed = read_bytes(dir / "data_batch_1.bin");
  compressed.resize(3073, '\0');
  write_bytes(dir / "data_batch_1.bin", compressed);
  REQUIRE_THROWS_WITH(data::load_cifar10_batch(dir / "data_batch_1.bin"), Contains("gzip-compressed"));
}

TEST_CASE("CIFAR-10 splits: data_batch_1 trains, data_batch_2 validates, test_batch tests", "[data][cifar]") {
  TempDir dir("cifar");
  write_bytes(dir / "data_batch_1.bin", cifar_file({9, 0, 3}, 0));
  write_bytes(dir / "data_batch_2.bin", cifar_file({1, 9}, 3));
  write_bytes(dir / "data_batch_3.bin", cifar_file({5}, 5));  // not part of this split
  write_bytes(dir / "test_batch.bin", cifar_file({2, 9, 4, 7}, 6));
  const data::Cifar10Splits splits = data::load_cifar10_first_two_batches(dir.path());
  REQUIRE(splits.train.labels == std::vector<int>{9, 0, 3});
  REQUIRE(splits.validation.labels == std::vector<int>{1, 9});
  REQUIRE(splits.test.labels == std::vector<int>{2, 9, 4, 7});
  REQUIRE(splits.train.pixels(17, 2) == pattern(2, 17));
  REQUIRE(splits.validation.pixels(17, 0) == pattern(3, 17));
  REQUIRE(splits.test.pixels(3071, 3) == pattern(9, 3071));
  REQUIRE(splits.validation.shape == data::cifar10_image_shape);
}

TEST_CASE("CIFAR-10 splits: the holdout validates on the last images of all five batches", "[data][cifar]") {
  TempDir dir("cifar");
  for (int batch = 0; batch < 5; ++batch)
    write_bytes(dir / data::cifar10_training_batch_names()[static_cast<std::size_t>(batch)],
                cifar_file({batch, 9 - batch}, 2 * batch));
  write_bytes(dir / "test_batch.bin", cifar_file({0, 9}, 10));
  const data::Cifar10Splits splits = data::load_cifar10_holdout(dir.path(), 3);
  REQUIRE(splits.train.labels == std::vector<int>{0, 9, 1, 8, 2, 7, 3});
  REQUIRE(splits.validation.labels == std::vector<int>{6, 4, 5});
  REQUIRE(splits.validation.pixels(100, 0) == pattern(7, 100));
  REQUIRE(splits.train.pixels(100, 6) == pattern(6, 100));
  REQUIRE(splits.test.size() == 2);
  REQUIRE(data::load_cifar10_holdout(dir.path(), 0).validation.size() == 0);

  // Nothing left to train on is a mistake in the size asked for, its own type.
  REQUIRE_THROWS_AS(data::load_cifar10_holdout(dir.path(), 10), data::SplitTooLarge);
  REQUIRE_THROWS_WITH(data::load_cifar10_holdout(dir.path(), 10),
                      "the validation split (10) must be smaller than the 10 training images");
}

TEST_CASE("CIFAR-10 splits: a file missing or unlike the test batch is named", "[data][cifar][errors]") {
  TempDir dir("cifar");
  for (const auto& name : data::cifar10_training_batch_names()) write_bytes(dir / name, cifar_file({9, 1}));
  REQUIRE_THROWS_WITH(data::load_cifar10_first_two_batches(dir.path()),
                      Contains("test_batch.bin") && Contains("not found"));
  write_bytes(dir / "test_batch.bin", cifar_file({0, 9}));
  std::filesystem::remove(dir / "data_batch_2.bin");
  REQUIRE_THROWS_WITH(data::load_cifar10_first_two_batches(dir.path()),
                      Contains("data_batch_2.bin") && Contains("not found"));
  REQUIRE_THROWS_WITH(data::load_cifar10_holdout(dir.path(), 1), Contains("data_batch_2.bin"));

  // Labels 0..4 only: each file is a valid batch, but not of the test batch's ten classes.
  write_bytes(dir / "data_batch_2.bin", cifar_file({4, 1}));
  REQUIRE_THROWS_WITH(data::load_cifar10_first_two_batches(dir.path()),
                      Contains("test_batch.bin has labels of 10 classes") &&
                          Contains("data_batch_2.bin has labels of 5"));
  for (const auto& name : data::cifar10_training_batch_names()) write_bytes(dir / name, cifar_file({4, 1}));
  REQUIRE_THROWS_WITH(data::load_cifar10_holdout(dir.path(), 1),
                      Contains("data_batch_1.bin .. data_batch_5.bin has labels of 5"));
}

namespace {

// Sets CIFAR10_DIR (unsets it for nullptr) while the object lives, then puts back what was there before.
class ScopedCifar10Dir {
 public:
  explicit ScopedCifar10Dir(const char* value) {
    if (const char* previous = std::getenv("CIFAR10_DIR")) previous_ = previous;
    set(value);
  }
  ~ScopedCifar10Dir() { set(previous_ ? previous_->c_str() : nullptr); }
  ScopedCifar10Dir(const ScopedCifar10Dir&) = delete;
  ScopedCifar10Dir& operator=(const ScopedCifar10Dir&) = delete;
  void set(const char* value) { value ? ::setenv("CIFAR10_DIR", value, 1) : ::unsetenv("CIFAR10_DIR"); }

 private:
  std::optional<std::string> previous_;
};

// What find_cifar10 finds, as text for the messages of a failed check.
std::string found_cifar10(const std::filesystem::path& fallback = "data/cifar-10-batches-bin") {
  const auto found = data::find_cifar10(fallback);
  return found ? found->string() : "nothing";
}

}  // namespace

TEST_CASE("CIFAR-10: a directory holds it when data_batch_1.bin is there", "[data][cifar]") {
  TempDir dir("cifar");
  REQUIRE_FALSE(data::holds_cifar10(dir.path()));
  write_bytes(dir / "test_batch.bin", cifar_file({1}));
  REQUIRE_FALSE(data::holds_cifar10(dir.path()));
  write_bytes(dir / "data_batch_1.bin", cifar_file({1}));
  REQUIRE(data::holds_cifar10(dir.path()));
  REQUIRE_FALSE(data::holds_cifar10(dir / "no-such-folder"));
}

TEST_CASE("CIFAR-10 is found in $CIFAR10_DIR, else in the fallback, else nowhere", "[data][cifar]") {
  TempDir dir("cifar");
  for (const char* name : {"from-variable", "fallback", "empty"}) std::filesystem::create_directory(dir / name);
  write_bytes(dir / "from-variable" / "data_batch_1.bin", cifar_file({1}));
  write_bytes(dir / "fallback" / "data_batch_1.bin", cifar_file({2}));
  const std::string from_variable = (dir / "from-variable").string(), fallback = (dir / "fallback").string();
  const std::string empty = (dir / "empty").string(), missing = (dir / "missing").string();

  ScopedCifar10Dir variable(from_variable.c_str());
  REQUIRE(found_cifar10(fallback) == from_variable);
  REQUIRE(found_cifar10(empty) == from_variable);
  // A variable naming a directory without CIFAR-10 is passed over, not an error.
  for (const std::string& without : {empty, missing}) {
    variable.set(without.c_str());
    REQUIRE(found_cifar10(fallback) == fallback);
    REQUIRE(found_cifar10(empty) == "nothing");
  }
  variable.set(nullptr);
  REQUIRE(found_cifar10(fallback) == fallback);
  REQUIRE(found_cifar10(missing) == "nothing");
}

TEST_CASE("CIFAR-10: an empty $CIFAR10_DIR is ignored, and the fallback is data/cifar-10-batches-bin",
          "[data][cifar]") {
  TempDir dir("cifar");
  // The working directory holds CIFAR-10 itself, so an empty variable read as a path would find it there.
  write_bytes(dir / "data_batch_1.bin", cifar_file({1}));
  std::filesystem::create_directories(dir / "data" / "cifar-10-batches-bin");
  const auto previous_directory = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  ScopedCifar10Dir variable("");
  const std::string default_fallback = found_cifar10(), without_fallback = found_cifar10(dir / "missing");
  write_bytes(dir / "data" / "cifar-10-batches-bin" / "data_batch_1.bin", cifar_file({1}));
  const std::string default_found = found_cifar10();
  std::filesystem::current_path(previous_directory);
  REQUIRE(default_fallback == "nothing");
  REQUIRE(without_fallback == "nothing");
  REQUIRE(default_found == "data/cifar-10-batches-bin");
}

// ---------------------------------------------------------------------------------------------------------------
// IDX

TEST_CASE("IDX: images and labels round trip, plain and gzip", "[data][idx]") {
  TempDir dir("idx");
  // 4 rows and 5 columns, so that a rows/columns mix-up shows.
  const std::string images = idx_images(3, 4, 5, 3);
  const std::string labels = idx_labels({7, 0, 9});
  const bool compressed = GENERATE(false, true);
  const auto images_file = dir / (compressed ? "images.gz" : "images");
  const auto labels_file = dir / (compressed ? "labels.gz" : "labels");
  write_bytes(images_file, compressed ? gzip(images) : images);
  write_bytes(labels_file, compressed ? gzip(labels) : labels);

  const data::IdxImages loaded = data::load_idx_images(images_file);
  REQUIRE(loaded.rows == 4);
  REQUIRE(loaded.cols == 5);
  REQUIRE(loaded.pixels.rows() == 20);
  REQUIRE(loaded.pixels.cols() == 3);
  REQUIRE(data::load_idx_labels(labels_file) == std::vector<int>{7, 0, 9});

  const data::ImageDataset dataset = data::load_mnist(images_file, labels_file);
  REQUIRE(dataset.shape == data::ImageShape{1, 4, 5});
  REQUIRE(dataset.labels == std::vector<int>{7, 0, 9});
  REQUIRE(dataset.class_names == data::digit_class_names());
  for (int image = 0; image < 3; ++image)
    for (int row = 0; row < 4; ++row)
      for (int col = 0; col < 5; ++col)
        REQUIRE(dataset.pixels(row * 5 + col, image) ==
                static_cast<std::uint8_t>(images[static_cast<std::size_t>(16 + image * 20 + row * 5 + col)]));

  const auto fashion = data::load_mnist(images_file, labels_file, data::fashion_mnist_class_names());
  REQUIRE(fashion.class_names[9] == "Ankle boot");
}

TEST_CASE("IDX: a gzip file large enough to need several buffer growths loads exactly", "[data][idx]") {
  TempDir dir("idx");
  // 3 MB of data decompresses through several growths of the buffer (which starts at 1 MiB).
  const int count = 3900;
  std::string images = idx_images(count, 28, 28, 0);
  Generator generator(5);
  for (int i = 0; i < count * 28 * 28; ++i) images += static_cast<char>(generator.below(256));
  write_bytes(dir / "images.gz", gzip(images));
  const auto loaded = data::load_idx_images(dir / "images.gz");
  REQUIRE(loaded.pixels.cols() == count);
  REQUIRE(std::memcmp(loaded.pixels.data(), images.data() + 16, static_cast<std::size_t>(count) * 784) == 0);
}

TEST_CASE("IDX: the standard file names are found, plain or .gz", "[data][idx]") {
  TempDir dir("idx");
  write_bytes(dir / "train-images-idx3-ubyte.gz", gzip(idx_images(2, 3, 3, 2)));
  write_bytes(dir / "train-labels-idx1-ubyte", idx_labels({1, 2}));
  write_bytes(dir / "t10k-images.idx3-ubyte", idx_images(1, 3, 3, 1));
  REQUIRE_THROWS_WITH(data::find_mnist_files(dir.path()), Contains("t10k labels") &&
                                                              Contains("t10k-labels-idx1-ubyte.gz") &&
                                                              Contains("give the folder that holds") &&
                                                              Contains("apt-get install dataset-fashion-mnist"));
  write_bytes(dir / "t10k-labels-idx1-ubyte.gz", gzip(idx_labels({2})));

  const data::MnistFiles files = data::find_mnist_files(dir.path());
  REQUIRE(files.train_images.filename() == "train-images-idx3-ubyte.gz");
  REQUIRE(files.train_labels.filename() == "train-labels-idx1-ubyte");
  REQUIRE(files.test_images.filename() == "t10k-images.idx3-ubyte");
  REQUIRE(files.test_labels.filename() == "t10k-labels-idx1-ubyte.gz");

  const auto both = data::load_mnist_directory(dir.path());
  REQUIRE(both.train.labels == std::vector<int>{1, 2});
  REQUIRE(both.test.labels == std::vector<int>{2});
  REQUIRE(both.test.shape == data::ImageShape{1, 3, 3});
  REQUIRE_THROWS_WITH(data::find_mnist_files(dir / "absent"), Contains("absent") && Contains("not found"));
}

TEST_CASE("IDX: training and test files that disagree with each other are refused naming both",
          "[data][idx][errors]") {
  TempDir dir("idx-mismatch");
  write_bytes(dir / "train-images-idx3-ubyte", idx_images(2, 3, 3, 2));
  write_bytes(dir / "train-labels-idx1-ubyte", idx_labels({1, 2}));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(1, 3, 4, 1));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({2}));
  REQUIRE_THROWS_WITH(data::load_mnist_directory(dir.path()),
                      Contains("t10k-images-idx3-ubyte has 12 values per image (1 x 3 x 4)") &&
                          Contains("but") && Contains("train-images-idx3-ubyte has 9 (1 x 3 x 3)"));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(1, 3, 3, 1));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({7}));
  REQUIRE_THROWS_WITH(data::load_mnist_directory(dir.path()),
                      Contains("t10k-labels-idx1-ubyte has labels of 8 classes (0..7)") &&
                          Contains("train-labels-idx1-ubyte has labels of 3 (0..2)"));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({0}));  // fewer classes than training: refused too
  REQUIRE_THROWS_WITH(data::load_mnist_directory(dir.path()), Contains("labels of 1 class (0..0)"));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({2}));
  REQUIRE(data::load_mnist_directory(dir.path()).test.labels == std::vector<int>{2});
}

TEST_CASE("IDX: wrong magic numbers are reported, with a hint when files are swapped", "[data][idx][errors]") {
  TempDir dir("idx");
  write_bytes(dir / "labels", idx_labels({1, 2}));
  write_bytes(dir / "images", idx_images(2, 2, 2, 2));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "labels"),
                      Contains("labels") && Contains("wrong magic number 0x00000801 at byte offset 0") &&
                          Contains("expected 0x00000803") && Contains("swapped"));
  REQUIRE_THROWS_WITH(data::load_idx_labels(dir / "images"),
                      Contains("wrong magic number 0x00000803") && Contains("expected 0x00000801"));
  write_bytes(dir / "text", "hello, this is not an IDX file at all");
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "text"),
                      Contains("wrong magic number") && Contains("not an IDX"));
  write_bytes(dir / "floats", big_endian(0x00000d03) + big_endian(1) + big_endian(1) + big_endian(1) + "abcd");
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "floats"), Contains("not unsigned byte"));
  write_bytes(dir / "tiny", std::string(2, '\0'));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "tiny"), Contains("only 2 bytes"));
  write_bytes(dir / "short-header", big_endian(0x00000803) + big_endian(5));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "short-header"), Contains("header is cut short"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "missing"), Contains("missing") && Contains("not found"));
}

TEST_CASE("IDX: zero sizes, count mismatches and out-of-range labels are refused", "[data][idx][errors]") {
  TempDir dir("idx");
  write_bytes(dir / "no-images", idx_images(0, 28, 28, 0));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "no-images"), Contains("image count at byte offset 4 is 0"));
  write_bytes(dir / "no-columns", idx_images(1, 28, 0, 0));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "no-columns"), Contains("column count at byte offset 12 is 0"));
  write_bytes(dir / "huge-images", idx_images(1, 65536, 65536, 0));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "huge-images"), Contains("65536 x 65536"));

  write_bytes(dir / "images", idx_images(3, 2, 2, 3));
  write_bytes(dir / "two-labels", idx_labels({1, 2}));
  REQUIRE_THROWS_WITH(data::load_mnist(dir / "images", dir / "two-labels"),
                      Contains("holds 3 images") && Contains("two-labels holds 2 labels"));

  write_bytes(dir / "bad-labels", idx_labels({1, 2, 10}));
  REQUIRE_THROWS_WITH(
      data::load_mnist(dir / "images", dir / "bad-labels"),
      Contains("bad-labels") && Contains("label 10 at byte offset 10") && Contains("outside 0..9"));
  write_bytes(dir / "labels", idx_labels({0, 1, 2}));
  REQUIRE_THROWS_WITH(data::load_mnist(dir / "images", dir / "labels", {"zero", "one"}),
                      Contains("label 2 at byte offset 10") && Contains("outside 0..1"));
  REQUIRE(data::load_mnist(dir / "images", dir / "labels", {"a", "b", "c"}).num_classes() == 3);
}

TEST_CASE("IDX: data shorter or longer than the header claims", "[data][idx][errors]") {
  TempDir dir("idx");
  const std::string complete = idx_images(3, 4, 5, 3);  // 16 + 60 bytes
  write_bytes(dir / "short", complete.substr(0, 70));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "short"),
                      Contains("short") && Contains("shorter than the header claims") &&
                          Contains("3 images of 4 x 5 pixels") && Contains("76 bytes in all") &&
                          Contains("ends at byte offset 70"));
  write_bytes(dir / "long", complete + "xyz");
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "long"), Contains("longer than the header claims") &&
                                                               Contains("3 extra bytes start at byte offset 76"));
  write_bytes(dir / "short.gz", gzip(complete.substr(0, 70)));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "short.gz"),
                      Contains("short.gz") && Contains("decompressed data is shorter than the header claims") &&
                          Contains("ends at byte offset 70"));
  write_bytes(dir / "long.gz", gzip(complete + "xyz"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "long.gz"),
                      Contains("decompressed data is longer") && Contains("starts at byte offset 76"));

  write_bytes(dir / "labels-short", idx_labels({1, 2, 3}).substr(0, 10));
  REQUIRE_THROWS_WITH(data::load_idx_labels(dir / "labels-short"),
                      Contains("3 labels") && Contains("ends at byte offset 10"));
  write_bytes(dir / "labels-long.gz", gzip(idx_labels({1, 2, 3}) + "\x04"));
  REQUIRE_THROWS_WITH(data::load_idx_labels(dir / "labels-long.gz"), Contains("starts at byte offset 11"));
}

TEST_CASE("IDX: a header claiming billions of images fails before allocating them", "[data][idx][errors]") {
  TempDir dir("idx");
  const std::string few_pixels = std::string(64, '\x05');
  const auto header = [](std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
    return big_endian(0x00000803) + big_endian(count) + big_endian(rows) + big_endian(cols);
  };
  write_bytes(dir / "two-to-the-31", header(0x80000000u, 28, 28) + few_pixels);
  write_bytes(dir / "two-to-the-31.gz", gzip(header(0x80000000u, 28, 28) + few_pixels));
  // Below the count limit, so only the size check (plain) or the growing buffer (gzip) can stop them: 842 GB,
  // 2 GiB and 4 GiB claimed.
  write_bytes(dir / "plain-huge", header(1u << 30, 28, 28) + few_pixels);
  write_bytes(dir / "gzip-huge", gzip(header(1u << 30, 28, 28) + few_pixels));
  write_bytes(dir / "gzip-2gib", gzip(header(0x7fffffffu, 1, 1) + few_pixels));
  write_bytes(dir / "gzip-4gib", gzip(header(1u << 30, 2, 2) + few_pixels));
  write_bytes(dir / "labels-2gib.gz", gzip(big_endian(0x00000801) + big_endian(0x7fffffffu) + few_pixels));

  // With at most 1 GiB more address space, allocating what any of these headers claims would throw
  // std::bad_alloc, which is not the tapegrad::Error the checks below expect.
  AddressSpaceLimit limit(one_gibibyte);
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "two-to-the-31"),
                      Contains("2147483648 images") && Contains("more than a dataset can hold"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "two-to-the-31.gz"), Contains("2147483648 images"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "plain-huge"),
                      Contains("shorter than the header claims") && Contains("1073741824 images of 28 x 28"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "gzip-huge"), Contains("more than the 16 GiB"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "gzip-2gib"),
                      Contains("decompressed data is shorter") && Contains("ends at byte offset 80"));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "gzip-4gib"),
                      Contains("decompressed data is shorter") && Contains("ends at byte offset 80"));
  REQUIRE_THROWS_WITH(data::load_idx_labels(dir / "labels-2gib.gz"),
                      Contains("2147483647 labels") && Contains("ends at byte offset 72"));
}

TEST_CASE("IDX: a gzip file claiming one huge image allocates only for the data that arrives", "[data][idx][errors]") {
  // Found by fuzz/fuzz_idx_gzip: a 60-byte .gz whose header claims one image of 4096 x 4096 pixels (within the
  // 2^24-pixel limit) made the reader allocate the whole 16 MiB image column before any pixel had arrived.
  TempDir dir("idx");
  const std::string header = big_endian(0x00000803) + big_endian(1) + big_endian(4096) + big_endian(4096);
  write_bytes(dir / "one-huge-image.gz", gzip(header + std::string(64, '\x05')));
  {
    // 8 MiB more address space: enough for the first 1 MiB buffer and zlib's, not for the image the header claims.
    AddressSpaceLimit limit(8 << 20);
    REQUIRE_THROWS_WITH(data::load_idx_images(dir / "one-huge-image.gz"),
                        Contains("decompressed data is shorter") && Contains("ends at byte offset 80"));
  }
  // A large image that is really there still loads, exactly.
  std::string full = big_endian(0x00000803) + big_endian(2) + big_endian(1500) + big_endian(1000);
  for (int i = 0; i < 2 * 1500 * 1000; ++i) full += static_cast<char>(pattern(i / 1500000, i % 1500000));
  write_bytes(dir / "two-large-images.gz", gzip(full));
  const data::IdxImages images = data::load_idx_images(dir / "two-large-images.gz");
  REQUIRE(images.rows == 1500);
  REQUIRE(images.cols == 1000);
  REQUIRE(images.pixels.rows() == 1500000);
  REQUIRE(images.pixels.cols() == 2);
  CHECK(std::memcmp(images.pixels.data(), full.data() + 16, full.size() - 16) == 0);
}

TEST_CASE("IDX: corrupt and truncated gzip files give clear errors", "[data][idx][errors]") {
  TempDir dir("idx");
  std::string images = idx_images(200, 28, 28, 0);
  Generator generator(11);
  for (int i = 0; i < 200 * 784; ++i) images += static_cast<char>(generator.below(256));
  const std::string compressed = gzip(images);

  std::string bad_block = compressed;
  bad_block[10] = '\x07';  // the first deflate block: final, of the reserved (invalid) type 3
  write_bytes(dir / "bad-block.gz", bad_block);
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "bad-block.gz"),
                      Contains("bad-block.gz") && Contains("corrupt gzip data") && Contains("zlib"));

  std::string bad_checksum = compressed;
  bad_checksum[bad_checksum.size() - 8] ^= '\xff';  // the CRC-32 in the trailer
  write_bytes(dir / "bad-checksum.gz", bad_checksum);
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "bad-checksum.gz"), Contains("corrupt gzip data"));

  write_bytes(dir / "half.gz", compressed.substr(0, compressed.size() / 2));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "half.gz"), Contains("half.gz") && Contains("truncated"));

  write_bytes(dir / "no-trailer.gz", compressed.substr(0, compressed.size() - 4));
  REQUIRE_THROWS_WITH(data::load_idx_images(dir / "no-trailer.gz"), Contains("truncated"));

  write_bytes(dir / "magic-only.gz", "\x1f\x8b");
  REQUIRE_THROWS_AS(data::load_idx_images(dir / "magic-only.gz"), tapegrad::Error);
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation

TEST_CASE("Normalizer: per-feature statistics fitted on the training split only", "[data][normalizer]") {
  // Two features; the training split (first 4 images) has feature 0 = 0, 51, 102, 255 (0, 0.2, 0.4, 1 after
  // /255: mean 0.4, population variance (0.16 + 0.04 + 0 + 0.36) / 4 = 0.14) and feature 1 constant 7 (std 0).
  // The validation image (204, 7) would change both statistics if it were used.
  data::ImageDataset dataset;
  dataset.shape = {1, 1, 2};
  dataset.pixels.resize(2, 5);
  dataset.pixels << 0, 51, 102, 255, 204, 7, 7, 7, 7, 90;
  dataset.labels = {0, 1, 0, 1, 0};
  dataset.class_names = {"a", "b"};
  const auto split = data::split_last(dataset, 1);

  data::Normalizer normalizer;
  REQUIRE_FALSE(normalizer.ready());
  REQUIRE_THROWS_WITH(normalizer.apply<double>(split.validation.pixels), Contains("fit"));
  normalizer.fit(split.train);
  REQUIRE(normalizer.ready());
  REQUIRE(normalizer.features() == 2);
  REQUIRE(normalizer.mean()[0] == Approx(0.4).epsilon(1e-14));
  REQUIRE(normalizer.standard_deviation()[0] == Approx(std::sqrt(0.14)).epsilon(1e-14));
  REQUIRE(normalizer.mean()[1] == Approx(7.0 / 255.0).epsilon(1e-14));
  REQUIRE(normalizer.standard_deviation()[1] == 0.0);

  const Eigen::MatrixXd validation = normalizer.apply<double>(split.validation.pixels);
  REQUIRE(validation(0, 0) == Approx((0.8 - 0.4) / std::sqrt(0.14)).epsilon(1e-12));
  // Feature 1 had std 0, so it is only centred: (90 - 7) / 255.
  REQUIRE(validation(1, 0) == Approx(83.0 / 255.0).epsilon(1e-12));
  const Eigen::MatrixXf train = normalizer.apply<float>(split.train.pixels);
  REQUIRE(train(0, 0) == Approx(-0.4 / std::sqrt(0.14)).epsilon(1e-6));
  REQUIRE(train(0, 3) == Approx(0.6 / std::sqrt(0.14)).epsilon(1e-6));
  for (int image = 0; image < 4; ++image) REQUIRE(train(1, image) == 0.0f);
  REQUIRE(train.row(0).mean() == Approx(0.0).margin(1e-6));

  // Restored statistics give the same numbers.
  const auto restored = data::Normalizer::from_statistics(normalizer.mean(), normalizer.standard_deviation());
  REQUIRE(restored.apply<double>(split.validation.pixels) == validation);

  // Fitting on everything would have given a different mean: the check above is not vacuous.
  REQUIRE(data::Normalizer::fitted(dataset).mean()[0] != Approx(0.4));
}

TEST_CASE("Normalizer: fixed scalings to 0..1 and -1..1", "[data][normalizer]") {
  data::PixelMatrix pixels(4, 1);
  pixels << 0, 51, 255, 128;
  data::Normalizer unit(data::Scaling::unit_interval);
  REQUIRE(unit.ready());
  const Eigen::MatrixXf unit_values = unit.apply<float>(pixels);
  REQUIRE(unit_values(0, 0) == 0.0f);
  REQUIRE(unit_values(1, 0) == 0.2f);
  REQUIRE(unit_values(2, 0) == 1.0f);
  REQUIRE(unit_values(3, 0) == static_cast<float>(128.0 / 255.0));

  data::Normalizer symmetric(data::Scaling::symmetric_unit_interval);
  const Eigen::MatrixXd symmetric_values = symmetric.apply<double>(pixels);
  REQUIRE(symmetric_values(0, 0) == -1.0);
  REQUIRE(symmetric_values(1, 0) == Approx(-0.6).epsilon(1e-15));
  REQUIRE(symmetric_values(2, 0) == 1.0);

  // Fixed scalings have nothing to fit and take any number of features.
  unit.fit(make_dataset(3, {1, 2, 2}, 2));
  REQUIRE(unit.features() == 0);
  REQUIRE(unit.apply<float>(pixels) == unit_values);
}

TEST_CASE("Normalizer: its columns mean and std give what apply gives, for every scaling", "[data][normalizer]") {
  const data::ImageDataset training = make_dataset(30, {1, 2, 2}, 3);
  data::ImageDataset constant = training;
  constant.pixels.row(1).setConstant(77);  // a feature whose std is 0: apply divides it by 1
  for (const auto scaling : {data::Scaling::unit_interval, data::Scaling::symmetric_unit_interval,
                             data::Scaling::standardize}) {
    data::Normalizer normalizer(scaling);
    normalizer.fit(constant);
    const auto columns = normalizer.columns<double>(4);
    REQUIRE(columns.mean.rows() == 4);
    REQUIRE(columns.standard_deviation.rows() == 4);
    const Eigen::MatrixXd pixels = constant.pixels.cast<double>() / 255.0;
    const Eigen::MatrixXd by_hand = (pixels.colwise() - columns.mean.col(0)).array().colwise() /
                                    columns.standard_deviation.col(0).array();
    CHECK((by_hand - normalizer.apply<double>(constant.pixels)).cwiseAbs().maxCoeff() < 1e-12);
  }
  data::Normalizer fitted = data::Normalizer::fitted(training);
  CHECK_THROWS_WITH(fitted.columns<float>(5), Catch::Contains("Normalizer::columns"));
}

TEST_CASE("Normalizer: mismatched features and bad statistics are refused", "[data][normalizer][errors]") {
  const auto normalizer = data::Normalizer::fitted(make_dataset(5, {1, 2, 2}, 2));
  data::PixelMatrix wrong(3, 2);
  wrong.setZero();
  REQUIRE_THROWS_WITH(normalizer.apply<float>(wrong), Contains("fitted on images of 4 features but these have 3"));
  REQUIRE_THROWS_WITH(data::Normalizer::from_statistics(Eigen::VectorXd::Zero(3), Eigen::VectorXd::Ones(2)),
                      Contains("mean has 3 entries and standard deviation 2"));
  REQUIRE_THROWS_WITH(data::Normalizer::from_statistics(Eigen::VectorXd::Zero(1), -Eigen::VectorXd::Ones(1)),
                      Contains("not negative"));
  data::ImageDataset empty;
  empty.shape = {1, 2, 2};
  empty.pixels.resize(4, 0);
  empty.class_names = {"a"};
  REQUIRE_THROWS_WITH(data::Normalizer::fitted(empty), Contains("empty"));
}

// ---------------------------------------------------------------------------------------------------------------
// Targets, splits, subsets

TEMPLATE_TEST_CASE("one_hot: one 1 per column, at the label's row", "[data]", float, double) {
  const auto targets = data::one_hot<TestType>({2, 0, 1, 2}, 3);
  REQUIRE(targets.rows() == 3);
  REQUIRE(targets.cols() == 4);
  const std::vector<int> labels = {2, 0, 1, 2};
  for (int j = 0; j < 4; ++j)
    for (int k = 0; k < 3; ++k) REQUIRE(targets(k, j) == (k == labels[static_cast<std::size_t>(j)] ? 1 : 0));
  REQUIRE_THROWS_WITH(data::one_hot<TestType>({0, 3}, 3), Contains("label 3 at position 1"));
  REQUIRE_THROWS_WITH(data::one_hot<TestType>({0}, 0), Contains("positive"));
}

TEST_CASE("split_last and split_fraction keep the last examples for validation", "[data]") {
  const auto dataset = make_dataset(10, {1, 2, 3}, 4);
  const auto split = data::split_last(dataset, 3);
  REQUIRE(split.train.size() == 7);
  REQUIRE(split.validation.size() == 3);
  REQUIRE(split.train.pixels == dataset.pixels.leftCols(7));
  REQUIRE(split.validation.pixels == dataset.pixels.rightCols(3));
  REQUIRE(split.validation.labels == std::vector<int>{7 % 4, 8 % 4, 9 % 4});
  REQUIRE(split.validation.class_names == dataset.class_names);
  REQUIRE(split.validation.shape == dataset.shape);

  const auto fraction = data::split_fraction(dataset, 0.2);
  REQUIRE(fraction.validation.size() == 2);
  REQUIRE(fraction.validation.pixels == dataset.pixels.rightCols(2));
  REQUIRE(data::split_fraction(dataset, 0.0).validation.size() == 0);
  REQUIRE(data::split_fraction(dataset, 1.0).train.size() == 0);
  REQUIRE_THROWS_WITH(data::split_last(dataset, 11), Contains("validation size 11") && Contains("10 examples"));
  REQUIRE_THROWS_WITH(data::split_fraction(dataset, 1.5), Contains("outside [0, 1]"));
}

TEST_CASE("split_holdout is split_last that leaves something to train on", "[data]") {
  const auto dataset = make_dataset(10, {1, 2, 3}, 4);
  const auto split = data::split_holdout(dataset, 9);
  REQUIRE(split.train.size() == 1);
  REQUIRE(split.validation.pixels == dataset.pixels.rightCols(9));
  REQUIRE_THROWS_AS(data::split_holdout(dataset, 10), data::SplitTooLarge);
  REQUIRE_THROWS_WITH(data::split_holdout(dataset, 12),
                      "the validation split (12) must be smaller than the 10 training images");
  REQUIRE_THROWS_WITH(data::split_holdout(dataset, -1), Contains("validation size -1"));
}

TEST_CASE("filter_classes keeps the given classes, relabelled in the given order", "[data]") {
  const auto dataset = make_dataset(12, {1, 2, 2}, 4);  // labels 0 1 2 3 0 1 2 3 ...
  const auto binary = data::filter_classes(dataset, {3, 1});
  REQUIRE(binary.size() == 6);
  REQUIRE(binary.num_classes() == 2);
  REQUIRE(binary.class_names == std::vector<std::string>{"class 3", "class 1"});
  // Images 1 3 5 7 9 11 in dataset order; class 3 is now 0 and class 1 is now 1.
  REQUIRE(binary.labels == std::vector<int>{1, 0, 1, 0, 1, 0});
  const std::vector<int> kept = {1, 3, 5, 7, 9, 11};
  for (std::size_t j = 0; j < kept.size(); ++j)
    REQUIRE(binary.pixels.col(static_cast<Eigen::Index>(j)) == dataset.pixels.col(kept[j]));
  REQUIRE_THROWS_WITH(data::filter_classes(dataset, {1, 1}), Contains("class 1 is listed twice"));
  REQUIRE_THROWS_WITH(data::filter_classes(dataset, {4}), Contains("class 4 is outside 0..3"));
}

TEST_CASE("subset, slice and concatenate copy the right columns and check their inputs", "[data]") {
  const auto dataset = make_dataset(6, {2, 2, 2}, 3);
  const auto picked = data::subset(dataset, {5, 0, 5});
  REQUIRE(picked.labels == std::vector<int>{2, 0, 2});
  REQUIRE(picked.pixels.col(0) == dataset.pixels.col(5));
  REQUIRE(picked.pixels.col(1) == dataset.pixels.col(0));
  REQUIRE_THROWS_WITH(data::subset(dataset, {6}), Contains("index 6 at position 0"));
  REQUIRE(data::slice(dataset, 2, 3).labels == std::vector<int>{2, 0, 1});
  REQUIRE_THROWS_AS(data::slice(dataset, 4, 3), tapegrad::Error);

  const std::vector<data::ImageDataset> parts = {data::slice(dataset, 0, 2), data::slice(dataset, 2, 4)};
  REQUIRE(data::concatenate(parts).pixels == dataset.pixels);
  const auto other_shape = make_dataset(2, {1, 2, 4}, 3);
  REQUIRE_THROWS_WITH(data::concatenate({dataset, other_shape}),
                      Contains("dataset 1 has images of 1 x 2 x 4 but dataset 0 has 2 x 2 x 2"));
  const auto other_classes = make_dataset(2, {2, 2, 2}, 2);
  REQUIRE_THROWS_WITH(data::concatenate({dataset, other_classes}), Contains("dataset 1 has classes"));

  auto broken = dataset;
  broken.labels[3] = 7;
  REQUIRE_THROWS_WITH(data::subset(broken, {0}), Contains("label 7 of example 3"));
}

// ---------------------------------------------------------------------------------------------------------------
// Flips

TEST_CASE("flip_horizontal mirrors each row of each channel plane", "[data][augment]") {
  const data::ImageShape shape{2, 3, 4};
  const auto at = [&](int channel, int y, int x) { return (channel * shape.height + y) * shape.width + x; };
  data::PixelVector image(shape.features());
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) image[at(c, y, x)] = static_cast<std::uint8_t>(100 * c + 10 * y + x);

  const data::PixelVector flipped = data::flip_horizontal(image, shape);
  REQUIRE(flipped[at(0, 0, 0)] == 3);
  REQUIRE(flipped[at(0, 0, 3)] == 0);
  REQUIRE(flipped[at(0, 2, 1)] == 22);
  REQUIRE(flipped[at(1, 0, 0)] == 103);
  REQUIRE(flipped[at(1, 2, 0)] == 123);
  REQUIRE(flipped[at(1, 1, 2)] == 111);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) REQUIRE(flipped[at(c, y, x)] == image[at(c, y, 3 - x)]);

  data::PixelVector in_place = image;
  data::flip_horizontal_in_place(in_place, shape);
  REQUIRE(in_place == flipped);
  REQUIRE(data::flip_horizontal(flipped, shape) == image);

  // One channel (MNIST), odd width: the middle column stays.
  data::PixelVector digit(6);
  digit << 1, 2, 3, 4, 5, 6;
  data::PixelVector mirrored(6);
  mirrored << 3, 2, 1, 6, 5, 4;
  REQUIRE(data::flip_horizontal(digit, {1, 2, 3}) == mirrored);

  // Works on a column of a dataset's matrix in place.
  auto dataset = make_dataset(2, shape, 1);
  const data::PixelVector second = dataset.pixels.col(1);
  data::flip_horizontal_in_place(dataset.pixels.col(1), shape);
  REQUIRE(dataset.pixels(at(1, 2, 0), 1) == second[at(1, 2, 3)]);

  REQUIRE_THROWS_WITH(data::flip_horizontal(digit, {1, 2, 2}), Contains("6 values") && Contains("1 x 2 x 2"));
  std::vector<std::uint8_t> buffer(6);
  REQUIRE_THROWS_WITH(data::flip_horizontal(buffer, buffer, {1, 2, 3}), Contains("overlap"));
}

// ---------------------------------------------------------------------------------------------------------------
// BatchLoader

namespace {

template <typename T>
std::vector<std::vector<int>> epoch_indices(data::BatchLoader<T>& loader) {
  std::vector<std::vector<int>> batches;
  while (loader.next()) batches.push_back(loader.batch().indices);
  return batches;
}

std::vector<int> flattened(const std::vector<std::vector<int>>& batches) {
  std::vector<int> all;
  for (const auto& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

}  // namespace

TEMPLATE_TEST_CASE("BatchLoader: every example once per epoch, partial last batch", "[data][loader]", float,
                   double) {
  const auto dataset = make_dataset(23, {1, 2, 3}, 5);
  data::BatchLoader<TestType> loader(dataset, data::Normalizer::fitted(dataset), {.batch_size = 5}, Generator(1));
  REQUIRE(loader.batches_per_epoch() == 5);

  std::vector<int> previous_order;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto batches = epoch_indices(loader);
    REQUIRE(loader.epochs_started() == epoch + 1);
    REQUIRE(batches.size() == 5);
    for (std::size_t b = 0; b < 4; ++b) REQUIRE(batches[b].size() == 5);
    REQUIRE(batches[4].size() == 3);
    std::vector<int> all = flattened(batches);
    REQUIRE(all == loader.order());
    REQUIRE(all != previous_order);  // a fresh permutation each epoch
    previous_order = all;
    std::sort(all.begin(), all.end());
    std::vector<int> expected(23);
    std::iota(expected.begin(), expected.end(), 0);
    REQUIRE(all == expected);
  }

  data::BatchLoader<TestType> dropping(dataset, data::Normalizer(data::Scaling::unit_interval),
                                       {.batch_size = 5, .drop_last = true}, Generator(1));
  REQUIRE(dropping.batches_per_epoch() == 4);
  const auto batches = epoch_indices(dropping);
  REQUIRE(batches.size() == 4);
  REQUIRE(flattened(batches).size() == 20);

  // A whole epoch fits in less than one batch: with drop_last nothing would be trained on, so it is refused.
  const auto small = make_dataset(4, {1, 2, 2}, 3);
  CHECK_THROWS_WITH((data::BatchLoader<TestType>(small, data::Normalizer(data::Scaling::unit_interval),
                                                 {.batch_size = 5, .drop_last = true}, Generator(1))),
                    Catch::Contains("batch_size 5 with drop_last leaves no batch in an epoch of 4 examples") &&
                        Catch::Contains("at most 4"));
  data::BatchLoader<TestType> just(small, data::Normalizer(data::Scaling::unit_interval),
                                   {.batch_size = 4, .drop_last = true}, Generator(1));
  CHECK(just.batches_per_epoch() == 1);
}

TEMPLATE_TEST_CASE("BatchLoader: the seed decides the order, no shuffle means 0..n-1", "[data][loader]", float,
                   double) {
  const auto dataset = make_dataset(40, {1, 2, 2}, 3);
  const auto normalizer = data::Normalizer::fitted(dataset);
  const data::BatchLoaderOptions options{.batch_size = 8, .flip_probability = 0.5};
  data::BatchLoader<TestType> first(dataset, normalizer, options, Generator(42));
  data::BatchLoader<TestType> again(dataset, normalizer, options, Generator(42));
  data::BatchLoader<TestType> other(dataset, normalizer, options, Generator(43));
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> first_order, other_order;
    while (first.next()) {
      REQUIRE(again.next());
      REQUIRE(other.next());
      REQUIRE(first.batch().indices == again.batch().indices);
      REQUIRE(first.batch().X == again.batch().X);  // the flips are the same too
      first_order.insert(first_order.end(), first.batch().indices.begin(), first.batch().indices.end());
      other_order.insert(other_order.end(), other.batch().indices.begin(), other.batch().indices.end());
    }
    REQUIRE_FALSE(again.next());
    REQUIRE_FALSE(other.next());
    REQUIRE(first_order != other_order);
  }

  data::BatchLoader<TestType> in_order(dataset, normalizer, {.batch_size = 16, .shuffle = false}, Generator(42));
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto all = flattened(epoch_indices(in_order));
    std::vector<int> expected(40);
    std::iota(expected.begin(), expected.end(), 0);
    REQUIRE(all == expected);
  }
}

TEMPLATE_TEST_CASE("BatchLoader: batches hold the normalised pixels and labels of their examples",
                   "[data][loader]", float, double) {
  const auto dataset = make_dataset(17, {3, 2, 2}, 4);
  const auto normalizer = data::Normalizer::fitted(data::slice(dataset, 0, 12));
  data::BatchLoader<TestType> loader(dataset, normalizer, {.batch_size = 6}, Generator(7));
  const double tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
  int seen = 0;
  while (loader.next()) {
    const auto& batch = loader.batch();
    REQUIRE(batch.X.rows() == 12);
    REQUIRE(batch.X.cols() == batch.size());
    for (int j = 0; j < batch.size(); ++j) {
      const int example = batch.indices[static_cast<std::size_t>(j)];
      REQUIRE(batch.labels[static_cast<std::size_t>(j)] == dataset.labels[static_cast<std::size_t>(example)]);
      for (int f = 0; f < 12; ++f) {
        const double std_dev = normalizer.standard_deviation()[f];
        const double expected =
            (dataset.pixels(f, example) / 255.0 - normalizer.mean()[f]) / (std_dev > 0 ? std_dev : 1);
        REQUIRE(static_cast<double>(batch.X(f, j)) == Approx(expected).margin(tolerance));
      }
      ++seen;
    }
  }
  REQUIRE(seen == 17);
}

TEST_CASE("BatchLoader: flips happen with the given probability and mirror the image", "[data][loader][augment]") {
  // Images of one row of two pixels (0, 255): flipped, the row reads (255, 0).
  data::ImageDataset dataset;
  dataset.shape = {1, 1, 2};
  dataset.pixels.resize(2, 1000);
  dataset.pixels.row(0).setConstant(0);
  dataset.pixels.row(1).setConstant(255);
  dataset.labels.assign(1000, 0);
  dataset.class_names = {"only"};

  const auto flipped_fraction = [&](double probability, std::uint64_t seed) {
    data::BatchLoader<float> loader(dataset, data::Normalizer(data::Scaling::unit_interval),
                                    {.batch_size = 64, .flip_probability = probability}, Generator(seed));
    int flipped = 0, total = 0;
    for (int epoch = 0; epoch < 5; ++epoch) {
      while (loader.next()) {
        const auto& X = loader.batch().X;
        for (Eigen::Index j = 0; j < X.cols(); ++j) {
          const bool is_flipped = X(0, j) == 1.0f && X(1, j) == 0.0f;
          REQUIRE((is_flipped || (X(0, j) == 0.0f && X(1, j) == 1.0f)));
          flipped += is_flipped;
          ++total;
        }
      }
    }
    REQUIRE(total == 5000);
    return static_cast<double>(flipped) / total;
  };
  REQUIRE(flipped_fraction(0.0, 3) == 0.0);
  REQUIRE(flipped_fraction(1.0, 3) == 1.0);
  // 5000 draws: the standard deviation of the fraction is below 0.0071, so 0.035 is five of them.
  REQUIRE(flipped_fraction(0.3, 3) == Approx(0.3).margin(0.035));
  REQUIRE(flipped_fraction(0.5, 4) == Approx(0.5).margin(0.035));
  // The dataset itself is never touched.
  REQUIRE((dataset.pixels.row(0).array() == 0).all());
}

TEST_CASE("Normalizer: a large batch normalised on two product threads equals one thread's, column by column",
          "[data][normalizer][threads]") {
  const auto dataset = make_dataset(250, {3, 16, 16}, 10);  // 768 x 250: above the size that splits
  for (const auto& normalizer :
       {data::Normalizer::fitted(dataset), data::Normalizer(data::Scaling::unit_interval)}) {
    tapegrad::set_product_threads(2);
    const Eigen::MatrixXf two = normalizer.apply<float>(dataset.pixels);
    tapegrad::set_product_threads(1);
    const Eigen::MatrixXf one = normalizer.apply<float>(dataset.pixels);
    REQUIRE(one.cols() == 250);
    REQUIRE(one == two);
    Eigen::VectorXf column(768);
    for (const Eigen::Index image : {Eigen::Index(0), Eigen::Index(127), Eigen::Index(249)}) {
      normalizer.apply_column(dataset.pixels.col(image).data(), column.data(), 768);
      REQUIRE(two.col(image) == column);
    }
  }
}

TEST_CASE("BatchLoader: batches split over two product threads equal those of one, flips included",
          "[data][loader][threads]") {
  // 768 features x 100 examples: above the size from which the loader normalises on the product threads.
  const auto dataset = make_dataset(300, {3, 16, 16}, 10);
  const auto normalizer = data::Normalizer::fitted(dataset);
  const data::BatchLoaderOptions options{.batch_size = 100, .flip_probability = 0.5};
  const auto batches = [&](int threads) {
    tapegrad::set_product_threads(threads);
    data::BatchLoader<float> loader(dataset, normalizer, options, Generator(31));
    std::vector<Eigen::MatrixXf> seen;
    for (int epoch = 0; epoch < 2; ++epoch) {
      while (loader.next()) {
        const auto& batch = loader.batch();
        // Every column is its example normalised, mirrored or not.
        for (Eigen::Index j = 0; j < batch.X.cols(); ++j) {
          const auto example = batch.indices[static_cast<std::size_t>(j)];
          const data::PixelVector image = dataset.pixels.col(example);
          const data::PixelVector flipped = data::flip_horizontal(image, dataset.shape);
          const Eigen::MatrixXf plain = normalizer.apply<float>(image), mirrored = normalizer.apply<float>(flipped);
          REQUIRE((batch.X.col(j) == plain || batch.X.col(j) == mirrored));
        }
        seen.push_back(batch.X);
      }
    }
    tapegrad::set_product_threads(1);
    return seen;
  };
  const auto one = batches(1), two = batches(2);
  REQUIRE(one.size() == 6);
  REQUIRE(one == two);
}

TEST_CASE("BatchLoader: a saved state resumes with the same batches", "[data][loader]") {
  const auto dataset = make_dataset(30, {1, 2, 3}, 3);
  const auto normalizer = data::Normalizer::fitted(dataset);
  const data::BatchLoaderOptions options{.batch_size = 7, .flip_probability = 0.5};
  data::BatchLoader<float> original(dataset, normalizer, options, Generator(9));
  while (original.next()) {
  }  // one whole epoch
  REQUIRE(original.next());
  REQUIRE(original.next());  // two batches into the second epoch
  const data::BatchLoaderState saved = original.state();
  REQUIRE(saved.in_epoch);
  REQUIRE(saved.position == 14);
  REQUIRE(saved.epochs_started == 2);

  std::vector<Eigen::MatrixXf> expected;
  std::vector<std::vector<int>> expected_indices;
  for (int step = 0; step < 8; ++step) {  // the rest of epoch 2 and into epoch 3
    if (!original.next()) continue;
    expected.push_back(original.batch().X);
    expected_indices.push_back(original.batch().indices);
  }

  data::BatchLoader<float> resumed(dataset, normalizer, options, Generator(12345));
  resumed.set_state(saved);
  REQUIRE(resumed.state() == saved);
  REQUIRE(resumed.epochs_started() == 2);
  std::size_t compared = 0;
  for (int step = 0; step < 8; ++step) {
    if (!resumed.next()) continue;
    REQUIRE(compared < expected.size());
    REQUIRE(resumed.batch().indices == expected_indices[compared]);
    REQUIRE(resumed.batch().X == expected[compared]);
    ++compared;
  }
  REQUIRE(compared == expected.size());
  REQUIRE(compared >= 5);

  data::BatchLoaderState bad = saved;
  bad.position = 31;
  REQUIRE_THROWS_WITH(resumed.set_state(bad), Contains("position 31"));
}

TEST_CASE("BatchLoader: bad options and mismatched normalisers are refused at construction",
          "[data][loader][errors]") {
  const auto dataset = make_dataset(10, {1, 2, 2}, 2);
  const auto normalizer = data::Normalizer::fitted(dataset);
  REQUIRE_THROWS_WITH(data::BatchLoader<float>(dataset, normalizer, {.batch_size = 0}, Generator(1)),
                      Contains("batch_size must be positive"));
  REQUIRE_THROWS_WITH(
      data::BatchLoader<float>(dataset, normalizer, {.batch_size = 2, .flip_probability = 1.5}, Generator(1)),
      Contains("flip_probability"));
  REQUIRE_THROWS_WITH(data::BatchLoader<float>(dataset, data::Normalizer(), {}, Generator(1)), Contains("fit"));
  const auto other = make_dataset(10, {1, 3, 3}, 2);
  REQUIRE_THROWS_WITH(data::BatchLoader<double>(other, normalizer, {}, Generator(1)),
                      Contains("4 features but these have 9"));
}

TEMPLATE_TEST_CASE("normalized_examples and for_each_chunk cover the dataset in order", "[data][loader]", float,
                   double) {
  const auto dataset = make_dataset(11, {1, 2, 2}, 3);
  const auto normalizer = data::Normalizer::fitted(dataset);
  const auto all = data::normalized_examples<TestType>(dataset, normalizer);
  REQUIRE(all.cols() == 11);
  REQUIRE(all == normalizer.apply<TestType>(dataset.pixels));
  REQUIRE(data::normalized_examples<TestType>(dataset, normalizer, 3, 4) == all.middleCols(3, 4));
  REQUIRE_THROWS_WITH(data::normalized_examples<TestType>(dataset, normalizer, 8, 4), Contains("8..11"));

  std::vector<int> firsts, labels;
  Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> joined(4, 0);
  data::for_each_chunk<TestType>(dataset, normalizer, 4,
                                 [&](const auto& X, int first, std::span<const int> chunk) {
                                   firsts.push_back(first);
                                   labels.insert(labels.end(), chunk.begin(), chunk.end());
                                   joined.conservativeResize(4, joined.cols() + X.cols());
                                   joined.rightCols(X.cols()) = X;
                                 });
  REQUIRE(firsts == std::vector<int>{0, 4, 8});
  REQUIRE(labels == dataset.labels);
  REQUIRE(joined == all);
}

// ---------------------------------------------------------------------------------------------------------------
// Real data, when present

TEST_CASE("Real CIFAR-10 test batch loads with 1000 images per class", "[data][real]") {
  const auto directory = real_cifar10();
  if (!directory) return;
  const auto test = data::load_cifar10(*directory, {data::cifar10_test_batch_name()});
  REQUIRE(test.size() == 10000);
  REQUIRE(test.num_classes() == 10);
  std::map<int, int> per_class;
  for (int label : test.labels) ++per_class[label];
  REQUIRE(per_class.size() == 10);
  for (const auto& [label, count] : per_class) REQUIRE(count == 1000);
}

TEST_CASE("Real Fashion-MNIST test split loads", "[data][real]") {
  const char* from_environment = std::getenv("FASHION_MNIST_DIR");
  const std::filesystem::path directory =
      from_environment != nullptr ? from_environment : "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(directory / "t10k-images-idx3-ubyte.gz")) {
    WARN("skipped: no Fashion-MNIST at " << directory << " (set FASHION_MNIST_DIR)");
    return;
  }
  const auto files = data::find_mnist_files(directory);
  const auto test = data::load_mnist(files.test_images, files.test_labels, data::fashion_mnist_class_names());
  REQUIRE(test.size() == 10000);
  REQUIRE(test.shape == data::ImageShape{1, 28, 28});
  std::set<int> classes(test.labels.begin(), test.labels.end());
  REQUIRE(classes.size() == 10);
}
