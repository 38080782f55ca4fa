#include <tapegrad/nn/data/augment.h>

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include <tapegrad/core/error.h>

namespace tapegrad::data {
namespace {

void check_size(std::size_t size, const ImageShape& shape, const char* context) {
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0 ||
      size != static_cast<std::size_t>(shape.features()))
    throw_error(fmt::format("{}: an image of {} values does not have the shape {} ({} values)", context, size,
                            to_string(shape), shape.features()));
}

}  // namespace

void flip_horizontal(std::span<const std::uint8_t> image, std::span<std::uint8_t> flipped,
                     const ImageShape& shape) {
  check_size(image.size(), shape, "flip_horizontal");
  check_size(flipped.size(), shape, "flip_horizontal");
  const std::uint8_t* source = image.data();
  std::uint8_t* target = flipped.data();
  const std::less<const std::uint8_t*> before;
  if (before(source, target + flipped.size()) && before(target, source + image.size()))
    throw_error("flip_horizontal: the image and its flipped copy overlap; use flip_horizontal_in_place");
  const int rows = shape.channels * shape.height;  // the planes' rows, one after another
  const int width = shape.width;
  for (int row = 0; row < rows; ++row) {
    const std::uint8_t* from = source + static_cast<std::ptrdiff_t>(row) * width;
    std::uint8_t* to = target + static_cast<std::ptrdiff_t>(row) * width;
    std::reverse_copy(from, from + width, to);
  }
}

PixelVector flip_horizontal(const Eigen::Ref<const PixelVector>& image, const ImageShape& shape) {
  PixelVector flipped(image.size());
  flip_horizontal(std::span<const std::uint8_t>(image.data(), static_cast<std::size_t>(image.size())),
                  std::span<std::uint8_t>(flipped.data(), static_cast<std::size_t>(flipped.size())), shape);
  return flipped;
}

void flip_horizontal_in_place(Eigen::Ref<PixelVector> image, const ImageShape& shape) {
  check_size(static_cast<std::size_t>(image.size()), shape, "flip_horizontal_in_place");
  const int rows = shape.channels * shape.height;
  for (int row = 0; row < rows; ++row) {
    std::uint8_t* first = image.data() + static_cast<std::ptrdiff_t>(row) * shape.width;
    std::reverse(first, first + shape.width);
  }
}

}  // namespace tapegrad::data
