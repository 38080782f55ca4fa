// Augmentation of single images in the column layout of ImageDataset (channel planes of height x width, each
// row-major).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>

#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::data {

// Mirrors every row of every channel plane: pixel (c, y, x) goes to (c, y, width - 1 - x). For MNIST
// (channels = 1) that is the plain left-right mirror. `image` and `flipped` must not overlap.
void flip_horizontal(std::span<const std::uint8_t> image, std::span<std::uint8_t> flipped,
                     const ImageShape& shape);
PixelVector flip_horizontal(const Eigen::Ref<const PixelVector>& image, const ImageShape& shape);
void flip_horizontal_in_place(Eigen::Ref<PixelVector> image, const ImageShape& shape);

}  // namespace tapegrad::data
