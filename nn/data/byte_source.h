// ByteSource: the bytes of a data file, plain or gzip-compressed, read in blocks by the dataset readers.
// Internal to nn/data; the readers turn what it reports into messages that name the file and the offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace tapegrad::data::detail {

// The size of `file`; throws tapegrad::Error saying which file is missing (or is not a regular file) followed
// by `what_to_do`.
std::uint64_t existing_file_size(const std::filesystem::path& file, const std::string& what_to_do);

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Reads up to `count` bytes; returns fewer only when the data ends. Throws tapegrad::Error on a read error,
  // on corrupt compressed data, and when a gzip stream ends before its trailer (a truncated .gz file).
  virtual std::size_t read(std::uint8_t* destination, std::size_t count) = 0;

  // The number of bytes the data holds when that is known before reading it (plain files), so that a reader
  // can check a header against it before allocating anything.
  virtual std::optional<std::uint64_t> known_size() const = 0;

  virtual bool compressed() const = 0;

  // Bytes delivered so far: the offset of the next byte in the (decompressed) data.
  std::uint64_t offset() const { return offset_; }

 protected:
  std::uint64_t offset_ = 0;
};

// Opens `file`, reading it through zlib when it starts with the gzip magic bytes 1f 8b.
std::unique_ptr<ByteSource> open_byte_source(const std::filesystem::path& file, const std::string& what_to_do);

}  // namespace tapegrad::data::detail
