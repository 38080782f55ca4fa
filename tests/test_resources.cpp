// train::Amount, describe_count / describe_bytes, the machine's memory and disk as a run's checks read them, and
// the checks that refuse settings which cannot fit (ResourceEstimate, require_disk_room), and the build record.
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/nn/train/build_record.h>
#include <tapegrad/nn/train/resources.h>

#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <limits>

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
