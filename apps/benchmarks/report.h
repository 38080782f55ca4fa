// The results of a benchmark run: each measurement printed at once as a `bench,...` line for scripts, then the
// tables for people (time, examples/s, GFLOP/s, fraction of the FMA peak, the GEMM bound) and the ratios the
// issue asks about (tape / reference, tapegrad / PyTorch, 2 threads / 1 thread).
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apps/benchmarks/workloads.h"

namespace tapegrad::apps {

struct Measurement {
  std::string workload;        // softmax_step, ..., gemm_50x3072x100
  std::string implementation;  // tape, reference, pytorch, eigen
  std::string dtype;           // float, double
  int threads = 1;
  double seconds = 0;       // median wall time of one unit: a step, an epoch, an evaluation, a product
  double best_seconds = 0;  // the fastest sample: close to an idle machine's time when other jobs share the cores
  double cpu_seconds = 0;   // median CPU time of the timing thread (one-thread runs only; 0 otherwise)
  double flops = 0;         // FLOPs of the unit's matrix products
  double examples = 0;      // examples processed per unit (0 for a bare product)
  int samples = 0;
};

class BenchmarkReport {
 public:
  explicit BenchmarkReport(bool csv_only) : csv_only_(csv_only) {}

  // Prints `bench,WORKLOAD,IMPLEMENTATION,DTYPE,THREADS,MEDIAN_MS,ms` and keeps the measurement for the tables.
  void record(const Measurement& measurement);
  // Prints `bench,fma_peak,LEVEL,DTYPE,THREADS,GFLOPS,GFLOP/s`. The peak of the level in force is the one the
  // tables' "of peak" column divides by.
  void record_peak(const std::string& level, bool in_force, const std::string& dtype, int threads,
                   double flops_per_second);
  // A measurement taken elsewhere (pytorch_bench.py's lines), kept for the tables without printing it again.
  void keep(const Measurement& measurement) { measurements_.push_back(measurement); }
  // The products a workload is made of (per unit), for its GEMM-only bound; `repeat` units of those per unit
  // (an epoch is batches x the step's products).
  void set_products(const std::string& workload, std::vector<ProductShape> products, double repeat = 1);
  // A line for people, printed now unless the run is --csv-only.
  void note(const std::string& line) const;

  void print_tables(std::FILE* out) const;

  const Measurement* find(const std::string& workload, const std::string& implementation, const std::string& dtype,
                          int threads) const;

 private:
  std::optional<double> peak(const std::string& dtype, int threads) const;
  // Sum of the median times of the workload's products with the first GEMM backend; empty when one is missing.
  std::optional<double> gemm_only_seconds(const std::string& workload, const std::string& dtype,
                                          int threads) const;
  void print_configuration_table(std::FILE* out, const std::string& dtype, int threads) const;
  void print_ratio_table(std::FILE* out, const std::string& title, const std::string& numerator,
                         const std::string& denominator) const;
  void print_thread_scaling(std::FILE* out) const;

  struct ProductsOfWorkload {
    std::vector<ProductShape> products;
    double repeat = 1;
  };

  bool csv_only_;
  std::vector<Measurement> measurements_;
  std::map<std::pair<std::string, int>, double> peaks_;
  std::map<std::pair<std::string, int>, std::string> level_peaks_;  // every level's peak, for the table headers
  std::map<std::string, ProductsOfWorkload> products_;
};

}  // namespace tapegrad::apps
