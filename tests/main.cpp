// Catch2's main for every test program. Products run on one thread (the library's default): CTest runs two
// programs at once on CI's two cores; tests that measure threading set their own count.
#define CATCH_CONFIG_RUNNER
#include <Eigen/Core>
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Eigen::setNbThreads(1);
  return Catch::Session().run(argc, argv);
}
