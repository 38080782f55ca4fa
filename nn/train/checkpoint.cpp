#include <tapegrad/nn/train/checkpoint.h>

#include <tapegrad/core/atomic_file.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <span>
#include <type_traits>

#include <tapegrad/core/error.h>

namespace tapegrad::train {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'P', 'E', 'G', 'R', 'A', 'D'};
constexpr std::uint32_t kFloat32Code = 1;
constexpr std::uint32_t kFloat64Code = 2;
constexpr std::size_t kHeaderBytes = 48;
// Header, four empty sections (a u64 count each) and the CRC.
constexpr std::size_t kSmallestFileBytes = kHeaderBytes + 4 * 8 + 4;

template <typename T>
constexpr std::uint32_t scalar_code() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "checkpoints hold float or double");
  static_assert(std::numeric_limits<T>::is_iec559, "checkpoints store IEEE 754 values");
  return std::is_same_v<T, float> ? kFloat32Code : kFloat64Code;
}

const char* scalar_name(std::uint32_t code) { return code == kFloat32Code ? "float32" : "float64"; }

std::string file_label(const std::filesystem::path& path) {
  return path.empty() ? std::string("(in memory)") : fmt::format("'{}'", path.string());
}

std::string system_reason(int error_number) { return std::strerror(error_number); }

// zlib's crc32 takes 32-bit lengths; larger buffers go through in pieces.
std::uint32_t crc32_update(std::uint32_t crc, const unsigned char* data, std::size_t size) {
  uLong value = crc;
  while (size > 0) {
    const std::size_t piece = std::min<std::size_t>(size, 1u << 30);
    value = ::crc32(value, data, static_cast<uInt>(piece));
    data += piece;
    size -= piece;
  }
  return static_cast<std::uint32_t>(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

// Buffered little-endian output to an AtomicFile, with the CRC-32 of everything written so far.
class CheckpointWriter {
 public:
  explicit CheckpointWriter(const std::filesystem::path& path) : file_(path) { buffer_.reserve(kBufferBytes); }
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  void bytes(const void* data, std::size_t size) {
    const auto* first = static_cast<const unsigned char*>(data);
    crc_ = crc32_update(crc_, first, size);
    if (buffer_.size() + size <= kBufferBytes) {
      buffer_.insert(buffer_.end(), first, first + size);
      return;
    }
    flush();
    if (size >= kBufferBytes) {
      file_.write(first, size);
    } else {
      buffer_.insert(buffer_.end(), first, first + size);
    }
  }

  template <typename Unsigned>
  void little_endian(Unsigned value) {
    unsigned char encoded[sizeof(Unsigned)];
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i) encoded[i] = static_cast<unsigned char>(value >> (8 * i));
    bytes(encoded, sizeof(Unsigned));
  }
  void u8(std::uint8_t value) { bytes(&value, 1); }
  void u32(std::uint32_t value) { little_endian(value); }
  void u64(std::uint64_t value) { little_endian(value); }
  void i64(std::int64_t value) { little_endian(static_cast<std::uint64_t>(value)); }
  void f64(double value) { little_endian(std::bit_cast<std::uint64_t>(value)); }

  template <typename T>
  void scalars(const T* data, std::size_t count) {
    if constexpr (std::endian::native == std::endian::little) {
      bytes(data, count * sizeof(T));
    } else {
      using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
      for (std::size_t i = 0; i < count; ++i) little_endian(std::bit_cast<Bits>(data[i]));
    }
  }

  std::uint32_t crc() const { return crc_; }

  // Everything on the disk, then renamed over the previous checkpoint.
  void commit() {
    flush();
    file_.commit();
  }

 private:
  static constexpr std::size_t kBufferBytes = 1 << 20;

  void flush() {
    file_.write(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  AtomicFile file_;
  std::vector<unsigned char> buffer_;
  std::uint32_t crc_ = 0;
};

void write_name(CheckpointWriter& writer, const std::string& name) {
  writer.u32(static_cast<std::uint32_t>(name.size()));
  writer.bytes(name.data(), name.size());
}

template <typename T>
void write_tensors(CheckpointWriter& writer, const std::vector<optim::StateEntry<T>>& entries) {
  writer.u64(entries.size());
  for (const auto& entry : entries) {
    write_name(writer, entry.name);
    writer.u64(static_cast<std::uint64_t>(entry.value.rows()));
    writer.u64(static_cast<std::uint64_t>(entry.value.cols()));
    writer.scalars(entry.value.data(), static_cast<std::size_t>(entry.value.size()));
  }
}

template <typename T>
void write_checkpoint(CheckpointWriter& writer, const Checkpoint<T>& checkpoint) {
  writer.bytes(kMagic, sizeof(kMagic));
  writer.u32(kCheckpointFormatVersion);
  writer.u32(scalar_code<T>());
  writer.i64(checkpoint.epoch);
  writer.i64(checkpoint.step);
  writer.i64(checkpoint.scheduler_step);
  writer.i64(checkpoint.optimizer_step_count);
  write_tensors(writer, checkpoint.module_state);
  write_tensors(writer, checkpoint.optimizer_state);
  writer.u64(checkpoint.generators.size());
  for (const auto& [name, state] : checkpoint.generators) {
    write_name(writer, name);
    for (std::uint64_t word : state.words) writer.u64(word);
    writer.u8(state.has_cached_normal ? 1 : 0);
    writer.f64(state.cached_normal);
  }
  writer.u64(checkpoint.metadata.size());
  for (const auto& [key, value] : checkpoint.metadata) {
    write_name(writer, key);
    writer.u64(value.size());
    writer.bytes(value.data(), value.size());
  }
  writer.u32(writer.crc());
}

// Everything that can be wrong with the contents is found before the file system is touched.
template <typename T>
void check_before_saving(const std::filesystem::path& path, const Checkpoint<T>& checkpoint) {
  auto check_name = [&](const char* kind, const std::string& name) {
    if (name.size() > kCheckpointMaxNameBytes) {
      throw_error(
          fmt::format("checkpoint: cannot save {}: the {} name '{}...' is {} bytes long; names are at most {}",
                      file_label(path), kind, name.substr(0, 40), name.size(), kCheckpointMaxNameBytes));
    }
  };
  auto check_entries = [&](const char* kind, const std::vector<optim::StateEntry<T>>& entries) {
    std::set<std::string> seen;
    for (const auto& entry : entries) {
      check_name(kind, entry.name);
      if (!seen.insert(entry.name).second) {
        throw_error(fmt::format("checkpoint: cannot save {}: the {} '{}' appears twice; names must be unique",
                                file_label(path), kind, entry.name));
      }
    }
  };
  check_entries("parameter", checkpoint.module_state);
  check_entries("optimizer state entry", checkpoint.optimizer_state);
  for (const auto& [name, state] : checkpoint.generators) check_name("generator", name);
  for (const auto& [key, value] : checkpoint.metadata) check_name("metadata key", key);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

// A record that claims more bytes than remain. Loading tells a truncated file from a corrupted one by whether
// this happens while the CRC does not match.
struct Overrun {
  std::string message;
};

class CheckpointReader {
 public:
  CheckpointReader(std::span<const unsigned char> data, std::size_t file_size)
      : data_(data), file_size_(file_size) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return data_.size() - offset_; }

  // Throws Overrun, describing `what`, when fewer than `size` bytes remain.
  void need(std::size_t size, const std::string& what) const {
    if (size > remaining()) {
      throw Overrun{fmt::format(
          "{} at byte offset {} needs {} bytes, but only {} remain before the {} ({} bytes)", what, offset_, size,
          remaining(), data_.size() == file_size_ ? "end of the file" : "CRC at the end of the file", file_size_)};
    }
  }

  const unsigned char* take(std::size_t size, const std::string& what) {
    need(size, what);
    const unsigned char* first = data_.data() + offset_;
    offset_ += size;
    return first;
  }

  template <typename Unsigned>
  Unsigned little_endian(const std::string& what) {
    const unsigned char* bytes = take(sizeof(Unsigned), what);
    Unsigned value = 0;
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i) value |= static_cast<Unsigned>(bytes[i]) << (8 * i);
    return value;
  }
  std::uint8_t u8(const std::string& what) { return *take(1, what); }
  std::uint32_t u32(const std::string& what) { return little_endian<std::uint32_t>(what); }
  std::uint64_t u64(const std::string& what) { return little_endian<std::uint64_t>(what); }
  std::int64_t i64(const std::string& what) { return static_cast<std::int64_t>(u64(what)); }
  double f64(const std::string& what) { return std::bit_cast<double>(u64(what)); }

  std::string text(std::size_t size, const std::string& what) {
    const unsigned char* first = take(size, what);
    return std::string(reinterpret_cast<const char*>(first), size);
  }

  template <typename T>
  void scalars(T* out, std::size_t count, const std::string& what) {
    const unsigned char* first = take(count * sizeof(T), what);
    if constexpr (std::endian::native == std::endian::little) {
      if (count > 0) std::memcpy(out, first, count * sizeof(T));
    } else {
      using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
      for (std::size_t i = 0; i < count; ++i) {
        Bits bits = 0;
        for (std::size_t b = 0; b < sizeof(T); ++b) bits |= static_cast<Bits>(first[i * sizeof(T) + b]) << (8 * b);
        out[i] = std::bit_cast<T>(bits);
      }
    }
  }

 private:
  std::span<const unsigned char> data_;
  std::size_t file_size_;
  std::size_t offset_ = 0;
};

// The body of the file after the header: four sections. With `materialize` off only the structure is walked
// (to diagnose a file whose CRC does not match), so nothing is allocated for tensor data.
template <typename T>
class CheckpointParser {
 public:
  CheckpointParser(CheckpointReader& reader, const std::filesystem::path& path, bool materialize)
      : reader_(reader), path_(path), materialize_(materialize) {}

  void parse(Checkpoint<T>& out) {
    out.module_state = tensors("parameter");
    out.optimizer_state = tensors("optimizer state entry");
    generators(out.generators);
    metadata(out.metadata);
  }

 private:
  [[noreturn]] void invalid(const std::string& problem) const {
    throw_error(fmt::format("checkpoint: {} is not a valid checkpoint: {}; the file is corrupted",
                            file_label(path_), problem));
  }

  std::uint64_t count(const char* section) {
    return reader_.u64(fmt::format("the record count of the {} section", section));
  }

  std::string name(const char* kind, std::uint64_t index) {
    const std::uint32_t length = reader_.u32(fmt::format("the name length of {} record {}", kind, index));
    if (length > kCheckpointMaxNameBytes) {
      invalid(fmt::format("{} record {} at byte offset {} has a name of {} bytes; names are at most {}", kind,
                          index, reader_.offset() - 4, length, kCheckpointMaxNameBytes));
    }
    return reader_.text(length, fmt::format("the name of {} record {}", kind, index));
  }

  std::vector<optim::StateEntry<T>> tensors(const char* kind) {
    std::vector<optim::StateEntry<T>> entries;
    std::set<std::string> seen;
    const std::uint64_t records = count(kind);
    for (std::uint64_t index = 0; index < records; ++index) {
      optim::StateEntry<T> entry;
      entry.name = name(kind, index);
      const std::string what = fmt::format("{} '{}'", kind, entry.name);
      if (!seen.insert(entry.name).second) invalid(fmt::format("the {} appears twice", what));
      const std::uint64_t rows = reader_.u64(fmt::format("the row count of {}", what));
      const std::uint64_t cols = reader_.u64(fmt::format("the column count of {}", what));
      const std::uint64_t largest = static_cast<std::uint64_t>(std::numeric_limits<Index>::max());
      if (rows > largest || cols > largest) {
        invalid(
            fmt::format("the {} claims {} rows and {} columns, more than any matrix can have", what, rows, cols));
      }
      // The data must be in the file before anything is allocated for it.
      const std::uint64_t most_values = reader_.remaining() / sizeof(T);
      if (rows != 0 && cols > most_values / rows) {
        throw Overrun{
            fmt::format("{} at byte offset {} claims {} values of {} bytes, but only {} bytes remain before the "
                        "end of the data",
                        what, reader_.offset(), shape_string(static_cast<Index>(rows), static_cast<Index>(cols)),
                        sizeof(T), reader_.remaining())};
      }
      const std::size_t values = static_cast<std::size_t>(rows * cols);
      if (materialize_) {
        entry.value.resize(static_cast<Index>(rows), static_cast<Index>(cols));
        reader_.scalars(entry.value.data(), values, fmt::format("the values of {}", what));
        entries.push_back(std::move(entry));
      } else {
        reader_.take(values * sizeof(T), fmt::format("the values of {}", what));
      }
    }
    return entries;
  }

  void generators(std::map<std::string, Generator::State>& out) {
    const std::uint64_t records = count("generator");
    for (std::uint64_t index = 0; index < records; ++index) {
      const std::string generator_name = name("generator", index);
      const std::string what = fmt::format("generator '{}'", generator_name);
      Generator::State state;
      for (auto& word : state.words) word = reader_.u64(fmt::format("the state words of {}", what));
      const std::size_t flag_offset = reader_.offset();
      const std::uint8_t has_cached_normal = reader_.u8(fmt::format("the cached-normal flag of {}", what));
      if (has_cached_normal > 1) {
        invalid(fmt::format("the cached-normal flag of {} at byte offset {} is {}; it must be 0 or 1", what,
                            flag_offset, has_cached_normal));
      }
      state.has_cached_normal = has_cached_normal == 1;
      state.cached_normal = reader_.f64(fmt::format("the cached normal of {}", what));
      if (!out.emplace(generator_name, state).second) invalid(fmt::format("the {} appears twice", what));
    }
  }

  void metadata(std::map<std::string, std::string>& out) {
    const std::uint64_t records = count("metadata");
    for (std::uint64_t index = 0; index < records; ++index) {
      std::string key = name("metadata", index);
      const std::string what = fmt::format("metadata '{}'", key);
      const std::uint64_t length = reader_.u64(fmt::format("the value length of {}", what));
      reader_.need(length, fmt::format("the value of {}", what));
      if (!materialize_) {
        reader_.take(static_cast<std::size_t>(length), fmt::format("the value of {}", what));
        continue;
      }
      std::string value = reader_.text(static_cast<std::size_t>(length), fmt::format("the value of {}", what));
      if (!out.emplace(std::move(key), std::move(value)).second)
        invalid(fmt::format("the {} appears twice", what));
    }
  }

  CheckpointReader& reader_;
  const std::filesystem::path& path_;
  bool materialize_;
};

std::vector<unsigned char> read_whole_file(const std::filesystem::path& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) {
    throw_error(fmt::format("checkpoint: cannot open {}: {}", file_label(path), system_reason(errno)));
  }
  struct Closer {
    int descriptor;
    ~Closer() { ::close(descriptor); }
  } closer{descriptor};
  struct stat status {};
  if (::fstat(descriptor, &status) != 0) {
    throw_error(fmt::format("checkpoint: cannot read {}: {}", file_label(path), system_reason(errno)));
  }
  if (!S_ISREG(status.st_mode)) {
    throw_error(
        fmt::format("checkpoint: {} is not a regular file; give the path of a checkpoint file", file_label(path)));
  }
  std::vector<unsigned char> data(static_cast<std::size_t>(status.st_size));
  std::size_t filled = 0;
  while (filled < data.size()) {
    const ssize_t got = ::read(descriptor, data.data() + filled, data.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_error(fmt::format("checkpoint: cannot read {}: {}", file_label(path), system_reason(errno)));
    }
    if (got == 0) break;  // the file shrank while being read
    filled += static_cast<std::size_t>(got);
  }
  data.resize(filled);
  return data;
}

std::string hex_bytes(const unsigned char* data, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) out += fmt::format("{}{:02x}", i == 0 ? "" : " ", data[i]);
  return out;
}

// Magic, version and scalar type: the checks that say what kind of file this is at all.
template <typename T>
void check_header(const std::filesystem::path& path, const std::vector<unsigned char>& data) {
  const std::size_t magic_bytes = std::min(data.size(), sizeof(kMagic));
  if (magic_bytes > 0 && std::memcmp(data.data(), kMagic, magic_bytes) != 0) {
    throw_error(
        fmt::format("checkpoint: {} is not a tapegrad checkpoint: it starts with the bytes [{}] instead of "
                    "\"TAPEGRAD\"",
                    file_label(path), hex_bytes(data.data(), magic_bytes)));
  }
  if (data.size() < kSmallestFileBytes) {
    throw_error(
        fmt::format("checkpoint: {} is {} bytes long, shorter than the smallest checkpoint ({} bytes); the "
                    "file is truncated",
                    file_label(path), data.size(), kSmallestFileBytes));
  }
  CheckpointReader reader(data, data.size());
  reader.take(sizeof(kMagic), "the magic");
  const std::uint32_t version = reader.u32("the format version");
  if (version != kCheckpointFormatVersion) {
    throw_error(
        fmt::format("checkpoint: {} has format version {}, but this build of tapegrad reads version {}; "
                    "use the tapegrad version that wrote it",
                    file_label(path), version, kCheckpointFormatVersion));
  }
  const std::uint32_t code = reader.u32("the scalar type");
  if (code != kFloat32Code && code != kFloat64Code) {
    throw_error(
        fmt::format("checkpoint: {} has scalar type code {} at byte offset 12; the known codes are {} "
                    "(float32) and {} (float64); the file is corrupted",
                    file_label(path), code, kFloat32Code, kFloat64Code));
  }
  if (code != scalar_code<T>()) {
    throw_error(
        fmt::format("checkpoint: {} holds {} values but is being loaded as {}; load it with "
                    "load_checkpoint<{}>",
                    file_label(path), scalar_name(code), scalar_name(scalar_code<T>()),
                    code == kFloat32Code ? "float" : "double"));
  }
}

template <typename T>
void read_positions(CheckpointReader& reader, Checkpoint<T>& out) {
  reader.take(16, "the header");
  out.epoch = reader.i64("the epoch");
  out.step = reader.i64("the step");
  out.scheduler_step = reader.i64("the scheduler step");
  out.optimizer_step_count = reader.i64("the optimizer step count");
}

// Called when the CRC does not match: a truncated file is told apart from a changed byte by walking the
// structure over the whole file, which overruns the end only when data is missing.
template <typename T>
[[noreturn]] void diagnose_crc_mismatch(const std::filesystem::path& path, const std::vector<unsigned char>& data,
                                        std::uint32_t stored, std::uint32_t computed) {
  CheckpointReader reader(data, data.size());
  Checkpoint<T> unused;
  try {
    read_positions(reader, unused);
    CheckpointParser<T>(reader, path, false).parse(unused);
    reader.need(4, "the CRC-32 after the last section");
  } catch (const Overrun& overrun) {
    throw_error(
        fmt::format("checkpoint: {} is truncated: {} (and its CRC-32 does not match); the save that wrote "
                    "it did not finish, use an earlier checkpoint",
                    file_label(path), overrun.message));
  } catch (const Error&) {
    // A structural problem: corruption, reported below by its CRC.
  }
  throw_error(
      fmt::format("checkpoint: {} is corrupted: its CRC-32 is {:#010x} but the file's last 4 bytes say "
                  "{:#010x}; the file was changed after it was written, use an earlier checkpoint",
                  file_label(path), computed, stored));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Public functions

template <typename T>
const Generator::State& Checkpoint<T>::generator(const std::string& name) const {
  const auto found = generators.find(name);
  if (found != generators.end()) return found->second;
  std::string known;
  for (const auto& [key, state] : generators) known += (known.empty() ? "'" : ", '") + key + "'";
  throw_error(fmt::format("checkpoint: {} has no generator named '{}'; it has {}", file_label(source), name,
                          known.empty() ? "none" : known));
}

template <typename T>
const std::string& Checkpoint<T>::metadata_value(const std::string& key) const {
  const auto found = metadata.find(key);
  if (found != metadata.end()) return found->second;
  std::string known;
  for (const auto& [name, value] : metadata) known += (known.empty() ? "'" : ", '") + name + "'";
  throw_error(fmt::format("checkpoint: {} has no metadata named '{}'; it has {}", file_label(source), key,
                          known.empty() ? "none" : known));
}

template <typename T>
std::vector<NamedTensor<T>> checkpointed_tensors(const nn::Module<T>& module) {
  std::vector<NamedTensor<T>> out;
  for (const auto& named : module.named_parameters()) out.push_back({named.name, named.tensor});
  for (const auto& named : module.named_buffers()) out.push_back({named.name, named.tensor});
  return out;
}

template <typename T>
std::vector<optim::StateEntry<T>> capture_module_state(const nn::Module<T>& module) {
  std::vector<optim::StateEntry<T>> out;
  for (const auto& named : checkpointed_tensors(module)) out.push_back({named.name, named.tensor.value()});
  return out;
}

template <typename T>
void restore_module_state(nn::Module<T>& module, const Checkpoint<T>& checkpoint) {
  const auto model = checkpointed_tensors(module);
  std::map<std::string, const Matrix<T>*> in_file;
  for (const auto& entry : checkpoint.module_state) in_file.emplace(entry.name, &entry.value);
  const std::string file = file_label(checkpoint.source);

  std::vector<std::string> missing;
  for (const auto& named : model) {
    const auto found = in_file.find(named.name);
    if (found == in_file.end()) {
      missing.push_back(named.name);
      continue;
    }
    const Matrix<T>& saved = *found->second;
    if (saved.rows() != named.tensor.rows() || saved.cols() != named.tensor.cols()) {
      throw_error(
          fmt::format("checkpoint: parameter '{}' has shape {} in the file but {} in the model (file {}); "
                      "build the model with the sizes of the run that saved it",
                      named.name, shape_string(saved.rows(), saved.cols()), named.tensor.shape_string(), file));
    }
  }
  auto quoted_list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
    return out;
  };
  if (!missing.empty()) {
    throw_error(
        fmt::format("checkpoint: the model has parameter{} {} but the file has none by that name (file {}); "
                    "the checkpoint was saved from a different model",
                    missing.size() == 1 ? "" : "s", quoted_list(missing), file));
  }
  std::set<std::string> model_names;
  for (const auto& named : model) model_names.insert(named.name);
  std::vector<std::string> extra;
  for (const auto& entry : checkpoint.module_state) {
    if (!model_names.contains(entry.name)) extra.push_back(entry.name);
  }
  if (!extra.empty()) {
    throw_error(
        fmt::format("checkpoint: the file has parameter{} {} which the model does not have (file {}); the "
                    "checkpoint was saved from a different model",
                    extra.size() == 1 ? "" : "s", quoted_list(extra), file));
  }
  // Everything matches: only now is anything changed.
  for (const auto& named : model) named.tensor.mutable_value() = *in_file.at(named.name);
}

template <typename T>
void save_checkpoint(const std::filesystem::path& path, const Checkpoint<T>& checkpoint) {
  check_before_saving(path, checkpoint);
  try {
    CheckpointWriter writer(path);
    write_checkpoint(writer, checkpoint);
    writer.commit();
  } catch (const FileWriteFailure& failure) {
    throw WriteError(
        fmt::format("checkpoint: cannot save {}: could not {} '{}': {}; the previous checkpoint there, if "
                    "any, is unchanged",
                    file_label(path), failure.action, failure.temporary.string(), failure.reason()));
  }
}

template <typename T>
Checkpoint<T> load_checkpoint(const std::filesystem::path& path) {
  const std::vector<unsigned char> data = read_whole_file(path);
  check_header<T>(path, data);

  const std::size_t body_size = data.size() - 4;
  const std::uint32_t stored =
      CheckpointReader(std::span<const unsigned char>(data).subspan(body_size), 4).u32("the CRC-32");
  const std::uint32_t computed = crc32_update(0, data.data(), body_size);
  if (stored != computed) diagnose_crc_mismatch<T>(path, data, stored, computed);

  Checkpoint<T> checkpoint;
  checkpoint.source = path;
  CheckpointReader reader(std::span<const unsigned char>(data).first(body_size), data.size());
  try {
    read_positions(reader, checkpoint);
    CheckpointParser<T>(reader, path, true).parse(checkpoint);
  } catch (const Overrun& overrun) {
    // The CRC matched, so the file is as it was written: the writer itself was faulty.
    throw_error(fmt::format("checkpoint: {} is not a valid checkpoint: {}; the file is corrupted",
                            file_label(path), overrun.message));
  }
  if (reader.remaining() != 0) {
    throw_error(
        fmt::format("checkpoint: {} is not a valid checkpoint: {} unexpected bytes follow the last section "
                    "at byte offset {}; the file is corrupted",
                    file_label(path), reader.remaining(), reader.offset()));
  }
  return checkpoint;
}

template struct Checkpoint<float>;
template struct Checkpoint<double>;

#define TAPEGRAD_INSTANTIATE_CHECKPOINT(T)                                           \
  template std::vector<NamedTensor<T>> checkpointed_tensors(const nn::Module<T>&);     \
  template std::vector<optim::StateEntry<T>> capture_module_state(const nn::Module<T>&); \
  template void restore_module_state(nn::Module<T>&, const Checkpoint<T>&);              \
  template void save_checkpoint(const std::filesystem::path&, const Checkpoint<T>&); \
  template Checkpoint<T> load_checkpoint(const std::filesystem::path&);

TAPEGRAD_INSTANTIATE_CHECKPOINT(float)
TAPEGRAD_INSTANTIATE_CHECKPOINT(double)

}  // namespace tapegrad::train
