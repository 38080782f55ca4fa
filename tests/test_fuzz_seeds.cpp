// The fuzz targets' seed corpora (fuzz/seeds.h), run through the fuzz harness (fuzz/harness.h) in the normal
// build: every valid seed loads, every broken one is refused with a tapegrad::Error, and every loaded result
// passes the harness's checks. This keeps the seed writer and the harness from rotting between fuzz campaigns.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "fuzz/harness.h"
#include "fuzz/seeds.h"
#include "tests/support/test_data.h"

using tapegrad::fuzz::Outcome;
using tapegrad::testing::TempDir;

TEST_CASE("fuzz seeds: each valid seed loads and each broken one is refused, through the harness", "[fuzz][data]") {
  TempDir scratch("fuzz-seeds");
  const auto seeds = tapegrad::fuzz::make_seeds(scratch.path());
  std::map<std::string, std::set<Outcome>> outcomes_per_target;
  std::set<std::string> names;
  for (const auto& seed : seeds) {
    INFO(seed.target << "/" << seed.name);
    CHECK(names.insert(seed.target + "/" + seed.name).second);
    TempDir directory("fuzz-input");
    const Outcome outcome = tapegrad::fuzz::run_target(seed.target, seed.bytes, directory.path());
    CHECK(tapegrad::fuzz::outcome_name(outcome) == std::string(tapegrad::fuzz::outcome_name(seed.expected)));
    outcomes_per_target[seed.target].insert(seed.expected);
  }
  // Each target starts from both kinds of file.
  for (const char* target : {"cifar10", "idx", "idx_gzip", "checkpoint", "safetensors"}) {
    INFO(target);
    CHECK(outcomes_per_target[target] == std::set<Outcome>{Outcome::loaded, Outcome::rejected});
  }
}

TEST_CASE("fuzz seeds: small enough for the fuzzers' input size limits", "[fuzz]") {
  TempDir scratch("fuzz-seeds");
  // scripts/fuzz.sh runs cifar10 with -max_len=16384 and the others with -max_len=4096; a longer seed would be cut.
  for (const auto& seed : tapegrad::fuzz::make_seeds(scratch.path())) {
    INFO(seed.target << "/" << seed.name << ": " << seed.bytes.size() << " bytes");
    CHECK(seed.bytes.size() <= (seed.target == "cifar10" ? 16384u : 4096u));
  }
}

TEST_CASE("fuzz harness: a checkpoint with a wrong CRC is also tried with the CRC made right", "[fuzz][checkpoint]") {
  TempDir scratch("fuzz-seeds");
  std::string full;
  for (const auto& seed : tapegrad::fuzz::make_seeds(scratch.path()))
    if (seed.target == "checkpoint" && seed.name == "float-full") full = seed.bytes;
  REQUIRE(full.size() > 100);
  // The reported outcome is that of the file as given; the CRC-fixed variant must not trip any check either.
  std::string wrong_crc = full;
  wrong_crc[full.size() - 1] = static_cast<char>(wrong_crc[full.size() - 1] ^ 1);
  CHECK(tapegrad::fuzz::run_target("checkpoint", wrong_crc, scratch.path()) == Outcome::rejected);
  CHECK(tapegrad::fuzz::run_target("checkpoint", full, scratch.path()) == Outcome::loaded);
}
