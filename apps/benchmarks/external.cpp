#include "apps/benchmarks/external.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

extern char** environ;

namespace tapegrad::apps {
namespace {

// Single quotes for /bin/sh, whatever the text holds.
std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, separator)) fields.push_back(field);
  return fields;
}

std::string joined(const std::vector<Index>& values) { return fmt::format("{}", fmt::join(values, ",")); }

// The command line of pytorch_bench.py: everything that decides what it measures comes from here, so that the two
// columns are the same workloads under the same plan.
std::string python_command(const BenchmarkOptions& options, const BenchmarkProblem& problem,
                           const RepetitionPlan& plan, const std::string& dtype, int threads,
                           const std::vector<std::string>& workloads) {
  return fmt::format(
      "{} {} --dtype {} --threads {} --workloads {} --features {} --hidden {} --classes {} --batch {} "
      "--examples {} --epoch-examples {} --lambda {} --learning-rate {} --mlp-hidden {} --mlp-learning-rate {} "
      "--batchnorm-features {} --seed {} --step-plan {},{},{} --epoch-plan {},{} --eval-plan {},{} --budget {}",
      shell_quoted(options.python), shell_quoted(options.python_script), dtype, threads, fmt::join(workloads, ","),
      problem.features, problem.hidden, problem.classes, problem.batch, problem.examples, problem.epoch_examples,
      problem.lambda, problem.learning_rate, joined(problem.mlp_hidden), problem.mlp_learning_rate,
      joined(problem.batchnorm_features), problem.seed, plan.step_warmup_rounds, plan.step_rounds,
      plan.steps_per_sample, plan.epoch_warmup_rounds, plan.epoch_rounds, plan.evaluation_warmup_rounds,
      plan.evaluation_rounds, plan.seconds_per_measurement);
}

}  // namespace

bool python_knows(const std::string& workload) {
  static const std::vector<std::string> known{"softmax_step",  "two_layer_step",  "mlp_step",  "batchnorm",
                                              "softmax_epoch", "two_layer_epoch", "mlp_epoch", "eval_10k"};
  return std::find(known.begin(), known.end(), workload) != known.end();
}

void run_pytorch_python(const BenchmarkOptions& options, const BenchmarkProblem& problem,
                        const RepetitionPlan& plan, const std::string& dtype, int threads,
                        const std::vector<std::string>& workloads, BenchmarkReport& report,
                        const std::function<void(Measurement&)>& complete) {
  if (workloads.empty()) return;
  if (access(options.python.c_str(), X_OK) != 0 || access(options.python_script.c_str(), R_OK) != 0) {
    report.note(
        fmt::format("   pytorch-python: not timed: no Python at {} or no script at {} (--python, "
                    "--python-script)",
                    options.python, options.python_script));
    std::printf("bench-info,pytorch-python,absent,no %s or %s\n", options.python.c_str(),
                options.python_script.c_str());
    return;
  }
  const std::string command = python_command(options, problem, plan, dtype, threads, workloads);
  report.note(fmt::format("   pytorch-python: {}", command));
  std::fflush(stdout);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    report.note("   pytorch-python: not timed: could not start the Python process");
    return;
  }
  std::map<std::string, Measurement> pending;  // by workload: the bench line, completed by its bench-detail line
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    std::string line = buffer.data();
    if (!line.empty() && line.back() == '\n') line.pop_back();
    const std::vector<std::string> fields = split(line, ',');
    // bench,WORKLOAD,pytorch-python,DTYPE,THREADS,MEDIAN_MS,ms and
    // bench-detail,WORKLOAD,...,BEST_MS,CPU_MS,SAMPLES
    if (fields.size() == 7 && fields[0] == "bench") {
      std::printf("%s\n", line.c_str());
      Measurement& m = pending[fields[1]];
      m.workload = fields[1];
      m.implementation = fields[2];
      m.dtype = fields[3];
      m.threads = std::stoi(fields[4]);
      m.seconds = std::stod(fields[5]) * 1e-3;
    } else if (fields.size() == 8 && fields[0] == "bench-detail" && pending.count(fields[1]) == 1) {
      Measurement& m = pending[fields[1]];
      m.best_seconds = std::stod(fields[5]) * 1e-3;
      m.cpu_seconds = std::stod(fields[6]) * 1e-3;
      m.samples = std::stoi(fields[7]);
      complete(m);
      report.keep(m);
    } else {
      std::printf("%s\n", line.c_str());  // bench-info lines and notes
    }
    std::fflush(stdout);
  }
  const int status = pclose(pipe);
  if (status != 0) {
    report.note(fmt::format("   pytorch-python: the script failed (status {}); its message is above", status));
  }
}

double time_cyclic_final(const BenchmarkOptions& options, const std::string& dtype, int threads,
                         const BenchmarkReport& report) {
  namespace fs = std::filesystem;
  const fs::path data = options.cifar_directory;
  if (!fs::exists(data / "data_batch_1.bin") || !fs::exists(data / "test_batch.bin")) {
    report.note(fmt::format(
        "   cyclic_final: not timed: no CIFAR-10 at {} (scripts/get-cifar10.sh, or --cifar DIR)", data.string()));
    std::printf("bench-info,cyclic_final,skipped,no CIFAR-10 at %s\n", data.string().c_str());
    return -1;
  }
  const fs::path program = fs::read_symlink("/proc/self/exe").parent_path() / "two_layer_cyclic";
  if (access(program.c_str(), X_OK) != 0) {
    report.note(
        fmt::format("   cyclic_final: not timed: no {} (build the two_layer_cyclic target)", program.string()));
    std::printf("bench-info,cyclic_final,skipped,no %s\n", program.c_str());
    return -1;
  }
  std::string directory_template = (fs::temp_directory_path() / "tapegrad_bench_cyclic.XXXXXX").string();
  if (mkdtemp(directory_template.data()) == nullptr) {
    report.note("   cyclic_final: not timed: no temporary directory");
    return -1;
  }
  const fs::path out = directory_template;
  std::vector<std::string> arguments{program.string(),
                                     "--preset",
                                     "final",
                                     "--lambda",
                                     kCyclicFinalLambda,
                                     "--data",
                                     data.string(),
                                     "--out",
                                     (out / "run").string(),
                                     "--threads",
                                     std::to_string(threads),
                                     "--dtype",
                                     dtype,
                                     "--seed",
                                     std::to_string(options.seed)};
  if (options.quick) {
    for (const char* extra : {"--limit-train", "2000", "--cycles", "1"}) arguments.emplace_back(extra);
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const std::string log = (out / "log.txt").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  pid_t child = 0;
  int status = 0;
  const int spawned = posix_spawn(&child, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned == 0) waitpid(child, &status, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool succeeded = spawned == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!succeeded) {
    std::ifstream file(log);
    std::stringstream text;
    text << file.rdbuf();
    const std::string output = text.str();
    report.note(fmt::format("   cyclic_final: {} failed (exit status {}); its last output:\n{}",
                            fmt::join(arguments, " "), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                            output.substr(output.size() > 2000 ? output.size() - 2000 : 0)));
  } else {
    report.note(fmt::format("   cyclic_final: {}", fmt::join(arguments, " ")));
  }
  std::error_code ignored;
  fs::remove_all(out, ignored);
  return succeeded ? seconds : -1;
}

}  // namespace tapegrad::apps
