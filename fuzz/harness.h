// What each fuzz target does with one input, shared by the libFuzzer programs in this folder and by the normal
// test suite (tests/test_fuzz_seeds.cpp), which runs every seed through the same functions so that neither the
// seeds nor the harness can rot unnoticed.
//
// A reader takes a path, so an input is written to a file in a scratch directory and the reader is called on it.
// The expected way to refuse a file is a tapegrad::Error: it is caught here and nothing else is. Anything else
// that escapes (another exception type), a crash, a sanitizer report, or a loaded result that breaks one of the
// checks below (fuzz_check: prints and aborts) is a finding.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include <tapegrad/core/error.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/nn/data/cifar10.h>
#include <tapegrad/nn/data/idx.h>
#include <tapegrad/nn/safetensors.h>

namespace tapegrad::fuzz {

enum class Outcome { loaded, rejected };

inline const char* outcome_name(Outcome outcome) { return outcome == Outcome::loaded ? "loaded" : "rejected"; }

// A loaded result that contradicts its input: report and abort, which libFuzzer records as a crash.
inline void fuzz_check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "tapegrad fuzz: invariant violated: %s\n", what);
  std::abort();
}

// Writes `size` bytes to `file`, replacing it. Failing to write the scratch file is a harness problem, not a
// finding in the reader, so it aborts with its own message.
inline void write_file(const std::filesystem::path& file, const std::uint8_t* data, std::size_t size) {
  const int descriptor = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    std::fprintf(stderr, "tapegrad fuzz: cannot create %s: %s\n", file.c_str(), std::strerror(errno));
    std::abort();
  }
  while (size > 0) {
    const ssize_t written = ::write(descriptor, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      std::fprintf(stderr, "tapegrad fuzz: cannot write %s: %s\n", file.c_str(), std::strerror(errno));
      std::abort();
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  ::close(descriptor);
}

// Writes the gzip compression of `size` bytes to `file`. Compressed in memory with a small window and hash table:
// the point is a valid gzip stream, not the ratio, and zlib's default 256 KiB of deflate state per input would
// cost more than the reader under AddressSanitizer.
inline void write_gzip_file(const std::filesystem::path& file, const std::uint8_t* data, std::size_t size) {
  z_stream stream{};
  if (deflateInit2(&stream, 1, Z_DEFLATED, 10 + 16, 1, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::fprintf(stderr, "tapegrad fuzz: deflateInit2 failed\n");
    std::abort();
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(size)) + 64, '\0');
  stream.next_in = const_cast<Bytef*>(data);
  stream.avail_in = static_cast<uInt>(size);
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&stream, Z_FINISH);
  const auto compressed = static_cast<std::size_t>(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) {
    std::fprintf(stderr, "tapegrad fuzz: deflate did not finish\n");
    std::abort();
  }
  write_file(file, reinterpret_cast<const std::uint8_t*>(out.data()), compressed);
}

inline bool starts_with_gzip_magic(const std::uint8_t* data, std::size_t size) {
  return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

// A directory of its own for the process's scratch files (under /dev/shm when there is one, so that the
// per-input file writes stay in memory), removed when the object goes away.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    const std::filesystem::path shm = "/dev/shm";
    std::error_code error;
    const auto base = std::filesystem::is_directory(shm, error) ? shm : std::filesystem::temp_directory_path();
    path_ = base / ("tapegrad-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_, error);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------------------------------------------
// CIFAR-10: the input is the batch file. It is written alone in `directory`, so that no batches.meta.txt is found
// beside it.

inline Outcome run_cifar10(const std::uint8_t* data, std::size_t size, const std::filesystem::path& directory) {
  const auto file = directory / "batch.bin";
  write_file(file, data, size);
  data::ImageDataset dataset;
  try {
    dataset = data::load_cifar10_batch(file);
  } catch (const Error&) {
    return Outcome::rejected;
  }
  // Loaded: it must be exactly the records of the file.
  const auto record = static_cast<std::size_t>(data::cifar10_record_bytes);
  fuzz_check(size > 0 && size % record == 0, "cifar10: loaded a file that is not whole records");
  const std::size_t count = size / record;
  fuzz_check(static_cast<std::size_t>(dataset.pixels.cols()) == count && dataset.labels.size() == count,
             "cifar10: record count differs from the file size");
  fuzz_check(dataset.pixels.rows() == data::cifar10_record_bytes - 1, "cifar10: wrong pixel rows");
  fuzz_check(dataset.class_names.size() == 10, "cifar10: not 10 class names");
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t* bytes = data + i * record;
    fuzz_check(dataset.labels[i] == bytes[0] && bytes[0] < 10, "cifar10: label differs from the file");
    fuzz_check(std::memcmp(dataset.pixels.col(static_cast<Eigen::Index>(i)).data(), bytes + 1, record - 1) == 0,
               "cifar10: pixels differ from the file");
  }
  return Outcome::loaded;
}

// ---------------------------------------------------------------------------------------------------------------
// IDX: the same file goes to both readers (its magic number sends it to at most one). `plain` is the IDX content
// when known (plain input, or gzip input that this harness compressed itself), so that a loaded result can be
// compared with it; nullptr for gzip data whose content is not known here.

enum class IdxReaders { both, images, labels };

inline Outcome load_idx_both(const std::filesystem::path& file, const std::uint8_t* plain, std::size_t plain_size,
                             IdxReaders readers = IdxReaders::both) {
  Outcome outcome = Outcome::rejected;
  if (readers != IdxReaders::labels) try {
    const data::IdxImages images = data::load_idx_images(file);
    outcome = Outcome::loaded;
    const auto features = static_cast<std::uint64_t>(images.rows) * static_cast<std::uint64_t>(images.cols);
    fuzz_check(images.rows > 0 && images.cols > 0, "idx images: empty image shape");
    fuzz_check(static_cast<std::uint64_t>(images.pixels.rows()) == features, "idx images: pixel rows differ");
    fuzz_check(images.pixels.cols() > 0, "idx images: no images");
    if (plain != nullptr) {
      const std::uint64_t payload = features * static_cast<std::uint64_t>(images.pixels.cols());
      fuzz_check(plain_size == 16 + payload, "idx images: size differs from the header");
      fuzz_check(std::memcmp(images.pixels.data(), plain + 16, static_cast<std::size_t>(payload)) == 0,
                 "idx images: pixels differ from the file");
    }
  } catch (const Error&) {
  }
  if (readers != IdxReaders::images) try {
    const std::vector<int> labels = data::load_idx_labels(file);
    outcome = Outcome::loaded;
    fuzz_check(!labels.empty(), "idx labels: no labels");
    if (plain != nullptr) {
      fuzz_check(plain_size == 8 + labels.size(), "idx labels: size differs from the header");
      for (std::size_t i = 0; i < labels.size(); ++i)
        fuzz_check(labels[i] == plain[8 + i], "idx labels: a label differs from the file");
    }
  } catch (const Error&) {
  }
  return outcome;
}

// Plain IDX: the input is the file.
inline Outcome run_idx(const std::uint8_t* data, std::size_t size, const std::filesystem::path& directory) {
  const auto file = directory / "data.idx";
  write_file(file, data, size);
  // A plain-IDX input that happens to start with 1f 8b is read as gzip; its content is then not `data`.
  return load_idx_both(file, starts_with_gzip_magic(data, size) ? nullptr : data, size);
}

// Gzip IDX, two ways, so that both the decompressor's error paths and the IDX checks behind it are explored:
//  - an input that starts with the gzip magic 1f 8b is written as it is: mutations of real .gz files (seeds)
//    reach corrupt, truncated and concatenated streams, bad headers and trailers;
//  - any other input is the decompressed IDX content, which the harness gzips before writing: mutations then
//    explore the headers and sizes as they arrive through the stream of unknown length (the growing buffer and
//    the limits that stand in for the file size).
inline Outcome run_idx_gzip(const std::uint8_t* data, std::size_t size, const std::filesystem::path& directory) {
  const auto file = directory / "data.idx.gz";
  if (starts_with_gzip_magic(data, size)) {
    write_file(file, data, size);
    return load_idx_both(file, nullptr, 0);
  }
  write_gzip_file(file, data, size);
  // Each open of a .gz costs the reader zlib's large buffers, so content with an images or a labels magic number
  // goes only to its reader (the other reader's refusal of a wrong magic number is explored by all other inputs).
  IdxReaders readers = IdxReaders::both;
  if (size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0x08) {
    if (data[3] == 3) readers = IdxReaders::images;
    if (data[3] == 1) readers = IdxReaders::labels;
  }
  return load_idx_both(file, data, size, readers);
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints: the input is the file, loaded as float and as double (the header's scalar type lets at most one
// through). A random mutation almost never keeps the CRC-32 right, which would stop everything at the CRC check,
// so the input is loaded twice: as it is (which also explores the walk that tells a truncated file from a
// corrupted one) and, when its last 4 bytes are not already the CRC of the rest, with them set to it, which lets
// mutations reach the full parser. The outcome reported is that of the file as it is.

template <typename T>
bool same_checkpoint(const train::Checkpoint<T>& a, const train::Checkpoint<T>& b) {
  auto same_entries = [](const auto& x, const auto& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i].name != y[i].name || x[i].value.rows() != y[i].value.rows() ||
          x[i].value.cols() != y[i].value.cols())
        return false;
      const auto bytes = static_cast<std::size_t>(x[i].value.size()) * sizeof(T);
      if (bytes > 0 && std::memcmp(x[i].value.data(), y[i].value.data(), bytes) != 0) return false;
    }
    return true;
  };
  if (!same_entries(a.module_state, b.module_state) || !same_entries(a.optimizer_state, b.optimizer_state)) return false;
  if (a.epoch != b.epoch || a.step != b.step || a.scheduler_step != b.scheduler_step ||
      a.optimizer_step_count != b.optimizer_step_count || a.metadata != b.metadata ||
      a.generators.size() != b.generators.size())
    return false;
  for (auto x = a.generators.begin(), y = b.generators.begin(); x != a.generators.end(); ++x, ++y) {
    if (x->first != y->first || x->second.words != y->second.words ||
        x->second.has_cached_normal != y->second.has_cached_normal ||
        std::bit_cast<std::uint64_t>(x->second.cached_normal) != std::bit_cast<std::uint64_t>(y->second.cached_normal))
      return false;
  }
  return true;
}

// Loads `file` as a Checkpoint<T>; a checkpoint that loads must save and load back unchanged (whatever the loader
// accepts, the writer must be able to write: an Error from that save escapes and is a finding).
template <typename T>
Outcome load_checkpoint_as(const std::filesystem::path& file, const std::filesystem::path& directory) {
  train::Checkpoint<T> checkpoint;
  try {
    checkpoint = train::load_checkpoint<T>(file);
  } catch (const Error&) {
    return Outcome::rejected;
  }
  fuzz_check(checkpoint.source == file, "checkpoint: source is not the file loaded");
  const auto again = directory / "again.ckpt";
  train::save_checkpoint(again, checkpoint);
  const train::Checkpoint<T> reloaded = train::load_checkpoint<T>(again);
  fuzz_check(same_checkpoint(checkpoint, reloaded), "checkpoint: save then load changed a loaded checkpoint");
  return Outcome::loaded;
}

inline Outcome load_checkpoint_both(const std::filesystem::path& file, const std::filesystem::path& directory) {
  const Outcome as_float = load_checkpoint_as<float>(file, directory);
  const Outcome as_double = load_checkpoint_as<double>(file, directory);
  fuzz_check(as_float == Outcome::rejected || as_double == Outcome::rejected,
             "checkpoint: one file loaded both as float and as double");
  return as_float == Outcome::loaded || as_double == Outcome::loaded ? Outcome::loaded : Outcome::rejected;
}

inline std::uint32_t checkpoint_crc(const std::uint8_t* data, std::size_t size) {
  return static_cast<std::uint32_t>(::crc32(0, data, static_cast<uInt>(size)));
}

inline Outcome run_checkpoint(const std::uint8_t* data, std::size_t size, const std::filesystem::path& directory) {
  const auto file = directory / "input.ckpt";
  write_file(file, data, size);
  const Outcome as_is = load_checkpoint_both(file, directory);
  if (size >= 4) {
    std::string patched(reinterpret_cast<const char*>(data), size);
    const std::uint32_t crc = checkpoint_crc(data, size - 4);
    for (int i = 0; i < 4; ++i) patched[size - 4 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
    if (std::memcmp(patched.data() + size - 4, data + size - 4, 4) != 0) {
      write_file(file, reinterpret_cast<const std::uint8_t*>(patched.data()), size);
      load_checkpoint_both(file, directory);
    }
  }
  return as_is;
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors: the input is the file, loaded as float and as double. The scalar type only converts values, so both
// must accept or refuse it alike, with the same names, shapes and metadata; a file that loads must save and load
// back bit for bit (whatever the reader accepts, the writer must be able to write).

template <typename T>
bool load_safetensors_as(const std::filesystem::path& file, const std::filesystem::path& directory,
                         nn::SafetensorsFile<T>& loaded) {
  try {
    loaded = nn::load_safetensors<T>(file);
  } catch (const Error&) {
    return false;
  }
  const auto again = directory / "again.safetensors";
  nn::save_safetensors(again, loaded.tensors, loaded.metadata);
  const nn::SafetensorsFile<T> reloaded = nn::load_safetensors<T>(again);
  fuzz_check(reloaded.tensors == loaded.tensors && reloaded.metadata == loaded.metadata,
             "safetensors: save then load changed a loaded file");
  return true;
}

inline Outcome run_safetensors(const std::uint8_t* data, std::size_t size, const std::filesystem::path& directory) {
  const auto file = directory / "input.safetensors";
  write_file(file, data, size);
  nn::SafetensorsFile<float> as_float;
  nn::SafetensorsFile<double> as_double;
  const bool float_loaded = load_safetensors_as(file, directory, as_float);
  const bool double_loaded = load_safetensors_as(file, directory, as_double);
  fuzz_check(float_loaded == double_loaded, "safetensors: loaded as one scalar type but not as the other");
  if (!float_loaded) return Outcome::rejected;
  fuzz_check(as_float.metadata == as_double.metadata && as_float.tensors.names() == as_double.tensors.names(),
             "safetensors: float and double loads differ in names or metadata");
  std::uint64_t values = 0;
  for (const auto& entry : as_float.tensors) {
    const auto& other = as_double.tensors.at(entry.name);
    fuzz_check(entry.value.rows() == other.rows() && entry.value.cols() == other.cols(),
               "safetensors: float and double loads differ in a shape");
    values += static_cast<std::uint64_t>(entry.value.size());
  }
  // Every value comes from at least 4 bytes of the file.
  fuzz_check(values * 4 <= size, "safetensors: more values than the file has bytes for");
  return Outcome::loaded;
}

// ---------------------------------------------------------------------------------------------------------------

// The targets by name, as make_seeds and the seed test know them.
inline Outcome run_target(std::string_view target, const std::string& input, const std::filesystem::path& directory) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(input.data());
  if (target == "cifar10") return run_cifar10(data, input.size(), directory);
  if (target == "idx") return run_idx(data, input.size(), directory);
  if (target == "idx_gzip") return run_idx_gzip(data, input.size(), directory);
  if (target == "checkpoint") return run_checkpoint(data, input.size(), directory);
  if (target == "safetensors") return run_safetensors(data, input.size(), directory);
  std::fprintf(stderr, "tapegrad fuzz: unknown target %.*s\n", static_cast<int>(target.size()), target.data());
  std::abort();
}

}  // namespace tapegrad::fuzz
