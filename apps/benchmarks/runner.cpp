#include "apps/benchmarks/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tapegrad/core/gemm.h>
#include <tapegrad/core/kernels/isa.h>
#include <tapegrad/core/parallel.h>
#include <tapegrad/nn/train/build_record.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "apps/benchmarks/external.h"
#include "apps/benchmarks/fused_update.h"
#include "apps/benchmarks/gemm.h"
#include "apps/benchmarks/level_environment.h"
#include "apps/benchmarks/machine.h"
#include "apps/benchmarks/pytorch.h"
#include "apps/benchmarks/report.h"
#include "apps/benchmarks/workloads.h"
#include "apps/common/threads.h"

namespace tapegrad::apps {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Per-call times of one action: wall clock, and the CPU time of the calling thread, which on one thread is the
// time the work itself took even when other jobs share the core.
struct Samples {
  std::vector<double> wall;
  std::vector<double> cpu;
};

// samples[i] holds the timed rounds of actions[i]. Each round runs every action for one sample, starting with a
// different action each round, so that slow drift of the machine (other jobs on shared cores) reaches every action
// alike and no action always runs right after the same neighbour.
std::vector<Samples> interleaved_samples(const std::vector<std::function<void()>>& actions, int warmup_rounds,
                                         int rounds, int calls_per_sample, double budget_seconds,
                                         const std::function<void()>& after_round = {}) {
  std::vector<Samples> samples(actions.size());
  const std::size_t count = actions.size();
  const auto begin = Clock::now();
  const auto over_budget = [&begin, budget_seconds] {
    return std::chrono::duration<double>(Clock::now() - begin).count() > budget_seconds;
  };
  for (int round = 0; round < warmup_rounds + rounds; ++round) {
    if (round < warmup_rounds && over_budget()) round = warmup_rounds;  // straight on to timing
    if (round > warmup_rounds && over_budget()) break;                  // at least one timed round is done
    for (std::size_t offset = 0; offset < count; ++offset) {
      const std::size_t i = (static_cast<std::size_t>(round) + offset) % count;
      const double cpu_start = thread_cpu_seconds();
      const auto start = Clock::now();
      for (int call = 0; call < calls_per_sample; ++call) actions[i]();
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      const double cpu_seconds = thread_cpu_seconds() - cpu_start;
      if (round >= warmup_rounds) {
        samples[i].wall.push_back(seconds / calls_per_sample);
        samples[i].cpu.push_back(cpu_seconds / calls_per_sample);
      }
    }
    if (after_round) after_round();
  }
  return samples;
}

// The 1-minute load average: how many jobs wanted the cores while we measured.
std::string load_average() {
  std::ifstream file("/proc/loadavg");
  std::string one_minute;
  return file >> one_minute ? one_minute : std::string("unknown");
}

// OpenBLAS's idle workers spin for about 2^28 cycles after a call before they sleep; with as many threads as
// cores they would steal the next measurement's cores. A pause lets them go to sleep.
void let_thread_pools_sleep() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

constexpr WorkloadModel kModels[] = {WorkloadModel::softmax, WorkloadModel::two_layer, WorkloadModel::mlp};

template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

template <typename T>
class ConfigurationRun {
 public:
  ConfigurationRun(const BenchmarkOptions& options, const BenchmarkProblem& problem, const SyntheticData<T>& data,
                   int threads, BenchmarkReport& report)
      : options_(options),
        plan_(repetition_plan(options)),
        problem_(problem),
        data_(data),
        threads_(threads),
        report_(report),
        step_inputs_(data.inputs.leftCols(problem.batch)),
        step_labels_(data.labels.data(), static_cast<std::size_t>(problem.batch)) {}

  void run() {
    // tapegrad's products use its own pool (core/parallel.h); PyTorch's intra-op threads are OpenMP's.
    set_thread_count(threads_);
    set_pytorch_threads(options_.pytorch_threads > 0 ? options_.pytorch_threads : threads_,
                        options_.pytorch_blas_threads > 0 ? options_.pytorch_blas_threads : threads_);
    report_.note(fmt::format("\n-- {} on {} thread{} (load average {}): product threads {}{}", dtype_name<T>(),
                             threads_, threads_ == 1 ? "" : "s", load_average(), product_threads(),
                             pytorch_wanted() ? fmt::format("; {}", pytorch_description()) : std::string()));
    measure_peak();
    if (options_.wants_workload("gemm")) measure_gemm();
    for (const WorkloadModel kind : kModels) {
      if (options_.wants_workload(fmt::format("{}_step", to_string(kind)))) measure_steps(kind);
    }
    if (options_.wants_workload("batchnorm")) {
      for (const Index features : problem_.batchnorm_features) measure_batchnorm(features);
    }
    for (const WorkloadModel kind : kModels) {
      if (options_.wants_workload(fmt::format("{}_epoch", to_string(kind)))) measure_epochs(kind);
    }
    if (options_.wants_workload("eval_10k")) measure_evaluation();
    if (options_.wants_implementation("pytorch-python")) measure_python();
    if (options_.wants_workload("cyclic_final") && options_.wants_implementation("tape")) measure_cyclic_final();
  }

 private:
  bool pytorch_wanted() const { return pytorch_available() && options_.wants_implementation("pytorch"); }

  void record(const std::string& workload, const std::string& implementation, const Samples& samples, double flops,
              double examples) {
    if (samples.wall.empty()) return;
    report_.record({.workload = workload,
                    .implementation = implementation,
                    .dtype = dtype_name<T>(),
                    .threads = threads_,
                    .seconds = median(samples.wall),
                    .best_seconds = *std::min_element(samples.wall.begin(), samples.wall.end()),
                    .cpu_seconds = threads_ == 1 ? median(samples.cpu) : 0.0,
                    .flops = flops,
                    .examples = examples,
                    .samples = static_cast<int>(samples.wall.size())});
  }

  // Every level this CPU runs; fractions of the peak are taken at the level in force (portable when the build has
  // no loop of the level's own).
  void measure_peak() {
    const std::vector<kernels::Isa> levels = fma_peak_levels();
    const kernels::Isa in_force = std::find(levels.begin(), levels.end(), kernels::active_isa()) != levels.end()
                                      ? kernels::active_isa()
                                      : kernels::Isa::portable;
    for (const kernels::Isa level : levels) {
      report_.record_peak(
          kernels::isa_name(level), level == in_force, dtype_name<T>(), threads_,
          measure_fma_peak<T>(level, threads_, plan_.peak_repetitions, plan_.peak_seconds_per_run));
    }
  }

  void measure_gemm() {
    std::vector<ProductShape> shapes;
    const auto add = [&shapes](const ProductShape& shape) {
      const auto same = [&shape](const ProductShape& other) {
        return other.workload_name() == shape.workload_name();
      };
      if (std::none_of(shapes.begin(), shapes.end(), same)) shapes.push_back(shape);
    };
    for (const WorkloadModel kind : kModels) {
      for (const ProductShape& shape : step_products(kind, problem_)) add(shape);
    }
    for (const ProductShape& shape : evaluation_products(problem_)) add(shape);
    Generator generator(problem_.seed + 3);
    for (const GemmBackend<T>& backend : gemm_backends<T>()) {
      if (!options_.wants_implementation(backend.group)) continue;
      if (backend.set_threads) backend.set_threads(backend.pooled ? 1 : threads_);
      for (const ProductShape& shape : shapes) {
        if (backend.supports && !backend.supports(shape)) {
          report_.note(fmt::format("   {}: no kernel for {}, not timed", backend.name, shape.workload_name()));
          continue;
        }
        GemmOperands<T> operands = make_gemm_operands<T>(shape, generator);
        const int calls = std::max(1, static_cast<int>(std::ceil(plan_.gemm_flops_per_sample / shape.flops())));
        const auto samples =
            interleaved_samples({[&] { backend.multiply(shape, operands.a, operands.b, operands.c); }},
                                plan_.gemm_warmup_rounds, plan_.gemm_rounds, calls, plan_.seconds_per_measurement);
        record(shape.workload_name(), backend.name, samples[0], shape.flops(), 0.0);
      }
      if (backend.set_threads) {
        backend.set_threads(1);
        if (threads_ > 1) let_thread_pools_sleep();
      }
    }
  }

  // The tapegrad implementations wanted, in a fixed order; PyTorch is made separately (see measure()).
  // `prototypes`: also the fused-update prototype's two (fused_update.h), which train the two-layer network and time
  // its steps only.
  std::vector<std::unique_ptr<TrainingImplementation<T>>> tapegrad_implementations(WorkloadModel kind,
                                                                                   bool prototypes = false) const {
    std::vector<std::unique_ptr<TrainingImplementation<T>>> implementations;
    for (const GradientPath path : {GradientPath::tape, GradientPath::reference}) {
      if (kind == WorkloadModel::mlp && path == GradientPath::reference) continue;  // written for the tape only
      if (options_.wants_implementation(to_string(path)))
        implementations.push_back(make_tapegrad_implementation<T>(kind, path, problem_));
    }
    for (const bool fused : {false, true}) {
      const char* name = fused ? "manual-fused" : "manual";
      if (prototypes && kind == WorkloadModel::two_layer && options_.wants_implementation(name))
        implementations.push_back(make_manual_two_layer<T>(problem_, fused));
    }
    return implementations;
  }

  std::unique_ptr<TrainingImplementation<T>> pytorch_implementation(WorkloadModel kind) const {
    if (!pytorch_wanted()) return nullptr;
    return make_pytorch_implementation<T>(kind, problem_, initial_parameters<T>(kind, problem_));
  }

  // Times `action` for each implementation: tapegrad's interleaved with each other, PyTorch on its own afterwards
  // (its OpenBLAS pool would otherwise spin on the cores tapegrad is timed on), then the pools are let sleep.
  void measure(const std::string& workload, std::vector<std::unique_ptr<TrainingImplementation<T>>>& tapegrad,
               TrainingImplementation<T>* pytorch, const std::function<void(TrainingImplementation<T>&)>& action,
               int warmup_rounds, int rounds, int calls_per_sample, double flops, double examples,
               const std::function<void()>& after_round = {}) {
    if (!tapegrad.empty()) {
      std::vector<std::function<void()>> actions;
      for (auto& implementation : tapegrad)
        actions.push_back([&action, &implementation] { action(*implementation); });
      const auto samples = interleaved_samples(actions, warmup_rounds, rounds, calls_per_sample,
                                               plan_.seconds_per_measurement, after_round);
      for (std::size_t i = 0; i < tapegrad.size(); ++i)
        record(workload, tapegrad[i]->name(), samples[i], flops, examples);
    }
    if (pytorch != nullptr) {
      const auto samples = interleaved_samples({[&action, pytorch] { action(*pytorch); }}, warmup_rounds, rounds,
                                               calls_per_sample, plan_.seconds_per_measurement);
      record(workload, pytorch->name(), samples[0], flops, examples);
      if (threads_ > 1) let_thread_pools_sleep();
    }
  }

  // The first step of every implementation from the same weights on the same batch must give the same cost, or
  // the implementations are not doing the same work.
  void check_first_step(const std::string& workload,
                        std::vector<std::unique_ptr<TrainingImplementation<T>>>& tapegrad,
                        TrainingImplementation<T>* pytorch) {
    std::vector<TrainingImplementation<T>*> all;
    for (auto& implementation : tapegrad) all.push_back(implementation.get());
    if (pytorch != nullptr) all.push_back(pytorch);
    if (all.empty()) return;
    std::string costs;
    double first = 0;
    double largest_difference = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const double cost = all[i]->step(step_inputs_, step_labels_);
      if (i == 0) first = cost;
      largest_difference = std::max(largest_difference, std::abs(cost - first) / std::max(std::abs(first), 1e-30));
      costs += fmt::format("{}{} {:.9g}", i == 0 ? "" : ", ", all[i]->name(), cost);
    }
    const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-10;
    report_.note(
        fmt::format("   {}: first-step cost from the same weights and batch: {} (largest relative "
                    "difference {:.2g}{})",
                    workload, costs, largest_difference,
                    largest_difference > tolerance ? fmt::format(", ABOVE {:.0e}: NOT THE SAME WORK", tolerance)
                                                   : std::string()));
  }

  void measure_steps(WorkloadModel kind) {
    const std::string workload = fmt::format("{}_step", to_string(kind));
    auto tapegrad = tapegrad_implementations(kind, true);
    auto pytorch = pytorch_implementation(kind);
    check_first_step(workload, tapegrad, pytorch.get());
    measure(
        workload, tapegrad, pytorch.get(),
        [this](TrainingImplementation<T>& implementation) { implementation.step(step_inputs_, step_labels_); },
        plan_.step_warmup_rounds, plan_.step_rounds, plan_.steps_per_sample,
        total_flops(step_products(kind, problem_)), static_cast<double>(problem_.batch));
  }

  void measure_epochs(WorkloadModel kind) {
    const std::string workload = fmt::format("{}_epoch", to_string(kind));
    auto tapegrad = tapegrad_implementations(kind);
    auto pytorch = pytorch_implementation(kind);
    // One runner per implementation, all with the same seed: the same batches in the same order for each.
    std::vector<std::unique_ptr<EpochRunner<T>>> runners;
    std::vector<TrainingImplementation<T>*> order;
    for (auto& implementation : tapegrad) order.push_back(implementation.get());
    if (pytorch != nullptr) order.push_back(pytorch.get());
    for (std::size_t i = 0; i < order.size(); ++i) {
      const bool is_pytorch = order[i] == pytorch.get();
      runners.push_back(std::make_unique<EpochRunner<T>>(data_, problem_.epoch_examples, problem_.batch,
                                                         problem_.seed + 7, !is_pytorch));
    }
    const auto runner_of = [&order, &runners](TrainingImplementation<T>& implementation) -> EpochRunner<T>& {
      const auto at = std::find(order.begin(), order.end(), &implementation) - order.begin();
      return *runners[static_cast<std::size_t>(at)];
    };
    // Memory must stay flat across epochs: the graph is freed every step.
    std::vector<double> resident;
    std::vector<long> live_nodes;
    const auto after_round = [&resident, &live_nodes] {
      resident.push_back(resident_memory_mib());
      live_nodes.push_back(Node<T>::live_count());
    };
    const double batches =
        std::ceil(static_cast<double>(problem_.epoch_examples) / static_cast<double>(problem_.batch));
    measure(
        workload, tapegrad, pytorch.get(),
        [&runner_of](TrainingImplementation<T>& implementation) {
          runner_of(implementation).run_epoch(implementation);
        },
        plan_.epoch_warmup_rounds, plan_.epoch_rounds, 1, batches * total_flops(step_products(kind, problem_)),
        static_cast<double>(problem_.epoch_examples), after_round);
    if (!resident.empty()) {
      std::string rss;
      std::string nodes;
      for (std::size_t i = 0; i < resident.size(); ++i) {
        rss += fmt::format("{}{:.1f}", i == 0 ? "" : " ", resident[i]);
        nodes += fmt::format("{}{}", i == 0 ? "" : " ", live_nodes[i]);
      }
      report_.note(
          fmt::format("   {}: resident memory after each round of tapegrad epochs (MiB): {}; live graph "
                      "nodes: {}",
                      workload, rss, nodes));
      std::printf("memory,%s,tapegrad,%s,%d,%.1f,%.1f,%ld\n", workload.c_str(), dtype_name<T>(), threads_,
                  resident.front(), resident.back(), live_nodes.back());
    }
  }

  // A BatchNorm layer's forward and backward on features x batch, tapegrad's and PyTorch's interleaved (PyTorch's
  // one thread pool is OpenMP's, which sleeps at once, unlike OpenBLAS's spinning workers).
  void measure_batchnorm(Index features) {
    const std::string workload = fmt::format("batchnorm_{}x{}", features, problem_.batch);
    const BatchNormData<T> data = make_batchnorm_data<T>(features, problem_.batch, problem_.seed + 11);
    std::vector<std::unique_ptr<BatchNormImplementation<T>>> implementations;
    if (options_.wants_implementation("tape")) implementations.push_back(make_tapegrad_batchnorm<T>(data));
    if (pytorch_wanted()) implementations.push_back(make_pytorch_batchnorm<T>(data));
    if (implementations.empty()) return;
    std::string checks;
    for (auto& implementation : implementations) {
      checks += fmt::format("{}{} {:.9g}", checks.empty() ? "" : ", ", implementation->name(),
                            implementation->forward_backward());
    }
    report_.note(fmt::format("   {}: sum(output .* upstream) of the first pass: {}", workload, checks));
    std::vector<std::function<void()>> actions;
    for (auto& implementation : implementations)
      actions.push_back([&implementation] { implementation->forward_backward(); });
    const auto samples = interleaved_samples(actions, plan_.step_warmup_rounds, plan_.step_rounds,
                                             plan_.steps_per_sample, plan_.seconds_per_measurement);
    for (std::size_t i = 0; i < implementations.size(); ++i)
      record(workload, implementations[i]->name(), samples[i], 0.0, static_cast<double>(problem_.batch));
  }

  // pytorch_bench.py in its own process, on the workloads it knows among those asked for.
  void measure_python() {
    std::vector<std::string> workloads;
    for (const std::string& workload : options_.workloads) {
      if (python_knows(workload)) workloads.push_back(workload);
    }
    run_pytorch_python(options_, problem_, plan_, dtype_name<T>(), threads_, workloads, report_,
                       [this](Measurement& m) {
                         const Measurement* twin = nullptr;
                         for (const char* name : {"tape", "pytorch", "reference"}) {
                           if (twin == nullptr) twin = report_.find(m.workload, name, m.dtype, m.threads);
                         }
                         if (twin != nullptr) {
                           m.flops = twin->flops;
                           m.examples = twin->examples;
                         }
                         if (threads_ != 1) m.cpu_seconds = 0;
                       });
  }

  // The whole final run of two_layer_cyclic as a process: one sample (it trains for minutes), two with --quick.
  void measure_cyclic_final() {
    Samples samples;
    for (int round = 0; round < (options_.quick ? 1 : 2); ++round) {
      const double seconds = time_cyclic_final(options_, dtype_name<T>(), threads_, report_);
      if (seconds < 0) return;
      samples.wall.push_back(seconds);
      samples.cpu.push_back(0.0);
    }
    record("cyclic_final", "tape", samples, 0.0, 0.0);
  }

  void measure_evaluation() {
    const WorkloadModel kind = WorkloadModel::two_layer;
    auto tapegrad = tapegrad_implementations(kind);
    auto pytorch = pytorch_implementation(kind);
    measure(
        "eval_10k", tapegrad, pytorch.get(),
        [this](TrainingImplementation<T>& implementation) { implementation.evaluate(data_.inputs, data_.labels); },
        plan_.evaluation_warmup_rounds, plan_.evaluation_rounds, 1, total_flops(evaluation_products(problem_)),
        static_cast<double>(problem_.examples));
  }

  const BenchmarkOptions& options_;
  RepetitionPlan plan_;
  const BenchmarkProblem& problem_;
  const SyntheticData<T>& data_;
  int threads_;
  BenchmarkReport& report_;
  Matrix<T> step_inputs_;
  std::span<const int> step_labels_;
};

template <typename T>
void run_dtype(const BenchmarkOptions& options, const BenchmarkProblem& problem, const SyntheticData<T>& data,
               BenchmarkReport& report) {
  for (const int threads : options.threads) ConfigurationRun<T>(options, problem, data, threads, report).run();
}

// Which kernels each side runs: tapegrad's level, and what PyTorch was held to (OpenBLAS's core, ATen's
// capability), as notes and as bench-info lines for scripts.
void describe_levels(const BenchmarkReport& report) {
  const char* level = kernels::isa_name(kernels::active_isa());
  const std::string note = kernels::isa_note();
  report.note(fmt::format("tapegrad: instruction-set level {} (the CPU runs up to {}; TAPEGRAD_ISA={}){}", level,
                          kernels::isa_name(kernels::cpu_isa()),
                          std::getenv("TAPEGRAD_ISA") != nullptr ? std::getenv("TAPEGRAD_ISA") : "(unset)",
                          note.empty() ? "" : fmt::format(": {}", note)));
  std::printf("bench-info,tapegrad,level,%s\n", level);
  for (const LevelVariable& variable : level_variables()) {
    report.note(fmt::format("PyTorch held to the level: {}={} ({})", variable.name,
                            variable.value.empty() ? "(unset)" : variable.value, variable.origin));
  }
  const std::string core = openblas_core_in_use();
  const std::string capability = pytorch_cpu_capability();
  if (pytorch_available()) {
    report.note(
        fmt::format("PyTorch (C++) kernels: OpenBLAS core {} (openblas_get_corename), ATen CPU capability {}",
                    core.empty() ? "none: OpenBLAS not loaded" : core, capability));
    std::printf("bench-info,pytorch,openblas_core,%s\nbench-info,pytorch,cpu_capability,%s\n",
                core.empty() ? "none" : core.c_str(), capability.c_str());
  }
  std::fflush(stdout);
}

void describe_machine(const BenchmarkOptions& options, const BenchmarkProblem& problem,
                      const BenchmarkReport& report) {
  report.note(fmt::format("tapegrad_bench{}", options.quick ? " --quick (few repetitions: a smoke test)" : ""));
  report.note(fmt::format("CPU: {}, {} hardware threads", cpu_model(), hardware_thread_count()));
  report.note(fmt::format("build: {}", build_description()));
  const train::BuildRecord build = train::build_record();
  report.note(fmt::format("Eigen {}, SIMD in use: {}; a packet holds {} floats or {} doubles", build.eigen,
                          build.eigen_simd, packet_lanes<float>(), packet_lanes<double>()));
  report.note(
      fmt::format("products: gemm backend {}, split over tapegrad's own thread pool (columns of the "
                  "result) above a size threshold, single-threaded kernels underneath",
                  build.gemm));
  report.note(
      fmt::format("PyTorch: {}", pytorch_available() ? "built in (tapegrad_bench_torch)" : pytorch_description()));
  describe_levels(report);
  report.note(fmt::format(
      "problem: d = {}, hidden = {}, K = {}, batch {}, epochs of {} examples, evaluation of {}, "
      "lambda {}, SGD learning rate {}; synthetic N(0, 1) inputs and uniform labels (seed {}), the same "
      "for every implementation{}",
      problem.features, problem.hidden, problem.classes, problem.batch, problem.epoch_examples, problem.examples,
      problem.lambda, problem.learning_rate, problem.seed,
      options.quick ? " (--quick: epochs are a tenth of the real one; the numbers are a smoke test, not "
                      "measurements)"
                    : ""));
  report.note(fmt::format(
      "MLP: {} with tanh, cross-entropy, Adam (learning rate {}), no L2 term; BatchNorm: {} features x batch {}, "
      "training mode, forward and backward; cyclic_final: two_layer_cyclic --preset final --lambda {} on {} "
      "(a process per sample)",
      fmt::join(layer_sizes(WorkloadModel::mlp, problem), "-"), problem.mlp_learning_rate,
      fmt::join(problem.batchnorm_features, " and "), problem.batch, kCyclicFinalLambda, options.cifar_directory));
}

}  // namespace

void run_benchmarks(const BenchmarkOptions& options) {
  BenchmarkProblem problem;
  problem.seed = options.seed;
  // A smoke test must stay short even when other jobs share the cores; its epochs are a tenth of one.
  if (options.quick) problem.epoch_examples = problem.examples / 10;
  BenchmarkReport report(options.csv_only);
  describe_machine(options, problem, report);
  report.note(options.malloc_defaults
                  ? std::string("malloc: glibc's default, adaptive thresholds (--malloc-defaults)")
                  : keep_freed_memory());
  for (const WorkloadModel kind : kModels) {
    report.set_products(fmt::format("{}_step", to_string(kind)), step_products(kind, problem));
    report.set_products(
        fmt::format("{}_epoch", to_string(kind)), step_products(kind, problem),
        std::ceil(static_cast<double>(problem.epoch_examples) / static_cast<double>(problem.batch)));
  }
  report.set_products("eval_10k", evaluation_products(problem));

  const auto data_start = Clock::now();
  const SyntheticData<double> data = make_synthetic_data(problem);
  report.note(fmt::format("synthetic data drawn in {:.2f} s",
                          std::chrono::duration<double>(Clock::now() - data_start).count()));
  for (const std::string& dtype : options.dtypes) {
    if (dtype == "float") {
      run_dtype<float>(options, problem, converted<float>(data), report);
    } else {
      run_dtype<double>(options, problem, data, report);
    }
  }
  report.note(
      fmt::format("\nload average at the end: {} (on {} hardware threads; above that, other jobs shared the "
                  "cores and the medians are inflated)",
                  load_average(), hardware_thread_count()));
  report.print_tables(stdout);
}

}  // namespace tapegrad::apps
