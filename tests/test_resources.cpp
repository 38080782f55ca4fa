// train::Amount, describe_count / describe_bytes, the machine's memory and disk as a run's checks read them, and
// the checks that refuse settings which cannot fit (ResourceEstimate, require_disk_room), a fully connected
// network's footprint (fully_connected_footprint, check_training_memory), and the build record.
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/nn/activation.h>
#include <tapegrad/nn/batch_norm.h>
#include <tapegrad/nn/linear.h>
#include <tapegrad/nn/sequential.h>
#include <tapegrad/nn/train/build_record.h>
#include <tapegrad/nn/train/resources.h>

#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

using tapegrad::train::Amount;
using tapegrad::train::ResourceLimitExceeded;
using tapegrad::train::SettingValues;

TEST_CASE("Amount saturates instead of wrapping around", "[train][resources]") {
  const Amount big(std::numeric_limits<long>::max());
  CHECK((big * Amount(3)).is_saturated());
  CHECK((Amount::saturated() + Amount(1)).is_saturated());
  CHECK_FALSE((big + big).is_saturated());
  CHECK((Amount(2) * Amount(1000000000) * Amount(1000000000)).value() == 2000000000000000000ULL);
  CHECK(Amount(-5).value() == 0);
  CHECK(divide_rounding_up(Amount(7), Amount(2)).value() == 4);
  CHECK(divide_rounding_up(Amount(8), Amount(2)).value() == 4);
  CHECK(divide_rounding_up(Amount(7), Amount(0)).is_saturated());
  CHECK(Amount(3) < Amount(4));
}

TEST_CASE("describe_count and describe_bytes say sizes as a message does", "[train][resources]") {
  using tapegrad::train::describe_bytes;
  using tapegrad::train::describe_count;
  CHECK(describe_count(Amount(123)) == "123");
  CHECK(describe_count(Amount(2000000000000000000LL)) == "2e+18");
  CHECK(describe_count(Amount::saturated()) == "more than 1.8e19");
  CHECK(describe_bytes(Amount(512)) == "512 bytes");
  CHECK(describe_bytes(Amount(3) * Amount(1024) * Amount(1024)) == "3.0 MiB");
  CHECK(describe_bytes(Amount(1536)) == "1.5 KiB");
  CHECK(describe_bytes(Amount::saturated()) == "more than 16 EiB");
}

TEST_CASE("physical_memory_bytes and available_disk_bytes read the machine, or the limits a test sets",
          "[train][resources]") {
  using tapegrad::train::available_disk_bytes;
  using tapegrad::train::physical_memory_bytes;
  const std::filesystem::path here = std::filesystem::temp_directory_path();
  ::unsetenv("TAPEGRAD_MEMORY_LIMIT");
  ::unsetenv("TAPEGRAD_DISK_LIMIT");
  const std::uint64_t memory = physical_memory_bytes();
  CHECK(memory > 1000000);
  CHECK(available_disk_bytes(here) > 0);
  ::setenv("TAPEGRAD_MEMORY_LIMIT", "12345", 1);
  ::setenv("TAPEGRAD_DISK_LIMIT", "678", 1);
  CHECK(physical_memory_bytes() == 12345);
  CHECK(available_disk_bytes(here) == 678);
  ::setenv("TAPEGRAD_DISK_LIMIT", "lots", 1);  // not a number of bytes: the disk's own room
  CHECK(available_disk_bytes(here) != 678);
  ::unsetenv("TAPEGRAD_MEMORY_LIMIT");
  ::unsetenv("TAPEGRAD_DISK_LIMIT");
  CHECK(physical_memory_bytes() == memory);
}

TEST_CASE("SettingValue shows a setting as a message names it", "[train][resources]") {
  using tapegrad::train::setting_names;
  using tapegrad::train::settings_with_values;
  CHECK(settings_with_values({{"--n-s", 1000000000000L}, {"lr", 0.2}, {"decay", 1e-05}, {"layers", "50,50"}}) ==
        "--n-s 1000000000000 lr 0.2 decay 1e-05 layers 50,50");
  CHECK(setting_names(SettingValues{}) == "");
  CHECK(setting_names({{"--a", 1}, {"--b", 2}, {"--c", 3}}, "and") == "--a, --b and --c");
  CHECK(setting_names({{"--n-s", 1}, {"--cycles", 2}, {"--n-s", 3}}) == "--n-s or --cycles");
  CHECK(tapegrad::train::hardware_thread_count() >= 1);
}

TEST_CASE("ResourceEstimate refuses counts above their caps, naming the settings that decide them",
          "[train][resources]") {
  using namespace tapegrad::train;
  const ResourceEstimate limits;
  CHECK_NOTHROW(limits.require_steps(Amount(kMaxUpdateSteps), {{"epochs", 1}}));
  try {
    limits.require_steps(Amount::saturated(), {{"--n-s", 1000000000000L}, {"--cycles", 9}});
    FAIL("not refused");
  } catch (const ResourceLimitExceeded& error) {
    CHECK_THAT(error.what(),
               Catch::StartsWith("--n-s 1000000000000 --cycles 9 make more than 1.8e19 update steps, "
                                 "more than the 1e+10 a run may have"));
    CHECK(error.advice() == "give a smaller --n-s or --cycles");
  }
  CHECK_NOTHROW(limits.require_evaluation_points(Amount(kMaxEvaluationPoints), {{"epochs", 1}}));
  try {
    limits.require_evaluation_points(Amount(kMaxEvaluationPoints + 1), {{"epochs", 7}});
    FAIL("not refused");
  } catch (const ResourceLimitExceeded& error) {
    CHECK_THAT(
        error.what(),
        Catch::StartsWith("epochs 7 makes 1e+06 evaluation points (rows of metrics.csv), more than the 1000000"));
    CHECK(error.advice() == "give a smaller epochs");
  }
  CHECK_NOTHROW(limits.require_trials(Amount(kMaxTrials), {{"trials", 1}}));
  CHECK_THROWS_AS(limits.require_trials(Amount(kMaxTrials + 1), {{"trials", 1}}), ResourceLimitExceeded);
}

TEST_CASE("ResourceEstimate refuses memory beyond the machine's, naming the largest items first",
          "[train][resources]") {
  using namespace tapegrad::train;
  ::setenv("TAPEGRAD_MEMORY_LIMIT", "1000000", 1);
  ResourceEstimate memory;
  memory.add_memory(Amount(300000), "the batches", {{"batch", 100}});
  memory.add_memory(Amount(800000), "the weights", {{"hidden", 7}});
  memory.add_memory(Amount(1), "a byte", {{"other", 1}});
  CHECK(memory.total_memory() == Amount(1100001));
  try {
    memory.check_memory();
    FAIL("not refused");
  } catch (const ResourceLimitExceeded& error) {
    CHECK(std::string(error.what()) ==
          "the settings need about 1.0 MiB of memory at once, more than this machine's 976.6 KiB: the weights "
          "781.2 KiB (hidden 7); the batches 293.0 KiB (batch 100)");
    CHECK(error.advice() == "give a smaller hidden or batch");
  }
  ResourceEstimate small;
  small.add_memory(Amount(1000000), "all of it", {});
  CHECK_NOTHROW(small.check_memory());
  ::unsetenv("TAPEGRAD_MEMORY_LIMIT");
}

TEST_CASE("require_disk_room refuses what the directory's disk cannot hold", "[train][resources]") {
  using namespace tapegrad::train;
  const std::filesystem::path here = std::filesystem::temp_directory_path();
  ::setenv("TAPEGRAD_DISK_LIMIT", "4096", 1);
  CHECK_NOTHROW(require_disk_room(here, "run_dir", Amount(4096), "the checkpoints", {{"hidden", 7}}));
  try {
    require_disk_room(here, "run_dir", Amount(4097), "the checkpoints", {});
    FAIL("not refused");
  } catch (const ResourceLimitExceeded& error) {
    CHECK(std::string(error.what()) == "the checkpoints need about 4.0 KiB on the disk of run_dir '" +
                                           here.string() + "' at once, and it has 4.0 KiB free");
    CHECK(error.advice() == "make room on that disk, or give run_dir a directory on a disk with more room");
  }
  ::setenv("TAPEGRAD_DISK_LIMIT", "0", 1);  // a disk whose room cannot be told passes
  CHECK_NOTHROW(require_disk_room(here, "run_dir", Amount::saturated(), "the checkpoints", {}));
  ::unsetenv("TAPEGRAD_DISK_LIMIT");
}

namespace {

// The values a Sequential of Linear layers (each hidden one followed by BatchNorm when asked, then ReLU) keeps:
// its parameters and its buffers, without BatchNorm's count of batches, which is not per unit.
std::uint64_t values_kept(const std::vector<long>& widths, bool batch_norm) {
  using namespace tapegrad;
  using namespace tapegrad::nn;
  Generator generator(1);
  Sequential<float> model;
  for (std::size_t layer = 1; layer < widths.size(); ++layer) {
    model.emplace_back<Linear<float>>(widths[layer - 1], widths[layer], LinearOptions{}, generator);
    if (layer + 1 == widths.size()) break;
    if (batch_norm) model.emplace_back<BatchNorm<float>>(widths[layer]);
    model.emplace_back<ReLU<float>>();
  }
  std::uint64_t values = 0;
  for (const auto& tensor : model.parameters()) values += static_cast<std::uint64_t>(tensor.size());
  for (const auto& buffer : model.named_buffers())
    if (!buffer.name.ends_with("num_batches_tracked")) values += static_cast<std::uint64_t>(buffer.tensor.size());
  return values;
}

}  // namespace

TEST_CASE("fully_connected_footprint counts the parameters that the library's layers hold", "[train][resources]") {
  using tapegrad::train::fully_connected_footprint;
  for (const bool batch_norm : {false, true}) {
    for (const std::vector<long>& widths : {std::vector<long>{12, 3}, {12, 7, 3}, {12, 7, 5, 3}}) {
      INFO("widths " << widths.size() << " batch norm " << batch_norm);
      CHECK(fully_connected_footprint(widths, batch_norm).parameters.value() == values_kept(widths, batch_norm));
    }
  }
  // Per example: the input twice; per hidden unit 4 values (8 with batch normalisation); per class 4.
  CHECK(fully_connected_footprint({3072, 50, 10}).values_per_example.value() == 2 * 3072 + 4 * 50 + 4 * 10);
  CHECK(fully_connected_footprint({3072, 50, 50, 10}, true).values_per_example.value() ==
        2 * 3072 + 8 * 100 + 4 * 10);
  CHECK(fully_connected_footprint({784, 10}).values_per_example.value() == 2 * 784 + 4 * 10);
  CHECK(fully_connected_footprint({}).parameters.value() == 0);
  CHECK(fully_connected_footprint({1L << 40, 1L << 40, 10}).parameters.is_saturated());  // 2^80 weights
}

TEST_CASE("check_training_memory adds every run's weights, batch and evaluation points, and says the disk need",
          "[train][resources]") {
  using namespace tapegrad::train;
  TrainingFootprint training;
  training.network = fully_connected_footprint({784, 20, 10});  // 15,910 parameters, 1,688 values per example
  training.batch_examples = Amount(100);
  training.evaluation_points = Amount(11);
  training.runs_side_by_side = Amount(2);
  training.network_name = "model";
  training.network_settings = {{"hidden", 20}};
  training.batch_settings = {{"batch", 100}, {"hidden", 20}};
  training.evaluation_settings = {{"epochs", 10}};
  ::unsetenv("TAPEGRAD_MEMORY_LIMIT");
  ResourceEstimate estimate;
  estimate.add_memory(Amount(1000), "the data", {});
  const DiskNeed disk = check_training_memory(estimate, training);
  CHECK(estimate.total_memory().value() == 1000 + 2 * (6 * 15910 * 4 + 100 * 1688 * 4 + 11 * 512));
  // A checkpoint (weights and rows) twice while it is replaced, and the best weights, for each run.
  CHECK(disk.bytes.value() == 2 * (3 * 15910 * 4 + 2 * 11 * 512));
  CHECK(settings_with_values(disk.settings) == "hidden 20 epochs 10");

  ::setenv("TAPEGRAD_MEMORY_LIMIT", "1000000", 1);
  training.scalar_bytes = Amount(8);
  training.runs_side_by_side = Amount(1);
  ResourceEstimate small;
  try {
    check_training_memory(small, training);
    FAIL("not refused");
  } catch (const ResourceLimitExceeded& error) {
    CHECK(
        std::string(error.what()) ==
        "the settings need about 2.0 MiB of memory at once, more than this machine's 976.6 KiB: a batch and what "
        "the model computes on it 1.3 MiB (batch 100 hidden 20); the model's weights, gradients and saved copies "
        "745.8 KiB (hidden 20)");
    CHECK(error.advice() == "give a smaller batch or hidden");
  }
  ::unsetenv("TAPEGRAD_MEMORY_LIMIT");
}

TEST_CASE("build_record names the library's version, compiler, Eigen and kernels", "[train][build]") {
  const tapegrad::train::BuildRecord build = tapegrad::train::build_record();
  CHECK_THAT(build.tapegrad, Catch::Matches(R"(\d+\.\d+\.\d+)"));
  CHECK_THAT(build.compiler, Catch::Matches(R"(\w+ \d+(\.\d+)*)"));
  CHECK(build.cxx_standard >= 202002L);
#ifdef NDEBUG
  CHECK_FALSE(build.assertions);
#else
  CHECK(build.assertions);
#endif
  CHECK(build.eigen == std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                           std::to_string(EIGEN_MINOR_VERSION));
  CHECK(build.eigen_simd == Eigen::SimdInstructionSetsInUse());
  CHECK(build.isa == tapegrad::kernels::isa_name(tapegrad::kernels::active_isa()));
  CHECK(build.gemm == tapegrad::gemm_backend());
  CHECK_THAT(build.fmt, Catch::Matches(R"(\d+\.\d+\.\d+)"));
  CHECK_THAT(build.nlohmann_json, Catch::Matches(R"(\d+\.\d+\.\d+)"));
}

TEST_CASE("build_record_json holds every member of the record under its name, and utc_timestamp reads UTC",
          "[train][build]") {
  tapegrad::train::BuildRecord build = tapegrad::train::build_record();
  build.compiler = "a \"quoted\" compiler";  // text is escaped, not pasted
  build.assertions = !build.assertions;
  const nlohmann::json record = nlohmann::json::parse(tapegrad::train::build_record_json(build));
  CHECK(record.size() == 10);
  CHECK(record["tapegrad"] == build.tapegrad);
  CHECK(record["compiler"] == build.compiler);
  CHECK(record["cxx_standard"] == build.cxx_standard);
  CHECK(record["assertions"] == build.assertions);
  CHECK(record["eigen"] == build.eigen);
  CHECK(record["eigen_simd"] == build.eigen_simd);
  CHECK(record["isa"] == build.isa);
  CHECK(record["gemm"] == build.gemm);
  CHECK(record["fmt"] == build.fmt);
  CHECK(record["nlohmann_json"] == build.nlohmann_json);
  CHECK(nlohmann::json::parse(tapegrad::train::build_record_json())["tapegrad"] == build.tapegrad);

  using std::chrono::seconds;
  using std::chrono::system_clock;
  // In a zone far from UTC, so that local time in place of UTC would show.
  const char* zone = std::getenv("TZ");
  const std::optional<std::string> previous_zone = zone ? std::optional<std::string>(zone) : std::nullopt;
  ::setenv("TZ", "NPT-05:45", 1);  // UTC+05:45, as a POSIX rule: no time zone files needed
  ::tzset();
  CHECK(tapegrad::train::utc_timestamp(system_clock::time_point(seconds(0))) == "1970-01-01T00:00:00Z");
  CHECK(tapegrad::train::utc_timestamp(system_clock::time_point(seconds(1714566896))) == "2024-05-01T12:34:56Z");
  previous_zone ? ::setenv("TZ", previous_zone->c_str(), 1) : ::unsetenv("TZ");
  ::tzset();
  CHECK_THAT(tapegrad::train::utc_timestamp(),
             Catch::Matches(R"(20\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\dZ)"));
}
