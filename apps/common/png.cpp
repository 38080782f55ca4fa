#include "apps/common/png.h"

#include <fmt/format.h>
#include <png.h>

#include <string_view>
#include <vector>

#include "apps/common/atomic_file.h"
#include <tapegrad/core/error.h>

namespace tapegrad::plot {
namespace {

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

}  // namespace

void write_png_file(const std::filesystem::path& path, int width, int height, std::span<const std::uint8_t> rgb) {
  if (width <= 0 || height <= 0 || rgb.size() != static_cast<std::size_t>(width) * height * 3) {
    throw_error(fmt::format("cannot write PNG '{}': {} bytes do not make a {} x {} RGB picture", path.string(),
                            rgb.size(), width, height));
  }
  const std::vector<std::uint8_t> encoded = encode_png(path, width, height, rgb);
  apps::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
}

}  // namespace tapegrad::plot
