#include <tapegrad/nn/data/byte_source.h>

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <tapegrad/core/error.h>

namespace tapegrad::data::detail {
namespace {

class PlainFileSource final : public ByteSource {
 public:
  PlainFileSource(std::FILE* file, std::filesystem::path path, std::uint64_t size)
      : file_(file), path_(std::move(path)), size_(size) {}
  ~PlainFileSource() override { std::fclose(file_); }
  PlainFileSource(const PlainFileSource&) = delete;
  PlainFileSource& operator=(const PlainFileSource&) = delete;

  std::size_t read(std::uint8_t* destination, std::size_t count) override {
    const std::size_t got = std::fread(destination, 1, count, file_);
    if (got < count && std::ferror(file_))
      throw_error(fmt::format("{}: read error at byte offset {}: {}", path_.string(), offset_ + got,
                              std::strerror(errno)));
    offset_ += got;
    return got;
  }
  std::optional<std::uint64_t> known_size() const override { return size_; }
  bool compressed() const override { return false; }

 private:
  std::FILE* file_;
  std::filesystem::path path_;
  std::uint64_t size_;
};

class GzipFileSource final : public ByteSource {
 public:
  GzipFileSource(gzFile file, std::filesystem::path path) : file_(file), path_(std::move(path)) {}
  ~GzipFileSource() override { gzclose(file_); }
  GzipFileSource(const GzipFileSource&) = delete;
  GzipFileSource& operator=(const GzipFileSource&) = delete;

  std::size_t read(std::uint8_t* destination, std::size_t count) override {
    std::size_t total = 0;
    while (total < count) {
      // gzread counts in unsigned int.
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(count - total, std::size_t{1} << 30));
      const int got = gzread(file_, destination + total, chunk);
      int zlib_error = Z_OK;
      const char* zlib_message = gzerror(file_, &zlib_error);
      if (got < 0) {
        throw_error(fmt::format(
            "{}: corrupt gzip data after {} decompressed bytes (zlib: {}); the file is damaged, download it again",
            path_.string(), offset_ + total, zlib_message));
      }
      total += static_cast<std::size_t>(got);
      // zlib reports a stream that stops before its end-of-stream marker and checksum as Z_BUF_ERROR.
      if (zlib_error == Z_BUF_ERROR) {
        throw_error(fmt::format(
            "{}: the gzip stream is truncated: it ends unexpectedly after {} decompressed bytes (zlib: {}); the "
            "file is incomplete, download it again",
            path_.string(), offset_ + total, zlib_message));
      }
      if (got == 0 || static_cast<unsigned>(got) < chunk) break;
    }
    offset_ += total;
    return total;
  }
  std::optional<std::uint64_t> known_size() const override { return std::nullopt; }
  bool compressed() const override { return true; }

 private:
  gzFile file_;
  std::filesystem::path path_;
};

}  // namespace

std::uint64_t existing_file_size(const std::filesystem::path& file, const std::string& what_to_do) {
  std::error_code error;
  const auto status = std::filesystem::status(file, error);
  if (!std::filesystem::exists(status))
    throw_error(fmt::format("file not found: {}; {}", file.string(), what_to_do));
  if (!std::filesystem::is_regular_file(status))
    throw_error(fmt::format("not a regular file: {}; {}", file.string(), what_to_do));
  const std::uintmax_t size = std::filesystem::file_size(file, error);
  if (error) throw_error(fmt::format("cannot read the size of {}: {}", file.string(), error.message()));
  return static_cast<std::uint64_t>(size);
}

std::unique_ptr<ByteSource> open_byte_source(const std::filesystem::path& file, const std::string& what_to_do) {
  const std::uint64_t size = existing_file_size(file, what_to_do);
  std::FILE* handle = std::fopen(file.c_str(), "rb");
  if (handle == nullptr)
    throw_error(fmt::format("cannot open {}: {}; {}", file.string(), std::strerror(errno), what_to_do));
  unsigned char magic[2] = {0, 0};
  const std::size_t got = std::fread(magic, 1, 2, handle);
  const bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!gzip) {
    std::rewind(handle);
    return std::make_unique<PlainFileSource>(handle, file, size);
  }
  std::fclose(handle);
  gzFile compressed = gzopen(file.c_str(), "rb");
  if (compressed == nullptr)
    throw_error(fmt::format("cannot open {} for gzip decompression: {}", file.string(), std::strerror(errno)));
  gzbuffer(compressed, 1u << 18);
  return std::make_unique<GzipFileSource>(compressed, file);
}

}  // namespace tapegrad::data::detail
