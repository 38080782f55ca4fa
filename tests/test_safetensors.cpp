// safetensors: round trips in float and double, the byte layout (row-major, 1-D columns, 8-byte aligned data),
// atomic writes, every malformed file the reader must refuse, module files with extra tensors, and a read by numpy.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <tapegrad/nn/nn.h>

#include "tests/support/app_runner.h"
#include "tests/support/test_data.h"

using namespace tapegrad;
using namespace tapegrad::nn;
using tapegrad::testing::read_bytes;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
using tapegrad::testing::error_message;

namespace {

template <typename T>
StateDict<T> assorted_tensors() {
  StateDict<T> dict;
  Matrix<T> weight(3, 4);
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 4; ++j) weight(i, j) = static_cast<T>(i) + static_cast<T>(j) / T(8);
  dict.insert("fc1.weight", weight);
  dict.insert("fc1.bias", Eigen::Matrix<T, Eigen::Dynamic, 1>::LinSpaced(3, T(-1), T(1)));
  Matrix<T> row(1, 5);
  row << T(1), T(-0.0), std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
      std::numeric_limits<T>::quiet_NaN();
  dict.insert("special.row", row);
  dict.insert("scalar", Matrix<T>::Constant(1, 1, T(0.1)));
  dict.insert("empty", Matrix<T>(0, 3));
  dict.insert("snowman \u2603 \"quoted\"\n", Matrix<T>::Constant(2, 2, std::numeric_limits<T>::denorm_min()));
  return dict;
}

std::string little_endian_u64(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// "{" + inner + "}", appended (GCC 12 warns falsely about a literal + std::string, bug 105329).
std::string braces(const std::string& inner) {
  std::string out = "{";
  out += inner;
  out += '}';
  return out;
}

// A file of the given header (as written, not padded) and data.
std::string file_of(const std::string& header, const std::string& data) {
  return little_endian_u64(header.size()) + header + data;
}

std::string float_bytes(std::vector<float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// The message of loading `bytes` as a file.
std::string load_error(const std::string& bytes) {
  TempDir directory("safetensors-bad");
  const auto file = directory / "bad.safetensors";
  write_bytes(file, bytes);
  return error_message([&] { load_safetensors<float>(file); });
}

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape,
                        std::uint64_t begin, std::uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

}  // namespace

TEMPLATE_TEST_CASE("safetensors round trip keeps names, order, shapes, every bit and the metadata",
                   "[safetensors]", float, double) {
  TempDir directory("safetensors");
  const auto file = directory / "model.safetensors";
  const StateDict<TestType> tensors = assorted_tensors<TestType>();
  const SafetensorsMetadata metadata = {{"format", "pt"}, {"note", "tab\there, \"quotes\", \\ and \u00e9"}, {"", ""}};
  save_safetensors(file, tensors, metadata);
  CHECK_FALSE(std::filesystem::exists(directory / "model.safetensors.tmp"));
  const SafetensorsFile<TestType> loaded = load_safetensors<TestType>(file);
  CHECK(loaded.tensors == tensors);
  CHECK(loaded.metadata == metadata);
  // An empty dict is a valid file too.
  save_safetensors(file, StateDict<TestType>{});
  CHECK(load_safetensors<TestType>(file).tensors.empty());
}

TEST_CASE("safetensors layout: length, JSON header padded to 8, row-major data, columns as 1-D", "[safetensors]") {
  TempDir directory("safetensors");
  const auto file = directory / "layout.safetensors";
  StateDict<float> dict;
  Matrix<float> weight(2, 3);
  weight << 1, 2, 3, 4, 5, 6;
  dict.insert("weight", weight);
  dict.insert("bias", Matrix<float>::Constant(2, 1, 7.0f));
  save_safetensors(file, dict, {{"k", "v"}});
  const std::string bytes = read_bytes(file);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK((8 + header_length) % 8 == 0);
  const std::string header = bytes.substr(8, header_length);
  CHECK_THAT(header, Catch::StartsWith(
                         R"({"__metadata__":{"k":"v"},"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                         R"("bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}})"));
  CHECK(bytes.substr(8 + header_length) == float_bytes({1, 2, 3, 4, 5, 6, 7, 7}));
}

TEST_CASE("safetensors reading converts F32, F64 and I64 to the scalar type asked for", "[safetensors]") {
  TempDir directory("safetensors");
  const auto file = directory / "mixed.safetensors";
  std::string data = float_bytes({1.5f, -2.0f});
  const double d = 0.1;
  data.append(reinterpret_cast<const char*>(&d), 8);
  const std::int64_t count = 12345;
  data.append(reinterpret_cast<const char*>(&count), 8);
  write_bytes(file, file_of(braces(tensor_json("a", "F32", "[1,2]", 0, 8) + "," +
                                tensor_json("b", "F64", "[]", 8, 16) + "," +
                                tensor_json("num_batches_tracked", "I64", "[]", 16, 24)),
                            data));
  const auto as_double = load_safetensors<double>(file);
  CHECK(as_double.tensors.at("a") == (Matrix<double>(1, 2) << 1.5, -2.0).finished());
  CHECK(as_double.tensors.at("b")(0, 0) == 0.1);
  CHECK(as_double.tensors.at("num_batches_tracked")(0, 0) == 12345.0);
  const auto as_float = load_safetensors<float>(file);
  CHECK(as_float.tensors.at("b")(0, 0) == 0.1f);
  CHECK(as_float.tensors.names() == std::vector<std::string>{"a", "b", "num_batches_tracked"});
}

TEST_CASE("safetensors reading orders the tensors by their data, whatever the header's order", "[safetensors]") {
  TempDir directory("safetensors");
  const auto file = directory / "order.safetensors";
  write_bytes(file, file_of(braces(tensor_json("second", "F32", "[1]", 4, 8) + "," +
                                tensor_json("first", "F32", "[1]", 0, 4)),
                            float_bytes({1, 2})));
  const auto loaded = load_safetensors<float>(file);
  CHECK(loaded.tensors.names() == std::vector<std::string>{"first", "second"});
  CHECK(loaded.tensors.at("second")(0, 0) == 2.0f);
}

TEST_CASE("safetensors refuses every malformed file with an Error naming the problem", "[safetensors]") {
  const std::string two = float_bytes({1, 2});
  auto one_tensor = [&](const std::string& dtype, const std::string& shape, std::uint64_t begin, std::uint64_t end) {
    return file_of(braces(tensor_json("t", dtype, shape, begin, end)), two);
  };
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"shorter than the length", "abc", "8-byte header length"},
      {"header length past the end", little_endian_u64(1000) + "{}", "header length 1000 runs past the end"},
      {"header length near 2^64", little_endian_u64(~std::uint64_t{0}) + "{}", "runs past the end"},
      {"a tapegrad checkpoint", std::string("TAPEGRAD") + std::string(40, '\x01'), "it is a tapegrad checkpoint"},
      {"JSON cut short", file_of("{\"t\":{\"dtype\":", ""), "does not parse"},
      {"trailing comma", file_of("{\"a\":\"b\",}", ""), "does not parse: expected a string key"},
      {"a comment", file_of("{/* */}", ""), "does not parse"},
      {"text after the JSON", file_of("{}x", ""), "unexpected text after the JSON value"},
      {"bad escape", file_of("{\"a\\q\":1}", ""), "unknown escape"},
      {"lone surrogate", file_of("{\"\\udc00\":1}", ""), "lone low surrogate"},
      {"invalid UTF-8", file_of("{\"\xff\":1}", ""), "not valid UTF-8"},
      {"raw control character", file_of("{\"a\nb\":1}", ""), "control character"},
      {"leading zero", file_of(braces(tensor_json("t", "F32", "[02]", 0, 8)), two), "leading zero"},
      {"deep nesting", file_of(std::string(100, '[') + std::string(100, ']'), ""), "nested deeper than 64"},
      {"header not an object", file_of("[]", ""), "must be an object, but it is an array"},
      {"duplicate name",
       file_of(braces(tensor_json("t", "F32", "[1]", 0, 4) + "," + tensor_json("t", "F32", "[1]", 4, 8)), two),
       "\"t\" appears twice"},
      {"unknown dtype", one_tensor("X9", "[2]", 0, 8), "the unknown dtype \"X9\""},
      {"unsupported dtype", one_tensor("F16", "[4]", 0, 8), "the unsupported dtype \"F16\""},
      {"dtype not a string", file_of(R"({"t":{"dtype":1,"shape":[2],"data_offsets":[0,8]}})", two),
       "dtype must be a string"},
      {"shape larger than its offsets", one_tensor("F32", "[3]", 0, 8), "shape [3] of F32, 12 bytes"},
      {"shape smaller than its offsets", one_tensor("F64", "[2,1]", 0, 8), "16 bytes, but its data_offsets"},
      {"shape overflowing 2^64", one_tensor("F32", "[4294967296,4294967296]", 0, 8), "more than 2^64"},
      {"three dimensions", one_tensor("F32", "[1,1,2]", 0, 8), "3 dimensions"},
      {"negative shape", one_tensor("F32", "[-2]", 0, 8), "non-negative whole number"},
      {"fractional shape", one_tensor("F32", "[2.0]", 0, 8), "non-negative whole number"},
      {"offsets running outside the data", one_tensor("F32", "[4]", 0, 16), "run outside the data (8 bytes)"},
      {"offsets ending before they begin", one_tensor("F32", "[1]", 8, 4), "end before they begin"},
      {"overlapping offsets",
       file_of(braces(tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("b", "F32", "[1]", 4, 8)), two),
       "\"a\" and \"b\" overlap"},
      {"gap between tensors",
       file_of(braces(tensor_json("a", "F32", "[1]", 0, 4) + "," + tensor_json("b", "F32", "[0]", 8, 8)), two),
       "gap: bytes 4 to 8 belong to no tensor"},
      {"gap at the start", one_tensor("F32", "[1]", 4, 8), "gap: bytes 0 to 4"},
      {"bytes after the last tensor", one_tensor("F32", "[1]", 0, 4), "after the last tensor"},
      {"missing data_offsets", file_of(R"({"t":{"dtype":"F32","shape":[2]}})", two), "has no data_offsets"},
      {"unknown field", file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", two),
       "unknown field \"x\""},
      {"three offsets", file_of(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", two),
       "array of two numbers"},
      {"metadata not strings", file_of(R"({"__metadata__":{"epoch":3}})", ""), "must be a string, but it is a number"},
      {"metadata not an object", file_of(R"({"__metadata__":"x"})", ""), "must be an object of strings"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string message = load_error(c.bytes);
    CHECK_THAT(message, Catch::Contains(c.message));
    CHECK_THAT(message, Catch::Contains("bad.safetensors"));
  }
  CHECK_THAT(error_message([] { load_safetensors<float>("/nonexistent/x.safetensors"); }),
             Catch::Contains("no such file"));
}

TEST_CASE("safetensors saving is atomic and refuses names the format cannot hold", "[safetensors]") {
  TempDir directory("safetensors");
  const auto file = directory / "model.safetensors";
  StateDict<float> dict;
  dict.insert("w", Matrix<float>::Ones(2, 2));
  save_safetensors(file, dict);
  const std::string before = read_bytes(file);

  StateDict<float> reserved;
  reserved.insert("__metadata__", Matrix<float>::Ones(1, 1));
  CHECK_THAT(error_message([&] { save_safetensors(file, reserved); }), Catch::Contains("reserves"));
  StateDict<float> not_utf8;
  not_utf8.insert("bad\xc3", Matrix<float>::Ones(1, 1));
  CHECK_THAT(error_message([&] { save_safetensors(file, not_utf8); }), Catch::Contains("not valid UTF-8"));
  CHECK_THAT(error_message([&] { save_safetensors(file, dict, {{"k", "\xff"}}); }), Catch::Contains("UTF-8"));
  // A directory in the way of the rename: the previous file is untouched and no temporary is left.
  std::filesystem::create_directories(directory / "occupied" / "inside");
  const std::string message = error_message([&] { save_safetensors(directory / "occupied", dict); });
  CHECK_THAT(message, Catch::Contains("could not rename"));
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory.path())) {
    INFO(entry.path().string());
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);
    ++entries;
  }
  CHECK(entries >= 2);
  CHECK_THAT(error_message([&] { save_safetensors(directory / "missing" / "x.safetensors", dict); }),
             Catch::Contains("could not create"));
  CHECK(read_bytes(file) == before);
}

TEST_CASE("a module's file holds its state_dict and extra tensors, and loads back into a fresh model",
          "[safetensors][state]") {
  TempDir directory("safetensors");
  const auto file = directory / "model.safetensors";
  Generator generator(1);
  auto build = [](Generator& g) {
    auto model = std::make_shared<Sequential<float>>();
    model->emplace_back<Linear<float>>(6, 5, LinearOptions{}, g);
    model->emplace_back<BatchNorm<float>>(5);
    model->emplace_back<ReLU<float>>();
    model->emplace_back<Linear<float>>(5, 3, LinearOptions{}, g);
    return model;
  };
  auto model = build(generator);
  for (int step = 0; step < 2; ++step) model->forward(Tensor<float>::normal(6, 8, generator));
  StateDict<float> normalizer;
  normalizer.insert("normalizer.mean", Matrix<float>::Constant(6, 1, 0.5f));
  normalizer.insert("normalizer.std", Matrix<float>::Constant(6, 1, 0.25f));
  save_module_safetensors(file, *model, normalizer, {{"preset", "test"}});

  Generator other(2);
  auto fresh = build(other);
  const SafetensorsFile<float> rest = load_module_safetensors(file, *fresh);
  CHECK(rest.tensors == normalizer);
  CHECK(rest.metadata.at("preset") == "test");
  model->eval();
  fresh->eval();
  const Tensor<float> x = Tensor<float>::normal(6, 4, generator);
  CHECK(fresh->forward(x).value() == model->forward(x).value());

  // A name clash with the module, and a file that lacks a key of the module.
  StateDict<float> clash;
  clash.insert("0.weight", Matrix<float>::Zero(1, 1));
  CHECK_THAT(error_message([&] { save_module_safetensors(file, *model, clash); }),
             Catch::Contains("\"0.weight\" has the name of a key of the module"));
  StateDict<float> partial;
  partial.insert("0.weight", model->state_dict().at("0.weight"));
  save_safetensors(file, partial);
  const std::string message = error_message([&] { load_module_safetensors(file, *fresh); });
  CHECK_THAT(message, Catch::Contains("missing"));
  CHECK_THAT(message, Catch::Contains("'1.running_mean'"));
}

TEST_CASE("numpy reads a saved file: a Linear weight (out x in) has shape (out, in) and the same values",
          "[safetensors][python]") {
  // The first python3 that imports numpy: $TAPEGRAD_PYTHON, then the one on PATH, then Debian's.
  std::string python;
  for (std::string candidate : {std::string(std::getenv("TAPEGRAD_PYTHON") ? std::getenv("TAPEGRAD_PYTHON") : ""),
                                std::string("python3"), std::string("/usr/bin/python3")}) {
    if (candidate.empty()) continue;
    if (tapegrad::testing::run_command(candidate + " -c 'import numpy' 2>&1").exit_code == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) {
    WARN("skipped: no python3 with numpy found (install python3-numpy, or set TAPEGRAD_PYTHON)");
    return;
  }
  TempDir directory("safetensors-numpy");
  const auto file = directory / "linear.safetensors";
  Generator generator(3);
  Linear<float> layer(4, 3, LinearOptions{}, generator);
  save_module_safetensors(file, layer, {}, {{"source", "tapegrad"}});
  Matrix<double> weight64 = layer.weight().value().cast<double>();
  StateDict<double> doubles;
  doubles.insert("w64", weight64);
  save_safetensors(directory / "double.safetensors", doubles);

  // Plain numpy, as the README shows it, then every value compared with the C++ side's, printed exactly.
  std::string expected = "W = [";
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 4; ++j)
      expected += fmt::format("{}{:.9g}", i + j == 0 ? "" : ", ", layer.weight().value()(i, j));
  expected += "]; b = [";
  for (Index i = 0; i < 3; ++i) expected += fmt::format("{}{:.9g}", i == 0 ? "" : ", ", layer.bias().value()(i, 0));
  expected += "]";
  const std::string script =
      "import json, struct, sys, numpy as np\n"
      "def load(path):\n"
      "    data = open(path, 'rb').read()\n"
      "    (n,) = struct.unpack('<Q', data[:8])\n"
      "    header = json.loads(data[8:8 + n])\n"
      "    meta = header.pop('__metadata__', {})\n"
      "    dtypes = {'F32': '<f4', 'F64': '<f8'}\n"
      "    tensors = {name: np.frombuffer(data[8 + n + t['data_offsets'][0]:8 + n + t['data_offsets'][1]],\n"
      "                                   dtype=dtypes[t['dtype']]).reshape(t['shape']) for name, t in header.items()}\n"
      "    return tensors, meta\n"
      "t, meta = load(sys.argv[1])\n"
      "assert t['weight'].shape == (3, 4), t['weight'].shape\n"
      "assert t['bias'].shape == (3,), t['bias'].shape\n"
      "assert meta == {'source': 'tapegrad'}, meta\n"
      "d, _ = load(sys.argv[2])\n"
      "assert d['w64'].dtype == np.float64 and np.array_equal(d['w64'], t['weight'].astype(np.float64))\n"
      "print('W = [' + ', '.join('%.9g' % v for v in t['weight'].flatten()) + ']; b = [' +\n"
      "      ', '.join('%.9g' % v for v in t['bias']) + ']')\n";
  tapegrad::testing::write_bytes(directory / "read.py", script);
  const auto result = tapegrad::testing::run_command(python + " " + (directory / "read.py").string() + " " +
                                                     file.string() + " " + (directory / "double.safetensors").string() +
                                                     " 2>&1");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains(expected));
}
