// Checkpoints: the documented byte layout, round trips of every part, the named errors for files that do not fit
// the model or are damaged, the atomic save, and a training run that stops and resumes bit for bit.
#include <signal.h>
#include <sys/resource.h>
#include <zlib.h>

#include <atomic>
#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <tapegrad/nn/nn.h>
#include <tapegrad/core/atomic_file.h>
#include <tapegrad/nn/train/checkpoint.h>
#include <tapegrad/ops/ops.h>
#include <tapegrad/optim/schedule.h>
#include <tapegrad/optim/sgd.h>
#include "tests/support/test_data.h"

using namespace tapegrad;
using namespace tapegrad::nn;
using namespace tapegrad::train;
using tapegrad::testing::read_bytes;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
using tapegrad::testing::error_message;

// ---------------------------------------------------------------------------------------------------------------
// The largest single request to operator new while tracking is on: a load that allocated what a damaged size field
// claims would show up here (std::string and std::vector allocate through operator new). AddressSanitizer owns
// operator new, so under it nothing is replaced; an allocation of the claimed sizes aborts the test there instead.

namespace {
std::atomic<bool> tracking_allocations{false};
std::atomic<std::size_t> largest_allocation{0};
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAllocationsTracked = false;
#else
constexpr bool kAllocationsTracked = true;

void* operator new(std::size_t size) {
  if (tracking_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
// Not inlined, so that the compiler does not see free() meet a pointer from operator new and warn.
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
#endif

namespace {

class AllocationTracker {
 public:
  AllocationTracker() {
    largest_allocation = 0;
    tracking_allocations = true;
  }
  ~AllocationTracker() { tracking_allocations = false; }
  std::size_t largest() const { return largest_allocation.load(); }
};

// ---------------------------------------------------------------------------------------------------------------
// An encoder written from the layout documented in nn/train/checkpoint.h, independent of the library's writer.

struct Bytes {
  std::string data;
  template <typename Unsigned>
  Bytes& little_endian(Unsigned value) {
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
      data.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
    return *this;
  }
  Bytes& u8(std::uint8_t value) { return little_endian(value); }
  Bytes& u32(std::uint32_t value) { return little_endian(value); }
  Bytes& u64(std::uint64_t value) { return little_endian(value); }
  Bytes& i64(std::int64_t value) { return little_endian(static_cast<std::uint64_t>(value)); }
  Bytes& f32(float value) { return little_endian(std::bit_cast<std::uint32_t>(value)); }
  Bytes& f64(double value) { return little_endian(std::bit_cast<std::uint64_t>(value)); }
  Bytes& text(const std::string& value) {
    data += value;
    return *this;
  }
  Bytes& name(const std::string& value) { return u32(static_cast<std::uint32_t>(value.size())).text(value); }
  Bytes& header(std::uint32_t scalar_code, std::int64_t epoch, std::int64_t step, std::int64_t scheduler_step,
                std::int64_t optimizer_step_count) {
    return text("TAPEGRAD")
        .u32(1)
        .u32(scalar_code)
        .i64(epoch)
        .i64(step)
        .i64(scheduler_step)
        .i64(optimizer_step_count);
  }
  Bytes& float_tensor(const std::string& tensor_name, const Matrix<float>& value) {
    name(tensor_name).u64(static_cast<std::uint64_t>(value.rows())).u64(static_cast<std::uint64_t>(value.cols()));
    for (Index j = 0; j < value.cols(); ++j)
      for (Index i = 0; i < value.rows(); ++i) f32(value(i, j));
    return *this;
  }
  // The finished file: these bytes followed by their CRC-32 as zlib computes it.
  std::string with_crc() const {
    const auto crc = ::crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    Bytes out{data};
    out.u32(static_cast<std::uint32_t>(crc));
    return out.data;
  }
};

std::uint32_t stored_u32(const std::string& bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i)
    value |= std::uint32_t(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

// Replaces the last four bytes by the CRC of the rest, so that a change made on purpose passes the CRC check and
// reaches the checks behind it.
std::string recompute_crc(const std::string& file) { return Bytes{file.substr(0, file.size() - 4)}.with_crc(); }

// ---------------------------------------------------------------------------------------------------------------

std::shared_ptr<Sequential<float>> make_model(Index input, Index hidden, Index classes, std::uint64_t seed) {
  Generator generator(seed);
  auto model = std::make_shared<Sequential<float>>();
  model->emplace_back<Linear<float>>(
      input, hidden, LinearOptions{.weight = Init::he_normal(), .bias = Init::normal(0.1)}, generator);
  model->emplace_back<ReLU<float>>();
  model->emplace_back<Linear<float>>(hidden, classes, LinearOptions{.bias = Init::normal(0.1)}, generator);
  return model;
}

// A checkpoint with something in every part.
Checkpoint<float> full_checkpoint(const Module<float>& model) {
  Checkpoint<float> checkpoint;
  checkpoint.module_state = capture_module_state(model);
  Generator generator(77);
  for (const auto& entry : checkpoint.module_state) {
    checkpoint.optimizer_state.push_back(
        {entry.name + ".momentum",
         Tensor<float>::normal(entry.value.rows(), entry.value.cols(), generator).value()});
  }
  checkpoint.optimizer_state.push_back({"empty", Matrix<float>(0, 3)});  // no values, but a shape
  checkpoint.optimizer_step_count = 1234;
  checkpoint.scheduler_step = -5;  // any value round-trips, including negative ones
  checkpoint.epoch = 7;
  checkpoint.step = 9876543210LL;
  Generator shuffle(5);
  shuffle.normal();  // leaves a cached normal behind
  checkpoint.generators["shuffle"] = shuffle.state();
  checkpoint.generators["augment"] = Generator(6).state();
  checkpoint.metadata["config"] = R"({"learning_rate": 0.01, "note": "bytes \u0000 kept"})";
  checkpoint.metadata["empty"] = "";
  checkpoint.metadata["binary"] = std::string("\0\xff\n", 3);
  return checkpoint;
}

void require_same(const std::vector<optim::StateEntry<float>>& a, const std::vector<optim::StateEntry<float>>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name == b[i].name);
    REQUIRE(a[i].value.rows() == b[i].value.rows());
    REQUIRE(a[i].value.cols() == b[i].value.cols());
    // Bit for bit, so that -0.0 against 0.0 or two different NaNs would count as different.
    if (a[i].value.size() == 0) continue;
    CHECK(std::memcmp(a[i].value.data(), b[i].value.data(), sizeof(float) * std::size_t(a[i].value.size())) == 0);
  }
}

}  // namespace

TEST_CASE("save then load gives back every part of the checkpoint", "[checkpoint]") {
  TempDir directory("checkpoint");
  const auto path = directory / "model.ckpt";
  auto model = make_model(4, 6, 3, 1);
  const Checkpoint<float> saved = full_checkpoint(*model);
  save_checkpoint(path, saved);
  CHECK(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(directory / "model.ckpt.tmp"));

  const Checkpoint<float> loaded = load_checkpoint<float>(path);
  require_same(loaded.module_state, saved.module_state);
  require_same(loaded.optimizer_state, saved.optimizer_state);
  CHECK(loaded.optimizer_step_count == saved.optimizer_step_count);
  CHECK(loaded.scheduler_step == saved.scheduler_step);
  CHECK(loaded.epoch == saved.epoch);
  CHECK(loaded.step == saved.step);
  CHECK(loaded.generators == saved.generators);
  CHECK(loaded.metadata == saved.metadata);
  CHECK(loaded.source == path);
  CHECK(loaded.metadata_value("config") == saved.metadata.at("config"));
  CHECK_THROWS_WITH(loaded.metadata_value("missing"), Catch::Contains("missing") && Catch::Contains("config"));
  CHECK_THROWS_WITH(loaded.generator("dropout"),
                    Catch::Contains("dropout") && Catch::Contains("shuffle") && Catch::Contains(path.string()));

  // Into a model initialised differently: afterwards it holds exactly the saved values.
  auto fresh = make_model(4, 6, 3, 2);
  REQUIRE(fresh->parameter("0.weight").value() != model->parameter("0.weight").value());
  restore_module_state(*fresh, loaded);
  require_same(capture_module_state(*fresh), capture_module_state(*model));
  const Tensor<float> input = Tensor<float>::ones(4, 2);
  CHECK(fresh->forward(input).value() == model->forward(input).value());

  // Saving again over the file replaces it.
  Checkpoint<float> changed = saved;
  changed.epoch = 8;
  save_checkpoint(path, changed);
  CHECK(load_checkpoint<float>(path).epoch == 8);
}

TEST_CASE("a double checkpoint round-trips and is not loaded as float", "[checkpoint]") {
  TempDir directory("checkpoint");
  const auto path = directory / "double.ckpt";
  Generator generator(3);
  Linear<double> layer(3, 2, {.weight = Init::normal(1.0), .bias = Init::normal(1.0)}, generator);
  Checkpoint<double> saved;
  saved.module_state = capture_module_state(layer);
  save_checkpoint(path, saved);
  const Checkpoint<double> loaded = load_checkpoint<double>(path);
  REQUIRE(loaded.module_state.size() == 2);
  CHECK(loaded.module_state[0].name == "weight");
  CHECK(loaded.module_state[0].value == layer.weight().value());
  CHECK(loaded.module_state[1].value == layer.bias().value());
  CHECK(loaded.generators.empty());
  CHECK(loaded.metadata.empty());
  CHECK(stored_u32(read_bytes(path), 12) == 2);

  CHECK_THROWS_WITH(load_checkpoint<float>(path), Catch::Contains("float64") &&
                                                      Catch::Contains("load_checkpoint<double>") &&
                                                      Catch::Contains(path.string()));
}

TEST_CASE("the file is exactly the byte layout documented in checkpoint.h", "[checkpoint][format]") {
  TempDir directory("checkpoint");
  const auto path = directory / "layout.ckpt";
  Matrix<float> weight(2, 3);
  weight << 1.5f, -2.0f, 3.25f, 4.0f, -0.125f, 6.0f;
  Checkpoint<float> checkpoint;
  checkpoint.module_state = {{"fc1.weight", weight}, {"fc1.bias", Matrix<float>::Constant(2, 1, 0.5f)}};
  checkpoint.optimizer_state = {{"param0.momentum", weight * 2.0f}};
  checkpoint.optimizer_step_count = 3;
  checkpoint.scheduler_step = 4;
  checkpoint.epoch = 1;
  checkpoint.step = 2;
  Generator::State state;
  state.words = {1, 2, 0xFFFFFFFFFFFFFFFFULL, 0x0123456789ABCDEFULL};
  state.has_cached_normal = true;
  state.cached_normal = -0.75;
  checkpoint.generators["shuffle"] = state;
  checkpoint.metadata["config"] = "{}";
  save_checkpoint(path, checkpoint);

  Bytes expected;
  expected.header(1, 1, 2, 4, 3);
  expected.u64(2).float_tensor("fc1.weight", weight).float_tensor("fc1.bias", Matrix<float>::Constant(2, 1, 0.5f));
  expected.u64(1).float_tensor("param0.momentum", weight * 2.0f);
  expected.u64(1)
      .name("shuffle")
      .u64(1)
      .u64(2)
      .u64(0xFFFFFFFFFFFFFFFFULL)
      .u64(0x0123456789ABCDEFULL)
      .u8(1)
      .f64(-0.75);
  expected.u64(1).name("config").u64(2).text("{}");
  const std::string file = read_bytes(path);
  CHECK(file == expected.with_crc());
  // The first weight value sits where a reader in another language finds it: offset 48 + 8 (count) + 4 + 10 +
  // 8 + 8, column-major, so the second value is W(1, 0) = 4.
  const std::size_t data_offset = 48 + 8 + 4 + 10 + 8 + 8;
  CHECK(std::bit_cast<float>(stored_u32(file, data_offset)) == 1.5f);
  CHECK(std::bit_cast<float>(stored_u32(file, data_offset + 4)) == 4.0f);

  // And a file written by hand from the documentation loads.
  Bytes by_hand;
  by_hand.header(1, 10, 20, 30, 40)
      .u64(1)
      .float_tensor("w", weight)
      .u64(0)
      .u64(0)
      .u64(1)
      .name("k")
      .u64(1)
      .text("v");
  write_bytes(directory / "hand.ckpt", by_hand.with_crc());
  const Checkpoint<float> loaded = load_checkpoint<float>(directory / "hand.ckpt");
  CHECK(loaded.epoch == 10);
  CHECK(loaded.step == 20);
  CHECK(loaded.scheduler_step == 30);
  CHECK(loaded.optimizer_step_count == 40);
  REQUIRE(loaded.module_state.size() == 1);
  CHECK(loaded.module_state[0].value == weight);
  CHECK(loaded.metadata.at("k") == "v");
}

TEST_CASE("a generator restored from a checkpoint continues with the same numbers", "[checkpoint][generator]") {
  TempDir directory("checkpoint");
  Generator original(2024);
  for (int i = 0; i < 7; ++i) original.normal();  // an odd count: the second normal of a pair is cached
  original.uniform();
  REQUIRE(original.state().has_cached_normal);
  Checkpoint<float> checkpoint;
  checkpoint.generators["shuffle"] = original.state();
  save_checkpoint(directory / "rng.ckpt", checkpoint);

  Generator restored(1);
  restored.set_state(load_checkpoint<float>(directory / "rng.ckpt").generator("shuffle"));
  for (int i = 0; i < 50; ++i) {
    CHECK(restored.normal() == original.normal());
    CHECK(restored.uniform() == original.uniform());
    CHECK(restored.below(1000) == original.below(1000));
  }
  CHECK(restored.permutation(20) == original.permutation(20));
}

TEST_CASE("restoring into a model with other shapes or names names the parameter", "[checkpoint][errors]") {
  TempDir directory("checkpoint");
  const auto path = directory / "model.ckpt";
  auto model = make_model(4, 6, 3, 1);
  Checkpoint<float> saved;
  saved.module_state = capture_module_state(*model);
  save_checkpoint(path, saved);
  const Checkpoint<float> loaded = load_checkpoint<float>(path);

  SECTION("a different shape; the model is left as it was") {
    auto wider = make_model(4, 5, 3, 9);
    const auto before = capture_module_state(*wider);
    const std::string message = error_message([&] { restore_module_state(*wider, loaded); });
    CHECK_THAT(message,
               Catch::Contains("checkpoint: parameter '0.weight' has shape (6 x 4) in the file but (5 x 4) "
                               "in the model") &&
                   Catch::Contains(path.string()));
    require_same(capture_module_state(*wider), before);
  }
  SECTION("a shape that differs only in a later layer still changes nothing") {
    auto other = make_model(4, 6, 2, 9);
    const auto before = capture_module_state(*other);
    CHECK_THAT(error_message([&] { restore_module_state(*other, loaded); }),
               Catch::Contains("'2.weight' has shape (3 x 6) in the file but (2 x 6) in the model"));
    require_same(capture_module_state(*other), before);
  }
  SECTION("the model has parameters the file lacks") {
    auto deeper = make_model(4, 6, 3, 9);
    deeper->emplace_back<ReLU<float>>();
    Generator generator(1);
    deeper->emplace_back<Linear<float>>(3, 3, LinearOptions{}, generator);
    CHECK_THAT(error_message([&] { restore_module_state(*deeper, loaded); }), Catch::Contains("'4.weight', '4.bias'") &&
                                                                           Catch::Contains("has none") &&
                                                                           Catch::Contains(path.string()));
  }
  SECTION("the file has parameters the model lacks") {
    Checkpoint<float> bigger = loaded;
    bigger.module_state.push_back({"3.scale", Matrix<float>::Ones(1, 1)});
    CHECK_THAT(error_message([&] { restore_module_state(*model, bigger); }),
               Catch::Contains("file has parameter '3.scale'") && Catch::Contains("does not have"));
  }
  SECTION("same shapes under other names") {
    class Named : public Module<float> {
     public:
      Named() {
        Generator generator(3);
        register_module("fc1", std::make_shared<Linear<float>>(4, 6, LinearOptions{}, generator));
        register_module("fc2", std::make_shared<Linear<float>>(6, 3, LinearOptions{}, generator));
      }
      Tensor<float> forward(const Tensor<float>& input) override { return input; }
    } named;
    CHECK_THAT(error_message([&] { restore_module_state(named, loaded); }),
               Catch::Contains("'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'"));
  }
}

TEST_CASE("damaged files fail with an Error that names the file and the problem", "[checkpoint][errors]") {
  TempDir directory("checkpoint");
  const auto path = directory / "model.ckpt";
  const auto damaged = directory / "damaged.ckpt";
  auto model = make_model(4, 6, 3, 1);
  save_checkpoint(path, full_checkpoint(*model));
  const std::string good = read_bytes(path);
  REQUIRE(good.size() > 200);

  SECTION("one changed byte in the weights is caught by the CRC") {
    std::string bytes = good;
    bytes[100] = static_cast<char>(bytes[100] ^ 0x10);
    write_bytes(damaged, bytes);
    CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }),
               Catch::Contains("CRC-32") && Catch::Contains("corrupted") && Catch::Contains(damaged.string()));
  }
  SECTION("a change anywhere is an Error, never a crash or a silent load") {
    for (std::size_t i = 0; i < good.size(); ++i) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ 0xFF);
      write_bytes(damaged, bytes);
      INFO("byte " << i);
      CHECK_THROWS_AS(load_checkpoint<float>(damaged), Error);
    }
  }
  SECTION("a truncated file says so, at every length") {
    for (std::size_t length = 0; length < good.size(); ++length) {
      write_bytes(damaged, good.substr(0, length));
      INFO("length " << length);
      CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }),
                 Catch::Contains("truncated") && Catch::Contains(damaged.string()));
    }
  }
  SECTION("bytes after the CRC") {
    write_bytes(damaged, good + "x");
    CHECK_THROWS_AS(load_checkpoint<float>(damaged), Error);
    write_bytes(damaged, recompute_crc(good.substr(0, good.size() - 4) + "junk" + good.substr(good.size() - 4)));
    CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }), Catch::Contains("unexpected bytes"));
  }
  SECTION("another file type is not a checkpoint") {
    write_bytes(damaged, std::string("\x89PNG\r\n\x1a\n", 8) + good.substr(8));
    CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }),
               Catch::Contains("not a tapegrad checkpoint") && Catch::Contains("89 50 4e 47"));
  }
  SECTION("a newer format version") {
    std::string bytes = good;
    bytes[8] = 2;
    write_bytes(damaged, recompute_crc(bytes));
    CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }), Catch::Contains("format version 2"));
  }
  SECTION("an unknown scalar type") {
    std::string bytes = good;
    bytes[12] = 9;
    write_bytes(damaged, recompute_crc(bytes));
    CHECK_THAT(error_message([&] { load_checkpoint<float>(damaged); }), Catch::Contains("scalar type code 9"));
  }
  SECTION("a missing file") {
    CHECK_THAT(error_message([&] { load_checkpoint<float>(directory / "absent.ckpt"); }),
               Catch::Contains("cannot open") && Catch::Contains("absent.ckpt"));
    CHECK_THAT(error_message([&] { load_checkpoint<float>(directory.path()); }), Catch::Contains("not a regular file"));
  }
}

TEST_CASE("sizes claimed beyond the file fail before anything is allocated for them", "[checkpoint][errors]") {
  TempDir directory("checkpoint");
  const auto path = directory / "huge.ckpt";
  // Each file has a valid CRC, so only the size checks stand between the claim and an allocation.
  auto load_tracked = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    AllocationTracker tracker;
    const std::string message = error_message([&] { load_checkpoint<float>(path); });
    if (kAllocationsTracked) CHECK(tracker.largest() < 64 * 1024);
    return message;
  };
  const Matrix<float> small = Matrix<float>::Ones(2, 2);

  SECTION("a tensor of 2^20 x 2^20 values (4 TiB)") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(1).name("fc1.weight").u64(1ULL << 20).u64(1ULL << 20).f32(1.0f);
    bytes.u64(0).u64(0).u64(0);
    CHECK_THAT(load_tracked(bytes.with_crc()), Catch::Contains("'fc1.weight'") &&
                                                   Catch::Contains("(1048576 x 1048576)") &&
                                                   Catch::Contains(path.string()));
  }
  SECTION("dimensions whose product overflows") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(1).name("w").u64(1ULL << 62).u64(1ULL << 62).u64(0).u64(0).u64(0);
    CHECK_THAT(load_tracked(bytes.with_crc()), Catch::Contains("'w'"));
  }
  SECTION("a metadata value of 2^40 bytes") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(0).u64(0).u64(0).u64(1).name("config").u64(1ULL << 40).text("{}");
    CHECK_THAT(load_tracked(bytes.with_crc()),
               Catch::Contains("metadata 'config'") && Catch::Contains("1099511627776"));
  }
  SECTION("a name of 4 GiB") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(1).u32(0xFFFFFFFFu).text("w").u64(0).u64(0).u64(0);
    CHECK_THAT(load_tracked(bytes.with_crc()), Catch::Contains("4294967295"));
  }
  SECTION("2^62 records") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(1ULL << 62).float_tensor("w", small);
    CHECK_THAT(load_tracked(bytes.with_crc()), Catch::Contains("parameter record 1"));
  }
  SECTION("the same claims without a matching CRC read as a truncated file") {
    Bytes bytes;
    bytes.header(1, 0, 0, 0, 0).u64(1).name("fc1.weight").u64(1ULL << 20).u64(1ULL << 20).f32(1.0f);
    bytes.u64(0).u64(0).u64(0).u32(0);
    CHECK_THAT(load_tracked(bytes.data), Catch::Contains("truncated") && Catch::Contains("'fc1.weight'"));
  }
}

TEST_CASE("a save that fails leaves the previous checkpoint as it was", "[checkpoint][atomic]") {
  TempDir directory("checkpoint");
  const auto path = directory / "model.ckpt";
  auto model = make_model(4, 6, 3, 1);
  const Checkpoint<float> first = full_checkpoint(*model);
  save_checkpoint(path, first);
  const std::string before = read_bytes(path);
  Checkpoint<float> second = first;
  second.epoch = 99;
  second.metadata["log"] = std::string(300000, 'x');  // large enough to need several writes

  SECTION("the temporary file cannot be created") {
    // No descriptor left to open (RLIMIT_NOFILE below the lowest free one): open() fails with EMFILE.
    rlimit previous{};
    ::getrlimit(RLIMIT_NOFILE, &previous);
    rlimit limited = previous;
    limited.rlim_cur = 3;
    // Nothing but the save runs while the limit holds, not even a virtual call on the exception (its what()):
    // UndefinedBehaviorSanitizer's vptr check needs a descriptor of its own (it reads /proc/self/maps) to verify a
    // derived type such as WriteError, and reports a false "invalid vptr" without one.
    const bool limited_now = ::setrlimit(RLIMIT_NOFILE, &limited) == 0;
    std::exception_ptr failure;
    if (limited_now) {
      try {
        save_checkpoint(path, second);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    ::setrlimit(RLIMIT_NOFILE, &previous);
    REQUIRE(limited_now);
    REQUIRE(failure);
    const std::string message = error_message([&] { std::rethrow_exception(failure); });
    CHECK_THAT(message, Catch::Contains(path.string()) && Catch::Contains("could not create") &&
                            Catch::Contains("unchanged"));
    CHECK(read_bytes(path) == before);
    CHECK(load_checkpoint<float>(path).epoch == first.epoch);
  }
  SECTION("the disk fills up half-way through writing") {
    // RLIMIT_FSIZE makes write() fail with EFBIG beyond the limit (SIGXFSZ ignored): a real failure mid-file.
    struct FileSizeLimit {
      rlimit previous{};
      void (*previous_handler)(int) = nullptr;
      explicit FileSizeLimit(rlim_t bytes) {
        previous_handler = ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &previous);
        rlimit limited = previous;
        limited.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
      }
      ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &previous);
        ::signal(SIGXFSZ, previous_handler);
      }
    };
    std::string message;
    {
      FileSizeLimit limit(100000);
      message = error_message([&] { save_checkpoint(path, second); });
    }
    CHECK_THAT(message, Catch::Contains("could not write") && Catch::Contains(path.string()));
    CHECK(read_bytes(path) == before);
    // No temporary file is left beside it.
    int entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path())) ++entries;
    CHECK(entries == 1);
    // Without the limit the same save goes through.
    save_checkpoint(path, second);
    CHECK(load_checkpoint<float>(path).epoch == 99);
  }
  SECTION("the target directory cannot exist: its parent is a regular file") {
    write_bytes(directory / "plain", "not a directory");
    CHECK_THAT(error_message([&] { save_checkpoint(directory / "plain" / "model.ckpt", second); }),
               Catch::Contains("plain") && Catch::Contains("could not create"));
    CHECK(read_bytes(path) == before);
  }
  SECTION("invalid contents are refused before the file system is touched") {
    second.module_state.push_back(second.module_state.front());
    CHECK_THAT(error_message([&] { save_checkpoint(path, second); }), Catch::Contains("appears twice"));
    CHECK(read_bytes(path) == before);
    // No temporary file is left beside it.
    int entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path())) ++entries;
    CHECK(entries == 1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Stop and resume: a small classifier trained with momentum SGD, a cyclical learning rate, shuffled batches and
// noise added to the inputs, so that every part of the checkpoint matters for the result.

namespace {

struct Problem {
  static constexpr Index features = 3;
  static constexpr Index examples = 30;
  static constexpr Index batch = 5;
  static constexpr long steps_per_epoch = examples / batch;
  Tensor<float> inputs;
  std::vector<int> labels;

  Problem() {
    Generator generator(404);
    inputs = Tensor<float>::normal(features, examples, generator);
    for (Index j = 0; j < examples; ++j) labels.push_back(static_cast<int>(generator.below(3)));
  }
};

class TrainingRun {
 public:
  TrainingRun(const Problem& problem, std::uint64_t init_seed)
      : problem_(problem),
        model_(make_model(Problem::features, 8, 3, init_seed)),
        optimizer_(model_->parameters(), optim::SGDOptions{.learning_rate = 0.05, .momentum = 0.9}),
        scheduler_(optimizer_, optim::CyclicLR({.eta_min = 1e-3, .eta_max = 0.2, .steps_per_half_cycle = 4})) {}

  void train_until(long last_step) {
    while (step_ < last_step) {
      if (step_ % Problem::steps_per_epoch == 0) start_epoch();
      const long position = step_ % Problem::steps_per_epoch;
      const std::span<const int> indices(order_.data() + position * Problem::batch, Problem::batch);
      std::vector<int> batch_labels;
      for (int index : indices) batch_labels.push_back(problem_.labels[static_cast<std::size_t>(index)]);
      const Tensor<float> noise = Tensor<float>::normal(Problem::features, Problem::batch, noise_, 0.0f, 0.05f);
      const Tensor<float> batch = add(select_columns(problem_.inputs, indices), noise);

      optimizer_.zero_grad();
      const Tensor<float> cost = add(loss_(model_->forward(batch), batch_labels), l2_penalty(*model_, 1e-3f));
      cost.backward();
      optimizer_.step();
      scheduler_.step();
      ++step_;
    }
  }

  Checkpoint<float> checkpoint() const {
    Checkpoint<float> out;
    out.module_state = capture_module_state(*model_);
    out.optimizer_state = optimizer_.state();
    out.optimizer_step_count = optimizer_.step_count();
    out.scheduler_step = scheduler_.position();
    out.epoch = step_ / Problem::steps_per_epoch;
    out.step = step_;
    // Mid-epoch, the epoch's order is redrawn on resume from the generator as it was when the epoch began; at an
    // epoch boundary the next epoch has not drawn yet, so the generator as it is now.
    out.generators["shuffle"] = step_ % Problem::steps_per_epoch == 0 ? shuffle_.state() : epoch_start_;
    out.generators["noise"] = noise_.state();
    out.metadata["config"] = R"({"momentum": 0.9})";
    return out;
  }

  void resume(const Checkpoint<float>& checkpoint, bool with_optimizer_state = true) {
    restore_module_state(*model_, checkpoint);
    if (with_optimizer_state) optimizer_.load_state(checkpoint.optimizer_state, checkpoint.optimizer_step_count);
    scheduler_.set_position(checkpoint.scheduler_step);
    step_ = checkpoint.step;
    shuffle_.set_state(checkpoint.generator("shuffle"));
    noise_.set_state(checkpoint.generator("noise"));
    if (step_ % Problem::steps_per_epoch != 0) start_epoch();
  }

  const Module<float>& model() const { return *model_; }
  const optim::SGD<float>& optimizer() const { return optimizer_; }

 private:
  void start_epoch() {
    epoch_start_ = shuffle_.state();
    order_ = shuffle_.permutation(static_cast<int>(Problem::examples));
  }

  const Problem& problem_;
  std::shared_ptr<Sequential<float>> model_;
  optim::SGD<float> optimizer_;
  optim::Scheduler<float> scheduler_;
  CrossEntropyLoss<float> loss_;
  Generator shuffle_{100};
  Generator noise_{200};
  Generator::State epoch_start_;
  std::vector<int> order_;
  long step_ = 0;
};

}  // namespace

TEST_CASE("a run stopped and resumed ends exactly where an uninterrupted run ends", "[checkpoint][resume]") {
  TempDir directory("checkpoint");
  const auto path = directory / "run.ckpt";
  const Problem problem;
  const long total_steps = 20;

  TrainingRun uninterrupted(problem, 1);
  uninterrupted.train_until(total_steps);

  // Stopped mid-epoch (step 9 of 6 per epoch), saved to disk, and the objects thrown away.
  const long stop = GENERATE(9L, 12L);
  INFO("stopped at step " << stop);
  {
    TrainingRun first_part(problem, 1);
    first_part.train_until(stop);
    const Checkpoint<float> checkpoint = first_part.checkpoint();
    // 15 normals per step: after an odd number of steps the second of a pair waits in the cache.
    REQUIRE(checkpoint.generator("noise").has_cached_normal == (stop % 2 == 1));
    REQUIRE_FALSE(checkpoint.optimizer_state.empty());
    save_checkpoint(path, checkpoint);
  }

  // Fresh objects, initialised from another seed, then restored from the file.
  TrainingRun resumed(problem, 2);
  REQUIRE(capture_module_state(resumed.model())[0].value != capture_module_state(uninterrupted.model())[0].value);
  const Checkpoint<float> loaded = load_checkpoint<float>(path);
  resumed.resume(loaded);
  resumed.train_until(total_steps);

  const auto expected = capture_module_state(uninterrupted.model());
  require_same(capture_module_state(resumed.model()), expected);
  require_same(resumed.optimizer().state(), uninterrupted.optimizer().state());
  CHECK(resumed.optimizer().step_count() == total_steps);
  CHECK(resumed.optimizer().learning_rate() == uninterrupted.optimizer().learning_rate());
  // Training moved the weights after the stop, so the comparison above covers the resumed steps.
  CHECK(expected[0].value != loaded.module_state[0].value);

  // Leaving out one part of the state (the momentum buffers) gives other weights: the test sees what it checks.
  TrainingRun without_momentum(problem, 2);
  without_momentum.resume(loaded, false);
  without_momentum.train_until(total_steps);
  CHECK(capture_module_state(without_momentum.model())[0].value != expected[0].value);
}

TEST_CASE("a checkpoint carries a module's buffers (BatchNorm's running statistics) next to its parameters",
          "[checkpoint][buffers]") {
  TempDir directory("checkpoint_buffers");
  Generator generator(11);
  auto make = [&generator] {
    auto model = std::make_shared<Sequential<double>>();
    model->emplace_back<Linear<double>>(4, 3, LinearOptions{Init::he_normal(), Init::zeros()}, generator);
    model->emplace_back<BatchNorm<double>>(3);
    return model;
  };
  auto model = make();
  // Two training batches move the running statistics away from 0 and 1.
  for (int batch = 0; batch < 2; ++batch) (*model)(Tensor<double>::normal(4, 8, generator));
  const auto state = capture_module_state(*model);
  std::vector<std::string> names;
  for (const auto& entry : state) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                          "1.running_var", "1.num_batches_tracked"});

  Checkpoint<double> checkpoint;
  checkpoint.module_state = state;
  save_checkpoint(directory / "bn.ckpt", checkpoint);
  auto fresh = make();
  const auto& bn = dynamic_cast<const BatchNorm<double>&>(*fresh->children()[1].module);
  REQUIRE(bn.running_mean().value().isZero());
  restore_module_state(*fresh, load_checkpoint<double>(directory / "bn.ckpt"));
  const auto& trained = dynamic_cast<const BatchNorm<double>&>(*model->children()[1].module);
  CHECK(bn.running_mean().value() == trained.running_mean().value());
  CHECK(bn.running_var().value() == trained.running_var().value());
  CHECK_FALSE(bn.running_mean().value().isZero());
  fresh->eval();
  model->eval();
  const Tensor<double> x = Tensor<double>::normal(4, 5, generator);
  CHECK((*fresh)(x).value() == (*model)(x).value());
}

TEST_CASE("AtomicFile: two writers of one path have temporaries of their own, and an unfinished one changes nothing",
          "[checkpoint][atomic]") {
  TempDir directory("atomic-file");
  const std::filesystem::path target = directory / "model.safetensors";
  {
    tapegrad::AtomicFile first(target);
    tapegrad::AtomicFile second(target);
    CHECK(first.temporary() != second.temporary());
    first.write("first");
    second.write("second");
    second.commit();
    CHECK(read_bytes(target) == "second");
    first.commit();
    CHECK(read_bytes(target) == "first");
  }
  {
    tapegrad::AtomicFile abandoned(target);
    abandoned.write("never committed");
    CHECK(std::filesystem::exists(abandoned.temporary()));
  }
  CHECK(read_bytes(target) == "first");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory.path())) ++entries;
  CHECK(entries == 1);
  // A directory that cannot hold the file: the failure names the step and the temporary.
  try {
    tapegrad::AtomicFile missing(directory / "missing" / "file");
    FAIL("no failure");
  } catch (const tapegrad::FileWriteFailure& failure) {
    CHECK(failure.action == "create");
    CHECK(failure.error_number == ENOENT);
    CHECK(failure.temporary.parent_path() == directory / "missing");
  }
}
