// Writes the seed corpora of the fuzz targets (fuzz/seeds.h) into DIR/<target>/<name>, one file per seed.
// Usage: make_seeds DIR
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>

#include "fuzz/seeds.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n  writes the fuzz seed corpora into DIR/<target>/\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path out = argv[1];
    tapegrad::fuzz::ScratchDirectory scratch;
    std::map<std::string, int> counts;
    for (const auto& seed : tapegrad::fuzz::make_seeds(scratch.path())) {
      const auto directory = out / seed.target;
      std::filesystem::create_directories(directory);
      std::ofstream file(directory / seed.name, std::ios::binary | std::ios::trunc);
      file.write(seed.bytes.data(), static_cast<std::streamsize>(seed.bytes.size()));
      if (!file) {
        std::fprintf(stderr, "make_seeds: cannot write %s\n", (directory / seed.name).c_str());
        return 1;
      }
      ++counts[seed.target];
    }
    for (const auto& [target, count] : counts)
      std::printf("make_seeds: %d seeds in %s\n", count, (out / target).c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "make_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
