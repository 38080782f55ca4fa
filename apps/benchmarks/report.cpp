#include "apps/benchmarks/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace tapegrad::apps {
namespace {

using Configuration = std::pair<std::string, int>;  // dtype, threads

std::string configuration_name(const Configuration& configuration) {
  return fmt::format("{}/{}t", configuration.first, configuration.second);
}

std::string milliseconds(double seconds) { return fmt::format("{:.3f} ms", seconds * 1e3); }

}  // namespace

void BenchmarkReport::record(const Measurement& measurement) {
  measurements_.push_back(measurement);
  std::printf("bench,%s,%s,%s,%d,%.6g,ms\n", measurement.workload.c_str(), measurement.implementation.c_str(),
              measurement.dtype.c_str(), measurement.threads, measurement.seconds * 1e3);
  std::fflush(stdout);
}

void BenchmarkReport::record_peak(const std::string& level, bool in_force, const std::string& dtype, int threads,
                                  double flops_per_second) {
  if (in_force) peaks_[{dtype, threads}] = flops_per_second;
  std::string& levels = level_peaks_[{dtype, threads}];
  levels += fmt::format("{}{} {:.1f}{}", levels.empty() ? "" : ", ", level, flops_per_second * 1e-9,
                        in_force ? " (in force)" : "");
  std::printf("bench,fma_peak,%s,%s,%d,%.6g,GFLOP/s\n", level.c_str(), dtype.c_str(), threads,
              flops_per_second * 1e-9);
  std::fflush(stdout);
}

void BenchmarkReport::set_products(const std::string& workload, std::vector<ProductShape> products,
                                   double repeat) {
  products_[workload] = {std::move(products), repeat};
}

void BenchmarkReport::note(const std::string& line) const {
  if (csv_only_) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

const Measurement* BenchmarkReport::find(const std::string& workload, const std::string& implementation,
                                         const std::string& dtype, int threads) const {
  for (const Measurement& m : measurements_) {
    if (m.workload == workload && m.implementation == implementation && m.dtype == dtype && m.threads == threads)
      return &m;
  }
  return nullptr;
}

std::optional<double> BenchmarkReport::peak(const std::string& dtype, int threads) const {
  const auto found = peaks_.find({dtype, threads});
  if (found == peaks_.end()) return std::nullopt;
  return found->second;
}

std::optional<double> BenchmarkReport::gemm_only_seconds(const std::string& workload, const std::string& dtype,
                                                         int threads) const {
  const auto found = products_.find(workload);
  if (found == products_.end()) return std::nullopt;
  double total = 0;
  for (const ProductShape& product : found->second.products) {
    // The first backend measured for this shape: Eigen, the one the library uses.
    const Measurement* gemm = nullptr;
    for (const Measurement& m : measurements_) {
      if (m.workload == product.workload_name() && m.dtype == dtype && m.threads == threads) {
        gemm = &m;
        break;
      }
    }
    if (gemm == nullptr) return std::nullopt;
    total += gemm->seconds;
  }
  return total * found->second.repeat;
}

void BenchmarkReport::print_configuration_table(std::FILE* out, const std::string& dtype, int threads) const {
  const std::optional<double> peak_flops = peak(dtype, threads);
  const auto levels = level_peaks_.find({dtype, threads});
  fmt::print(out, "\n{} on {} thread{}: FMA peak {} (GFLOP/s per level: {})\n", dtype, threads,
             threads == 1 ? "" : "s",
             peak_flops ? fmt::format("{:.1f} GFLOP/s at the level in force", *peak_flops * 1e-9)
                        : std::string("not measured"),
             levels != level_peaks_.end() ? levels->second : std::string("none measured"));
  fmt::print(out, "  {:<18} {:<14} {:>12} {:>12} {:>12} {:>10} {:>8} {:>8} {:>12} {:>6}\n", "workload", "impl",
             "median", "best", "cpu median", "examples/s", "GFLOP/s", "of peak", "GEMM-only", "/GEMM");
  for (const Measurement& m : measurements_) {
    if (m.dtype != dtype || m.threads != threads) continue;
    const double achieved = m.flops / m.seconds;
    const std::string examples_per_second = m.examples > 0 ? fmt::format("{:.0f}", m.examples / m.seconds) : "-";
    const std::string of_peak = peak_flops ? fmt::format("{:.1f}%", 100.0 * achieved / *peak_flops) : "-";
    std::string bound = "-";
    std::string over_bound = "-";
    if (const std::optional<double> gemm = gemm_only_seconds(m.workload, dtype, threads)) {
      bound = milliseconds(*gemm);
      over_bound = fmt::format("{:.2f}", m.seconds / *gemm);
    }
    const std::string cpu = m.cpu_seconds > 0 ? milliseconds(m.cpu_seconds) : "-";
    fmt::print(out, "  {:<18} {:<14} {:>12} {:>12} {:>12} {:>10} {:>8.1f} {:>8} {:>12} {:>6}\n", m.workload,
               m.implementation, milliseconds(m.seconds), milliseconds(m.best_seconds), cpu, examples_per_second,
               achieved * 1e-9, of_peak, bound, over_bound);
  }
}

void BenchmarkReport::print_ratio_table(std::FILE* out, const std::string& title, const std::string& numerator,
                                        const std::string& denominator) const {
  std::vector<Configuration> configurations;
  std::vector<std::string> workloads;
  for (const Measurement& m : measurements_) {
    if (m.implementation != numerator || find(m.workload, denominator, m.dtype, m.threads) == nullptr) continue;
    const Configuration configuration{m.dtype, m.threads};
    if (std::find(configurations.begin(), configurations.end(), configuration) == configurations.end())
      configurations.push_back(configuration);
    if (std::find(workloads.begin(), workloads.end(), m.workload) == workloads.end())
      workloads.push_back(m.workload);
  }
  if (workloads.empty()) return;
  fmt::print(out, "\n{}\n  {:<18}", title, "workload");
  for (const Configuration& configuration : configurations)
    fmt::print(out, " {:>16}", configuration_name(configuration));
  fmt::print(out, "\n");
  for (const std::string& workload : workloads) {
    fmt::print(out, "  {:<18}", workload);
    for (const Configuration& configuration : configurations) {
      const Measurement* top = find(workload, numerator, configuration.first, configuration.second);
      const Measurement* bottom = find(workload, denominator, configuration.first, configuration.second);
      fmt::print(out, " {:>16}",
                 top && bottom ? fmt::format("{:.3f} ({:.3f})", top->seconds / bottom->seconds,
                                             top->best_seconds / bottom->best_seconds)
                               : "-");
    }
    fmt::print(out, "\n");
  }
}

void BenchmarkReport::print_thread_scaling(std::FILE* out) const {
  bool header_printed = false;
  for (const Measurement& m : measurements_) {
    if (m.threads == 1) continue;
    const Measurement* single = find(m.workload, m.implementation, m.dtype, 1);
    if (single == nullptr) continue;
    if (!header_printed) {
      fmt::print(
          out,
          "\nmore threads / 1 thread, time ratio of medians (of best samples) (goal: never above 1; '!' marks "
          "a slowdown of the medians)\n");
      fmt::print(out, "  {:<18} {:<14} {:<7} {:>8} {:>8} {:>9}\n", "workload", "impl", "dtype", "threads",
                 "median", "(best)");
      header_printed = true;
    }
    const double ratio = m.seconds / single->seconds;
    fmt::print(out, "  {:<18} {:<14} {:<7} {:>8} {:>8.3f} {:>9}{}\n", m.workload, m.implementation, m.dtype,
               m.threads, ratio, fmt::format("({:.3f})", m.best_seconds / single->best_seconds),
               ratio > 1.0 ? " !" : "");
  }
}

void BenchmarkReport::print_tables(std::FILE* out) const {
  if (csv_only_) return;
  std::vector<Configuration> configurations;
  for (const Measurement& m : measurements_) {
    const Configuration configuration{m.dtype, m.threads};
    if (std::find(configurations.begin(), configurations.end(), configuration) == configurations.end())
      configurations.push_back(configuration);
  }
  fmt::print(
      out,
      "\n== Results. median: of the timed samples (wall clock); best: the fastest sample; cpu median: CPU time "
      "of the timing thread, one-thread runs only (unaffected by other jobs taking the core). examples/s, "
      "GFLOP/s (matrix products only) and of peak (the FMA loop's peak for the same dtype and threads) come "
      "from the median. GEMM-only: the sum of the Eigen product medians for the workload's shapes, i.e. the "
      "time if the workload were nothing but its GEMMs ==\n");
  for (const Configuration& configuration : configurations)
    print_configuration_table(out, configuration.first, configuration.second);
  print_ratio_table(out, "tape / reference, time ratio of medians (of best samples) (goal: at most 1.10)", "tape",
                    "reference");
  print_ratio_table(out,
                    "tapegrad (tape) / PyTorch, time ratio of medians (of best samples) (goal: at most 0.5 "
                    "for two_layer_step in float, at most 1 everywhere)",
                    "tape", "pytorch");
  print_ratio_table(out, "tapegrad (tape) / PyTorch from Python, time ratio of medians (of best samples)", "tape",
                    "pytorch-python");
  print_ratio_table(out, "PyTorch from Python / PyTorch in C++, time ratio of medians (of best samples)",
                    "pytorch-python", "pytorch");
  print_ratio_table(out, "tapegrad (reference) / PyTorch, time ratio of medians (of best samples)", "reference",
                    "pytorch");
  print_thread_scaling(out);
  std::fflush(out);
}

}  // namespace tapegrad::apps
