// The seed corpora of the fuzz targets, generated rather than committed: small valid files and slightly broken
// ones for every target, each with the outcome the harness must give it. fuzz/make_seeds.cpp writes them into
// <dir>/<target>/<name> for scripts/fuzz.sh; tests/test_fuzz_seeds.cpp runs each through fuzz/harness.h and
// checks that outcome, in the normal test suite.
//
// Inputs are in the form each target takes (see harness.h): the file itself for cifar10, idx and checkpoint; for
// idx_gzip either a .gz file (starts with 1f 8b) or the plain IDX content that the harness compresses.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/harness.h"
#include <tapegrad/nn/train/checkpoint.h>

namespace tapegrad::fuzz {

struct Seed {
  std::string target;  // cifar10, idx, idx_gzip, checkpoint, safetensors
  std::string name;    // file name in the target's seed directory
  std::string bytes;
  Outcome expected;
};

namespace seeds_detail {

inline std::string big_endian_32(std::uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>(value >> (24 - 8 * i));
  return bytes;
}

inline void set_little_endian(std::string& bytes, std::size_t offset, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes.at(offset + static_cast<std::size_t>(i)) = static_cast<char>(value >> (8 * i));
}

// A byte that varies with the position, so that no two pixels of a seed look alike.
inline char pixel(std::size_t index) { return static_cast<char>((index * 37 + 11) % 251); }

inline std::string cifar_records(const std::vector<int>& labels) {
  std::string bytes;
  for (int label : labels) {
    bytes += static_cast<char>(label);
    for (std::size_t i = 0; i < 3072; ++i) bytes += pixel(bytes.size() + i);
  }
  return bytes;
}

inline std::string idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::size_t pixels) {
  std::string bytes = big_endian_32(0x00000803) + big_endian_32(count) + big_endian_32(rows) + big_endian_32(cols);
  for (std::size_t i = 0; i < pixels; ++i) bytes += pixel(i);
  return bytes;
}

inline std::string idx_labels(std::uint32_t count, std::size_t labels) {
  std::string bytes = big_endian_32(0x00000801) + big_endian_32(count);
  for (std::size_t i = 0; i < labels; ++i) bytes += static_cast<char>(i % 10);
  return bytes;
}

// The gzip compression of `plain` (one member, level 9), or of `plain` with a file name in the gzip header.
inline std::string gzip(const std::string& plain, const char* file_name = nullptr) {
  z_stream stream{};
  if (deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("seeds: deflateInit2 failed");
  gz_header header{};
  header.name = reinterpret_cast<Bytef*>(const_cast<char*>(file_name));
  header.os = 3;
  if (file_name != nullptr) deflateSetHeader(&stream, &header);
  std::string out(deflateBound(&stream, static_cast<uLong>(plain.size())) + 64 + (file_name ? 256 : 0), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  stream.avail_in = static_cast<uInt>(plain.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) throw std::runtime_error("seeds: deflate did not finish");
  return out;
}

inline std::string read_file_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("seeds: cannot read " + file.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `bytes` with its last 4 bytes set to the CRC-32 of the rest, as a checkpoint's are.
inline std::string with_crc(std::string bytes) {
  const auto crc = checkpoint_crc(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size() - 4);
  set_little_endian(bytes, bytes.size() - 4, crc, 4);
  return bytes;
}

template <typename T>
std::string saved_checkpoint(const train::Checkpoint<T>& checkpoint, const std::filesystem::path& scratch) {
  const auto file = scratch / "seed.ckpt";
  train::save_checkpoint(file, checkpoint);
  std::string bytes = read_file_bytes(file);
  std::filesystem::remove(file);
  return bytes;
}

template <typename T>
train::Checkpoint<T> small_checkpoint() {
  train::Checkpoint<T> checkpoint;
  Matrix<T> weight(2, 3);
  weight << T(0.5), T(-1.25), T(3), T(1e-3), T(-0.0), T(7);
  Matrix<T> bias(2, 1);
  bias << T(0.25), T(-4);
  checkpoint.module_state = {{"0.weight", weight}, {"0.bias", bias}};
  checkpoint.optimizer_state = {{"velocity.0.weight", weight * T(0.1)}, {"velocity.0.bias", bias * T(2)}};
  checkpoint.optimizer_step_count = 12;
  checkpoint.scheduler_step = 12;
  checkpoint.epoch = 2;
  checkpoint.step = 12;
  Generator::State state;
  state.words = {0x0123456789abcdefULL, 42, 0xfedcba9876543210ULL, 7};
  state.has_cached_normal = true;
  state.cached_normal = -0.75;
  checkpoint.generators["shuffle"] = state;
  state.has_cached_normal = false;
  state.cached_normal = 0;
  checkpoint.generators["augment"] = state;
  checkpoint.metadata["config"] = R"({"preset":"tiny","seed":1})";
  checkpoint.metadata["note"] = "";
  return checkpoint;
}

// A safetensors file of the small checkpoint's parameters and optimizer state, with its metadata.
template <typename T>
std::string saved_safetensors(const train::Checkpoint<T>& checkpoint, const std::filesystem::path& scratch) {
  nn::StateDict<T> tensors;
  for (const auto& entry : checkpoint.module_state) tensors.insert(entry.name, entry.value);
  for (const auto& entry : checkpoint.optimizer_state) tensors.insert(entry.name, entry.value);
  const auto file = scratch / "seed.safetensors";
  nn::save_safetensors(file, tensors, nn::SafetensorsMetadata(checkpoint.metadata.begin(), checkpoint.metadata.end()));
  std::string bytes = read_file_bytes(file);
  std::filesystem::remove(file);
  return bytes;
}

// 8-byte little-endian length, the header as given, the data.
inline std::string safetensors_file(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  set_little_endian(bytes, 0, header.size(), 8);
  return bytes + header + data;
}

}  // namespace seeds_detail

// Every seed of every target. `scratch` is an empty directory for the checkpoints that save_checkpoint writes.
inline std::vector<Seed> make_seeds(const std::filesystem::path& scratch) {
  using namespace seeds_detail;
  using enum Outcome;
  std::vector<Seed> seeds;
  auto add = [&](const char* target, const char* name, std::string bytes, Outcome expected) {
    seeds.push_back({target, name, std::move(bytes), expected});
  };

  // CIFAR-10 batches.
  const std::string two_records = cifar_records({0, 9});
  add("cifar10", "one-record", cifar_records({3}), loaded);
  add("cifar10", "two-records", two_records, loaded);
  add("cifar10", "three-records", cifar_records({1, 5, 8}), loaded);
  add("cifar10", "empty", "", rejected);
  add("cifar10", "truncated-record", two_records.substr(0, two_records.size() - 1), rejected);
  add("cifar10", "extra-byte", two_records + "x", rejected);
  add("cifar10", "label-10", cifar_records({4, 10}), rejected);
  add("cifar10", "label-255", cifar_records({255}), rejected);
  add("cifar10", "gzip", gzip(cifar_records({2})), rejected);

  // Plain IDX files.
  const std::string images = idx_images(3, 4, 5, 60);
  const std::string labels = idx_labels(6, 6);
  add("idx", "images-3x4x5", images, loaded);
  add("idx", "images-1x1x1", idx_images(1, 1, 1, 1), loaded);
  add("idx", "labels-6", labels, loaded);
  add("idx", "labels-1", idx_labels(1, 1), loaded);
  add("idx", "empty", "", rejected);
  add("idx", "magic-only", images.substr(0, 4), rejected);
  add("idx", "header-cut", images.substr(0, 11), rejected);
  add("idx", "images-truncated", images.substr(0, images.size() - 1), rejected);
  add("idx", "images-extra-byte", images + "x", rejected);
  add("idx", "labels-truncated", labels.substr(0, labels.size() - 1), rejected);
  add("idx", "zero-count", idx_images(0, 4, 5, 0), rejected);
  add("idx", "zero-rows", idx_images(3, 0, 5, 0), rejected);
  add("idx", "count-2-to-the-31", idx_images(0x80000000u, 4, 5, 60), rejected);
  add("idx", "huge-images", idx_images(1, 65536, 65536, 60), rejected);
  add("idx", "wrong-type", std::string("\x00\x00\x0d\x03", 4) + images.substr(4), rejected);
  add("idx", "not-idx", "P5\n4 5\n255\n" + images.substr(0, 20), rejected);

  // Gzip IDX: plain content that the harness compresses ...
  add("idx_gzip", "content-images-3x4x5", images, loaded);
  add("idx_gzip", "content-labels-6", labels, loaded);
  add("idx_gzip", "content-images-truncated", images.substr(0, images.size() - 7), rejected);
  add("idx_gzip", "content-labels-extra", labels + "xyz", rejected);
  add("idx_gzip", "content-count-2-to-the-31", idx_images(0x80000000u, 4, 5, 60), rejected);
  add("idx_gzip", "content-claims-4gib", idx_images(1u << 30, 2, 2, 60), rejected);
  add("idx_gzip", "content-claims-32gib", idx_images(1u << 30, 8, 4, 60), rejected);
  add("idx_gzip", "content-empty", "", rejected);
  // ... and .gz files as they are.
  const std::string images_gz = gzip(images);
  const std::string big = idx_images(3000, 28, 28, 0) + std::string(3000 * 28 * 28, '\0');  // 2.4 MB: buffer grows
  add("idx_gzip", "gz-images", images_gz, loaded);
  add("idx_gzip", "gz-labels", gzip(labels), loaded);
  add("idx_gzip", "gz-with-file-name", gzip(labels, "train-labels-idx1-ubyte"), loaded);
  add("idx_gzip", "gz-two-members", gzip(labels.substr(0, 9)) + gzip(labels.substr(9)), loaded);
  add("idx_gzip", "gz-2-4-megabytes", gzip(big), loaded);
  add("idx_gzip", "gz-magic-only", "\x1f\x8b", rejected);
  add("idx_gzip", "gz-truncated", images_gz.substr(0, images_gz.size() / 2), rejected);
  add("idx_gzip", "gz-no-trailer", images_gz.substr(0, images_gz.size() - 4), rejected);
  std::string bad_crc = images_gz;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0x55);
  add("idx_gzip", "gz-bad-crc", bad_crc, rejected);
  std::string bad_block = images_gz;
  bad_block[10] = '\x07';  // a final deflate block of the reserved type 3
  add("idx_gzip", "gz-bad-block", bad_block, rejected);
  add("idx_gzip", "gz-trailing-garbage", images_gz + "garbage", loaded);

  // Checkpoints, written by save_checkpoint, then damaged.
  const std::string full = saved_checkpoint(small_checkpoint<float>(), scratch);
  add("checkpoint", "float-full", full, loaded);
  add("checkpoint", "double-full", saved_checkpoint(small_checkpoint<double>(), scratch), loaded);
  add("checkpoint", "float-empty", saved_checkpoint(train::Checkpoint<float>{}, scratch), loaded);
  train::Checkpoint<double> odd_shapes;
  odd_shapes.module_state = {{"empty", Matrix<double>(0, 3)}, {"row", Matrix<double>::Constant(1, 4, 0.5)}};
  odd_shapes.metadata[std::string(300, 'k')] = std::string(200, 'v');
  add("checkpoint", "double-odd-shapes", saved_checkpoint(odd_shapes, scratch), loaded);
  add("checkpoint", "empty-file", "", rejected);
  add("checkpoint", "magic-only", full.substr(0, 8), rejected);
  add("checkpoint", "truncated", full.substr(0, full.size() - 10), rejected);
  std::string flipped = full;
  flipped[60] = static_cast<char>(flipped[60] ^ 0x20);
  add("checkpoint", "crc-mismatch", flipped, rejected);
  std::string version = full;
  set_little_endian(version, 8, 2, 4);
  add("checkpoint", "version-2", with_crc(version), rejected);
  std::string scalar = full;
  set_little_endian(scalar, 12, 3, 4);
  add("checkpoint", "scalar-code-3", with_crc(scalar), rejected);
  // The first parameter record starts at 56: name length, "0.weight", then rows at 68 and cols at 76.
  std::string huge = full;
  set_little_endian(huge, 68, std::uint64_t{1} << 40, 8);
  add("checkpoint", "rows-2-to-the-40", with_crc(huge), rejected);
  std::string long_name = full;
  set_little_endian(long_name, 56, 5000, 4);
  add("checkpoint", "name-5000-bytes", with_crc(long_name), rejected);
  std::string many = full;
  set_little_endian(many, 48, std::uint64_t{1} << 62, 8);
  add("checkpoint", "count-2-to-the-62", with_crc(many), rejected);
  std::string junk = full.substr(0, full.size() - 4) + "junk" + full.substr(full.size() - 4);
  add("checkpoint", "bytes-after-last-section", with_crc(junk), rejected);
  add("checkpoint", "bytes-after-crc", full + "x", rejected);

  // safetensors, written by save_safetensors, then damaged.
  const std::string model = saved_safetensors(small_checkpoint<float>(), scratch);
  add("safetensors", "float-model", model, loaded);
  add("safetensors", "double-model", saved_safetensors(small_checkpoint<double>(), scratch), loaded);
  add("safetensors", "empty-dict", saved_safetensors(train::Checkpoint<float>{}, scratch), loaded);
  add("safetensors", "hand-written-i64-and-scalar",
      safetensors_file(R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                       R"("s":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}})",
                       std::string(12, '\x01')),
      loaded);
  add("safetensors", "empty-file", "", rejected);
  add("safetensors", "length-only", model.substr(0, 8), rejected);
  add("safetensors", "truncated", model.substr(0, model.size() - 3), rejected);
  add("safetensors", "extra-byte", model + "x", rejected);
  std::string long_header = model;
  set_little_endian(long_header, 0, std::uint64_t{1} << 40, 8);
  add("safetensors", "header-length-2-to-the-40", long_header, rejected);
  add("safetensors", "not-json", safetensors_file("{\"a\":", ""), rejected);
  add("safetensors", "duplicate-name",
      safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       std::string(8, '\0')),
      rejected);
  add("safetensors", "overlap",
      safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       std::string(8, '\0')),
      rejected);
  add("safetensors", "huge-shape",
      safetensors_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                       std::string(8, '\0')),
      rejected);
  add("safetensors", "dtype-f16",
      safetensors_file(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", std::string(8, '\0')),
      rejected);
  return seeds;
}

}  // namespace tapegrad::fuzz
