#include "apps/common/png.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <png.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace tapegrad::plot {
namespace {

std::string errno_text(int error_number) { return std::system_category().message(error_number); }

// The simplified libpng API reports errors through image.message instead of longjmp, which keeps C++
// destructors out of libpng's way.
std::vector<std::uint8_t> encode_png(const std::filesystem::path& path, int width, int height,
                                     std::span<const std::uint8_t> rgb) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_RGB;
  // The bound libpng promises for any compression outcome, so one pass suffices.
  png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
  std::vector<std::uint8_t> encoded(size);
  if (png_image_write_to_memory(&image, encoded.data(), &size, 0, rgb.data(), width * 3, nullptr) == 0) {
    const std::string reason = image.message;
    png_image_free(&image);
    throw_error(fmt::format("cannot write PNG '{}': libpng could not encode it: {}", path.string(), reason));
  }
  encoded.resize(size);
  return encoded;
}

// Writes all bytes and flushes them to the disk; returns 0 or the errno of the step that failed.
int write_durably(const std::filesystem::path& file, std::span<const std::uint8_t> bytes, const char*& step) {
  step = "open";
  const int descriptor = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (descriptor < 0) return errno;
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t result = ::write(descriptor, bytes.data() + written, bytes.size() - written);
    if (result < 0 && errno == EINTR) continue;
    if (result <= 0) {
      const int error_number = result < 0 ? errno : EIO;
      step = "write";
      ::close(descriptor);
      return error_number;
    }
    written += static_cast<std::size_t>(result);
  }
  if (::fsync(descriptor) != 0) {
    const int error_number = errno;
    step = "flush";
    ::close(descriptor);
    return error_number;
  }
  step = "close";
  if (::close(descriptor) != 0) return errno;
  return 0;
}

}  // namespace

void write_png_file(const std::filesystem::path& path, int width, int height, std::span<const std::uint8_t> rgb) {
  if (width <= 0 || height <= 0 || rgb.size() != static_cast<std::size_t>(width) * height * 3) {
    throw_error(fmt::format("cannot write PNG '{}': {} bytes do not make a {} x {} RGB picture", path.string(),
                            rgb.size(), width, height));
  }
  const std::vector<std::uint8_t> encoded = encode_png(path, width, height, rgb);
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  const char* step = "";
  if (const int error_number = write_durably(temporary, encoded, step); error_number != 0) {
    std::error_code ignored;
    if (std::string_view(step) != "open") std::filesystem::remove(temporary, ignored);
    throw_error(
        fmt::format("cannot write PNG '{}': {} of '{}' failed: {}; check that the directory exists and is "
                    "writable and that the disk has space",
                    path.string(), step, temporary.string(), errno_text(error_number)));
  }
  std::error_code rename_error;
  std::filesystem::rename(temporary, path, rename_error);
  if (rename_error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw_error(fmt::format("cannot write PNG '{}': renaming '{}' into place failed: {}", path.string(),
                            temporary.string(), rename_error.message()));
  }
}

}  // namespace tapegrad::plot
