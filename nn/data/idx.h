// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (recognised by their first bytes, not their name).
// An IDX file is a 4-byte magic number (0, 0, type 0x08 = unsigned byte, number of dimensions), one big-endian
// 32-bit size per dimension, then the data: images files are 0x00000803 (count, rows, cols), labels files
// 0x00000801 (count).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::data {

struct IdxImages {
  PixelMatrix pixels;  // rows * cols x count, each column one image row-major
  int rows = 0;
  int cols = 0;
};

// Every header is checked against the file before the data is allocated: a plain file against its size; a
// gzip file, whose size is known only once decompressed, by growing the buffer as data arrives (and refusing
// headers that claim more than 16 GiB). Problems throw tapegrad::Error naming the file and the byte offset.
IdxImages load_idx_images(const std::filesystem::path& file);
std::vector<int> load_idx_labels(const std::filesystem::path& file);

// The ten digits "0".."9" (MNIST) and the Fashion-MNIST article names.
std::vector<std::string> digit_class_names();
std::vector<std::string> fashion_mnist_class_names();

// Images and labels as one dataset of shape 1 x rows x cols. Without class names the labels are digits
// 0..9. Every label must be below the number of classes.
ImageDataset load_mnist(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
                        std::vector<std::string> class_names = {});

struct MnistFiles {
  std::filesystem::path train_images, train_labels, test_images, test_labels;
};

// The standard file names in `directory`: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or with .gz (also the "images.idx3-ubyte"
// spelling some copies use). Throws naming the first file it cannot find.
MnistFiles find_mnist_files(const std::filesystem::path& directory);

struct TrainTestDatasets {
  ImageDataset train;
  ImageDataset test;
};

// find_mnist_files, load_mnist for both splits, then check_same_kind (the test files must hold images of the
// training files' size and labels of as many classes).
TrainTestDatasets load_mnist_directory(const std::filesystem::path& directory,
                                       const std::vector<std::string>& class_names = {});

}  // namespace tapegrad::data
