// Catch2's main for every test program. Products run on one thread: CTest runs two programs at once on CI's two
// cores, and OpenMP threads that outnumber the cores spin against each other (tests that measure threading set
// their own count).
#define CATCH_CONFIG_RUNNER
#include <Eigen/Core>
#include <catch2/catch.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

int main(int argc, char* argv[]) {
  Eigen::setNbThreads(1);
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
  return Catch::Session().run(argc, argv);
}
