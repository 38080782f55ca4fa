#include <tapegrad/nn/safetensors.h>

#include <tapegrad/core/atomic_file.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <tapegrad/core/error.h>

// The JSON header is read by the small strict parser below rather than by nlohmann_json: the library then needs no
// JSON dependency in its installed package, and the parser reports what the format needs reported and nlohmann's
// DOM parser hides (a duplicate key, which nlohmann silently overwrites), with the byte offset of every problem.
// It accepts exactly RFC 8259 JSON (UTF-8, no comments, no trailing commas), nested at most 64 levels deep.

namespace tapegrad::nn {

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the safetensors library's own limit
constexpr int kMaxJsonDepth = 64;
constexpr const char* kMetadataKey = "__metadata__";

// ---------------------------------------------------------------------------------------------------------------
// UTF-8

// The length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one (overlong forms, surrogates
// and code points past U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10ffff))) return 0;
  if (code >= 0xd800 && code <= 0xdfff) return 0;
  return length;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON reading

// A member of an object. Declared ahead and defined after JsonValue: std::vector may hold an incomplete type,
// std::pair may not (clang with libstdc++ rejects std::vector<std::pair<std::string, JsonValue>> inside JsonValue).
struct JsonMember;

struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  std::size_t offset = 0;  // where the value starts in the header, for messages
  std::string text;        // a string's value, or a number's literal
  std::optional<std::uint64_t> unsigned_integer;  // a number written as a plain non-negative integer that fits
  std::vector<JsonValue> items;
  std::vector<JsonMember> members;  // in the order written
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

const char* kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::null:
      return "null";
    case JsonValue::Kind::boolean:
      return "a boolean";
    case JsonValue::Kind::number:
      return "a number";
    case JsonValue::Kind::string:
      return "a string";
    case JsonValue::Kind::array:
      return "an array";
    case JsonValue::Kind::object:
      return "an object";
  }
  return "a value";
}

// Thrown inside the parser, turned into an Error naming the file by the caller.
struct JsonProblem {
  std::string message;
  std::size_t offset;
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  JsonValue parse_document() {
    skip_whitespace();
    JsonValue value = parse_value(0);
    skip_whitespace();
    if (position_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw JsonProblem{message, position_}; }

  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[position_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++position_;
  }

  void expect(char c) {
    if (at_end()) fail(fmt::format("the header ends where '{}' was expected", c));
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++position_;
  }

  void expect_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) fail("expected a JSON value");
    position_ += word.size();
  }

  JsonValue parse_value(int depth) {
    if (depth >= kMaxJsonDepth) fail(fmt::format("the JSON is nested deeper than {} levels", kMaxJsonDepth));
    if (at_end()) fail("the header ends where a value was expected");
    JsonValue value;
    value.offset = position_;
    const char c = peek();
    if (c == '{') {
      value.kind = JsonValue::Kind::object;
      parse_object(value, depth);
    } else if (c == '[') {
      value.kind = JsonValue::Kind::array;
      parse_array(value, depth);
    } else if (c == '"') {
      value.kind = JsonValue::Kind::string;
      value.text = parse_string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = JsonValue::Kind::number;
      parse_number(value);
    } else if (c == 't') {
      value.kind = JsonValue::Kind::boolean;
      expect_word("true");
    } else if (c == 'f') {
      value.kind = JsonValue::Kind::boolean;
      expect_word("false");
    } else if (c == 'n') {
      expect_word("null");
    } else {
      fail("expected a JSON value");
    }
    return value;
  }

  void parse_object(JsonValue& value, int depth) {
    expect('{');
    skip_whitespace();
    if (peek() == '}') {
      ++position_;
      return;
    }
    std::unordered_set<std::string> keys;
    while (true) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key in the object");
      const std::size_t key_offset = position_;
      std::string key = parse_string();
      if (!keys.insert(key).second) {
        position_ = key_offset;
        fail(fmt::format("the key \"{}\" appears twice in one object (a duplicate name)", key));
      }
      skip_whitespace();
      expect(':');
      skip_whitespace();
      value.members.push_back(JsonMember{std::move(key), parse_value(depth + 1)});
      skip_whitespace();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      expect('}');
      return;
    }
  }

  void parse_array(JsonValue& value, int depth) {
    expect('[');
    skip_whitespace();
    if (peek() == ']') {
      ++position_;
      return;
    }
    while (true) {
      skip_whitespace();
      value.items.push_back(parse_value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      expect(']');
      return;
    }
  }

  std::uint32_t parse_hex4() {
    if (position_ + 4 > text_.size()) fail("the header ends inside a \\u escape");
    std::uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[position_++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        --position_;
        fail("a \\u escape needs four hexadecimal digits");
      }
    }
    return code;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (at_end()) fail("the header ends inside a string");
      const char c = text_[position_];
      if (c == '"') {
        ++position_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character inside a string must be escaped");
      if (c == '\\') {
        ++position_;
        if (at_end()) fail("the header ends inside an escape");
        const char escaped = text_[position_++];
        switch (escaped) {
          case '"':
          case '\\':
          case '/':
            out += escaped;
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            std::uint32_t code = parse_hex4();
            if (code >= 0xdc00 && code <= 0xdfff) fail("a \\u escape is a lone low surrogate");
            if (code >= 0xd800 && code <= 0xdbff) {
              if (text_.substr(position_, 2) != "\\u") fail("a high surrogate \\u escape without its low half");
              position_ += 2;
              const std::uint32_t low = parse_hex4();
              if (low < 0xdc00 || low > 0xdfff) fail("a high surrogate \\u escape without its low half");
              code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            }
            append_utf8(out, code);
            break;
          }
          default:
            --position_;
            fail(fmt::format("unknown escape '\\{}'", escaped));
        }
        continue;
      }
      const std::size_t length = utf8_sequence_length(text_, position_);
      if (length == 0) fail("a string is not valid UTF-8");
      out.append(text_.substr(position_, length));
      position_ += length;
    }
  }

  void parse_number(JsonValue& value) {
    const std::size_t start = position_;
    auto digits = [&] {
      const std::size_t first = position_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++position_;
      return position_ - first;
    };
    const bool negative = peek() == '-';
    if (negative) ++position_;
    if (peek() == '0') {
      ++position_;
      if (peek() >= '0' && peek() <= '9') fail("a number has a leading zero");
    } else if (digits() == 0) {
      fail("a number needs digits");
    }
    bool plain_integer = !negative;
    if (peek() == '.') {
      ++position_;
      plain_integer = false;
      if (digits() == 0) fail("a number needs digits after its '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      plain_integer = false;
      if (peek() == '+' || peek() == '-') ++position_;
      if (digits() == 0) fail("a number needs digits in its exponent");
    }
    value.text = std::string(text_.substr(start, position_ - start));
    if (plain_integer) {
      std::uint64_t result = 0;
      bool fits = true;
      for (char c : value.text) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (result > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fits = false;
        result = result * 10 + digit;
      }
      if (fits) value.unsigned_integer = result;
    }
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// JSON writing

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += fmt::format("\\u{:04x}", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------------------------
// Dtypes

enum class Dtype { f32, f64, i64 };

std::size_t dtype_bytes(Dtype dtype) { return dtype == Dtype::f32 ? 4 : 8; }

template <typename T>
const char* dtype_name_of() {
  return sizeof(T) == 4 ? "F32" : "F64";
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

std::string system_reason(int error_number) { return std::error_code(error_number, std::generic_category()).message(); }

template <typename T>
void append_little_endian(std::string& out, const T* values, std::size_t count) {
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(values), count * sizeof(T));
  } else {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    for (std::size_t i = 0; i < count; ++i) {
      const Bits bits = std::bit_cast<Bits>(values[i]);
      for (std::size_t b = 0; b < sizeof(T); ++b) out += static_cast<char>(bits >> (8 * b));
    }
  }
}

// The row-major shape and bytes of one tensor, as described in safetensors.h.
template <typename T>
std::string tensor_shape_json(const Matrix<T>& value) {
  if (value.cols() == 1) return fmt::format("[{}]", value.rows());
  return fmt::format("[{},{}]", value.rows(), value.cols());
}

template <typename T>
void append_row_major(std::string& out, const Matrix<T>& value) {
  if (value.cols() == 1 || value.rows() == 1) {
    append_little_endian(out, value.data(), static_cast<std::size_t>(value.size()));
    return;
  }
  const Matrix<T> transposed = value.transpose();  // column-major storage of the transpose = row-major order
  append_little_endian(out, transposed.data(), static_cast<std::size_t>(transposed.size()));
}

void check_name_to_write(const std::filesystem::path& path, const std::string& name, const char* kind) {
  if (!is_valid_utf8(name)) {
    throw_error(fmt::format("safetensors: cannot save '{}': the {} name {} is not valid UTF-8, which the JSON "
                            "header needs",
                            path.string(), kind, json_string(name.substr(0, 40))));
  }
}

}  // namespace

template <typename T>
void save_safetensors(const std::filesystem::path& path, const StateDict<T>& tensors,
                      const SafetensorsMetadata& metadata) {
  // Everything that can be wrong with the contents is found before the file system is touched.
  for (const auto& entry : tensors) {
    check_name_to_write(path, entry.name, "tensor");
    if (entry.name == kMetadataKey) {
      throw_error(fmt::format("safetensors: cannot save '{}': a tensor is named \"__metadata__\", which the format "
                              "reserves for the metadata; rename it",
                              path.string()));
    }
  }
  for (const auto& [key, value] : metadata) {
    check_name_to_write(path, key, "metadata key");
    check_name_to_write(path, value, "metadata value of");
  }

  std::string header = "{";
  if (!metadata.empty()) {
    header += json_string(kMetadataKey) + ":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ',';
      header += json_string(key);
      header += ':';
      header += json_string(value);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const auto& entry : tensors) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(entry.value.size()) * sizeof(T);
    header += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{},{}]}}",
                          header.size() > 1 ? "," : "", json_string(entry.name), dtype_name_of<T>(),
                          tensor_shape_json(entry.value), offset, offset + bytes);
    offset += bytes;
  }
  header += "}";
  // Spaces (allowed JSON whitespace) up to a multiple of 8 after the length, so that the data is aligned for
  // readers that map the file, as the safetensors library itself pads.
  header.append((8 - header.size() % 8) % 8, ' ');

  std::string bytes;
  bytes.reserve(8 + header.size() + offset);
  const std::uint64_t header_length = header.size();
  append_little_endian(bytes, &header_length, 1);
  bytes += header;
  for (const auto& entry : tensors) append_row_major(bytes, entry.value);

  try {
    AtomicFile file(path);
    file.write(bytes);
    file.commit();
  } catch (const FileWriteFailure& failure) {
    throw WriteError(fmt::format("safetensors: cannot save '{}': could not {} '{}': {}; any previous file there is "
                                 "unchanged",
                                 path.string(), failure.action, failure.temporary.string(), failure.reason()));
  }
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Reading

struct TensorEntry {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

class HeaderReader {
 public:
  explicit HeaderReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw_error(fmt::format("safetensors: '{}' is not a valid safetensors file: {}", file_, message));
  }

  std::uint64_t unsigned_integer(const JsonValue& value, const std::string& what) const {
    if (value.kind != JsonValue::Kind::number || !value.unsigned_integer) {
      fail(fmt::format("{} must be a non-negative whole number below 2^64, but it is {}{}", what,
                       kind_name(value.kind), value.kind == JsonValue::Kind::number ? " " + value.text : ""));
    }
    return *value.unsigned_integer;
  }

  TensorEntry tensor(const std::string& name, const JsonValue& value) const {
    const std::string label = fmt::format("tensor \"{}\"", name);
    if (value.kind != JsonValue::Kind::object) {
      fail(fmt::format("{} must be an object with dtype, shape and data_offsets, but it is {}", label,
                       kind_name(value.kind)));
    }
    const JsonValue* dtype = nullptr;
    const JsonValue* shape = nullptr;
    const JsonValue* offsets = nullptr;
    for (const auto& [key, member] : value.members) {
      if (key == "dtype") {
        dtype = &member;
      } else if (key == "shape") {
        shape = &member;
      } else if (key == "data_offsets") {
        offsets = &member;
      } else {
        fail(fmt::format("{} has the unknown field \"{}\" (allowed: dtype, shape, data_offsets)", label, key));
      }
    }
    if (dtype == nullptr) fail(fmt::format("{} has no dtype", label));
    if (shape == nullptr) fail(fmt::format("{} has no shape", label));
    if (offsets == nullptr) fail(fmt::format("{} has no data_offsets", label));

    TensorEntry entry;
    entry.name = name;
    if (dtype->kind != JsonValue::Kind::string) fail(fmt::format("{}: dtype must be a string", label));
    if (dtype->text == "F32") {
      entry.dtype = Dtype::f32;
    } else if (dtype->text == "F64") {
      entry.dtype = Dtype::f64;
    } else if (dtype->text == "I64") {
      entry.dtype = Dtype::i64;
    } else {
      static const std::set<std::string> known = {"BOOL", "U8",  "I8",  "U16",     "I16",     "F16",     "BF16",
                                                  "U32",  "I32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                                  "F6_E2M3", "F6_E3M2", "C64"};
      fail(fmt::format("{} has {} dtype {}; tapegrad reads F32, F64 and I64", label,
                       known.contains(dtype->text) ? "the unsupported" : "the unknown", json_string(dtype->text)));
    }

    if (shape->kind != JsonValue::Kind::array) fail(fmt::format("{}: shape must be an array", label));
    if (shape->items.size() > 2) {
      fail(fmt::format("{} has {} dimensions; tapegrad tensors have at most 2", label, shape->items.size()));
    }
    std::uint64_t elements = 1;
    bool overflow = false;
    for (const auto& dimension : shape->items) {
      const std::uint64_t size = unsigned_integer(dimension, label + ": a shape entry");
      if (size > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) overflow = true;
      if (size != 0 && elements > std::numeric_limits<std::uint64_t>::max() / size) overflow = true;
      elements = overflow ? 0 : elements * size;
      entry.shape.push_back(size);
    }

    if (offsets->kind != JsonValue::Kind::array || offsets->items.size() != 2) {
      fail(fmt::format("{}: data_offsets must be an array of two numbers [begin, end]", label));
    }
    entry.begin = unsigned_integer(offsets->items[0], label + ": data_offsets[0]");
    entry.end = unsigned_integer(offsets->items[1], label + ": data_offsets[1]");
    if (entry.end < entry.begin) {
      fail(fmt::format("{} has data_offsets [{}, {}], which end before they begin", label, entry.begin, entry.end));
    }
    const std::uint64_t bytes = entry.end - entry.begin;
    const std::uint64_t element_bytes = dtype_bytes(entry.dtype);
    if (overflow || elements > std::numeric_limits<std::uint64_t>::max() / element_bytes ||
        elements * element_bytes != bytes) {
      std::string dims;
      for (auto d : entry.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
      fail(fmt::format("{} has shape [{}] of {}, {} bytes, but its data_offsets [{}, {}] hold {} bytes", label, dims,
                       dtype->text,
                       overflow || elements > std::numeric_limits<std::uint64_t>::max() / element_bytes
                           ? std::string("more than 2^64")
                           : std::to_string(elements * element_bytes),
                       entry.begin, entry.end, bytes));
    }
    return entry;
  }

  SafetensorsMetadata metadata(const JsonValue& value) const {
    if (value.kind != JsonValue::Kind::object) {
      fail(fmt::format("\"__metadata__\" must be an object of strings, but it is {}", kind_name(value.kind)));
    }
    SafetensorsMetadata out;
    for (const auto& [key, member] : value.members) {
      if (member.kind != JsonValue::Kind::string) {
        fail(fmt::format("the metadata value of \"{}\" must be a string, but it is {}", key, kind_name(member.kind)));
      }
      out.emplace(key, member.text);
    }
    return out;
  }

 private:
  std::string file_;
};

template <typename Source, typename T>
void read_values(const char* bytes, std::size_t count, T* out) {
  for (std::size_t i = 0; i < count; ++i) {
    Source value;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&value, bytes + i * sizeof(Source), sizeof(Source));
    } else {
      using Bits = std::conditional_t<sizeof(Source) == 4, std::uint32_t, std::uint64_t>;
      Bits bits = 0;
      for (std::size_t b = 0; b < sizeof(Source); ++b)
        bits |= static_cast<Bits>(static_cast<unsigned char>(bytes[i * sizeof(Source) + b])) << (8 * b);
      value = std::bit_cast<Source>(bits);
    }
    out[i] = static_cast<T>(value);
  }
}

std::string read_whole_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) {
    throw_error(fmt::format("safetensors: cannot read '{}': there is no such file", path.string()));
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw_error(fmt::format("safetensors: cannot read '{}': it is not a regular file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(fmt::format("safetensors: cannot open '{}': {}", path.string(), system_reason(errno)));
  const auto size = std::filesystem::file_size(path, error);
  if (error) throw_error(fmt::format("safetensors: cannot read '{}': {}", path.string(), error.message()));
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) {
    throw_error(fmt::format("safetensors: cannot read '{}': it changed size while being read", path.string()));
  }
  return bytes;
}

}  // namespace

template <typename T>
SafetensorsFile<T> load_safetensors(const std::filesystem::path& path) {
  const std::string bytes = read_whole_file(path);
  const HeaderReader reader(path.string());
  if (bytes.size() < 8) {
    reader.fail(fmt::format("it is {} bytes long, but the format starts with an 8-byte header length",
                            bytes.size()));
  }
  // The one other binary file a tapegrad program writes: said by name, not as a header length past the end.
  if (std::string_view(bytes).starts_with("TAPEGRAD")) {
    reader.fail("it is a tapegrad checkpoint (its first bytes are TAPEGRAD; train::load_checkpoint reads it), "
                "not a model file; a model file is written by nn::save_module_safetensors or train::save_model_file");
  }
  std::uint64_t header_length = 0;
  for (int b = 0; b < 8; ++b)
    header_length |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(b)]))
                     << (8 * b);
  const std::uint64_t after_length = bytes.size() - 8;
  if (header_length > after_length) {
    reader.fail(fmt::format("the header length {} runs past the end of the file ({} bytes follow the length)",
                            header_length, after_length));
  }
  if (header_length > kMaxHeaderBytes) {
    reader.fail(fmt::format("the header length {} is over the format's limit of {} bytes", header_length,
                            kMaxHeaderBytes));
  }
  const std::string_view header(bytes.data() + 8, static_cast<std::size_t>(header_length));
  JsonValue root;
  try {
    root = JsonParser(header).parse_document();
  } catch (const JsonProblem& problem) {
    reader.fail(fmt::format("its JSON header does not parse: {} at byte {} of the header", problem.message,
                            problem.offset));
  }
  if (root.kind != JsonValue::Kind::object) {
    reader.fail(fmt::format("its JSON header must be an object, but it is {}", kind_name(root.kind)));
  }

  SafetensorsFile<T> out;
  std::vector<TensorEntry> entries;
  for (const auto& [name, value] : root.members) {
    if (name == kMetadataKey) {
      out.metadata = reader.metadata(value);
    } else {
      entries.push_back(reader.tensor(name, value));
    }
  }

  // The tensors must tile the data exactly: sorted by offsets, each begins where the previous one ended.
  const std::uint64_t data_size = after_length - header_length;
  std::stable_sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const auto& entry : entries) {
    if (entry.end > data_size) {
      reader.fail(fmt::format("tensor \"{}\" has data_offsets [{}, {}], which run outside the data ({} bytes)",
                              entry.name, entry.begin, entry.end, data_size));
    }
    if (entry.begin < covered) {
      reader.fail(fmt::format("the data of tensors \"{}\" and \"{}\" overlap (bytes {} to {} of the data)",
                              previous->name, entry.name, entry.begin, covered));
    }
    if (entry.begin > covered) {
      reader.fail(fmt::format("the data has a gap: bytes {} to {} belong to no tensor (before \"{}\")", covered,
                              entry.begin, entry.name));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size) {
    reader.fail(fmt::format("the data has a gap: bytes {} to {} after the last tensor belong to no tensor", covered,
                            data_size));
  }

  // Sizes checked: every allocation below is of bytes the file holds.
  const char* data = bytes.data() + 8 + header_length;
  for (const auto& entry : entries) {
    const Index rows = entry.shape.empty() ? 1 : static_cast<Index>(entry.shape[0]);
    const Index cols = entry.shape.size() == 2 ? static_cast<Index>(entry.shape[1]) : 1;
    // Row-major data of r x c is the column-major data of its c x r transpose.
    Matrix<T> transposed(cols, rows);
    const char* source = data + entry.begin;
    const auto count = static_cast<std::size_t>(transposed.size());
    switch (entry.dtype) {
      case Dtype::f32:
        read_values<float>(source, count, transposed.data());
        break;
      case Dtype::f64:
        read_values<double>(source, count, transposed.data());
        break;
      case Dtype::i64:
        read_values<std::int64_t>(source, count, transposed.data());
        break;
    }
    out.tensors.insert(entry.name, transposed.transpose());
  }
  return out;
}

template <typename T>
void save_module_safetensors(const std::filesystem::path& path, const Module<T>& module, const StateDict<T>& extra,
                             const SafetensorsMetadata& metadata) {
  StateDict<T> tensors = module.state_dict();
  for (const auto& entry : extra) {
    if (tensors.contains(entry.name)) {
      throw_error(fmt::format("safetensors: cannot save '{}': the extra tensor \"{}\" has the name of a key of the "
                              "module; give it a prefix of its own (e.g. \"normalizer.\")",
                              path.string(), entry.name));
    }
  }
  tensors.merge(extra);
  save_safetensors(path, tensors, metadata);
}

template <typename T>
SafetensorsFile<T> load_module_state(SafetensorsFile<T> file, Module<T>& module,
                                     const std::filesystem::path& path) {
  const StateDict<T> module_state = module.state_dict();
  StateDict<T> for_module;
  SafetensorsFile<T> rest;
  rest.metadata = std::move(file.metadata);
  for (const auto& entry : file.tensors) {
    if (module_state.contains(entry.name)) {
      for_module.insert(entry.name, entry.value);
    } else {
      rest.tensors.insert(entry.name, entry.value);
    }
  }
  try {
    module.load_state_dict(for_module, true);
  } catch (const Error& error) {
    throw_error(fmt::format("safetensors: '{}' does not fit the module: {}", path.string(), error.what()));
  }
  return rest;
}

template <typename T>
SafetensorsFile<T> load_module_safetensors(const std::filesystem::path& path, Module<T>& module) {
  return load_module_state(load_safetensors<T>(path), module, path);
}

#define TAPEGRAD_INSTANTIATE_SAFETENSORS(T)                                                                      \
  template void save_safetensors(const std::filesystem::path&, const StateDict<T>&, const SafetensorsMetadata&); \
  template SafetensorsFile<T> load_safetensors(const std::filesystem::path&);                                    \
  template void save_module_safetensors(const std::filesystem::path&, const Module<T>&, const StateDict<T>&,     \
                                        const SafetensorsMetadata&);                                             \
  template SafetensorsFile<T> load_module_safetensors(const std::filesystem::path&, Module<T>&);                 \
  template SafetensorsFile<T> load_module_state(SafetensorsFile<T>, Module<T>&, const std::filesystem::path&);

TAPEGRAD_INSTANTIATE_SAFETENSORS(float)
TAPEGRAD_INSTANTIATE_SAFETENSORS(double)

}  // namespace tapegrad::nn
