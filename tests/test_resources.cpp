// train::Amount, describe_count / describe_bytes, and the machine's memory and disk as a run's checks read them.
#include <tapegrad/nn/train/resources.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <limits>

using tapegrad::train::Amount;

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
