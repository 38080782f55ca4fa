#!/usr/bin/python3
"""PyTorch from Python: the pytorch-python column of tapegrad_bench.

tapegrad_bench runs this script once per dtype and thread count with the problem and repetition plan it uses
itself (see external.cpp), in the same environment (OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY, ...), so that the two
columns are the same work under the same rules. It writes what users write: torch.nn modules, torch.optim, the
usual zero_grad / forward / backward / step. Output, one line each:
  bench,WORKLOAD,pytorch-python,DTYPE,THREADS,MEDIAN_MS,ms
  bench-detail,WORKLOAD,pytorch-python,DTYPE,THREADS,BEST_MS,CPU_MS,SAMPLES
  bench-info,pytorch-python,KEY,VALUE          (version, OpenBLAS core, ATen capability, threads)
Without torch it prints bench-info,pytorch-python,absent,REASON and exits 0: the column is then missing, not the
run. Needs Debian's python3-torch (for /usr/bin/python3).
"""
import argparse
import ctypes
import os
import sys
import time


def parse_arguments():
    def numbers(kind):
        return lambda text: [kind(x) for x in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float", "double"], required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--workloads", type=lambda text: text.split(","), required=True)
    parser.add_argument("--features", type=int, default=3072)
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--epoch-examples", type=int, default=10000)
    parser.add_argument("--lambda", dest="lam", type=float, default=0.01)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--mlp-hidden", type=numbers(int), default=[256, 256])
    parser.add_argument("--mlp-learning-rate", type=float, default=1e-3)
    parser.add_argument("--batchnorm-features", type=numbers(int), default=[50, 256])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--step-plan", type=numbers(int), default=[4, 60, 5], help="warm-up, rounds, steps/sample")
    parser.add_argument("--epoch-plan", type=numbers(int), default=[1, 7], help="warm-up, rounds")
    parser.add_argument("--eval-plan", type=numbers(int), default=[2, 11], help="warm-up, rounds")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per measurement, as tapegrad_bench")
    return parser.parse_args()


def loaded_openblas():
    """The OpenBLAS this process loaded (through torch), or None."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
            library.openblas_get_corename.restype = ctypes.c_char_p
            return library
        except (OSError, AttributeError):
            continue
    return None


def cpu_capability(torch):
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


class Timer:
    """Samples of one action, as tapegrad_bench takes them: warm-up, then timed rounds until the plan or the
    budget is spent (at least one timed round), each sample `calls` calls long."""

    def __init__(self, budget):
        self.budget = budget

    def run(self, action, warmup, rounds, calls=1):
        wall, cpu = [], []
        begin = time.perf_counter()
        for round_ in range(warmup + rounds):
            over = time.perf_counter() - begin > self.budget
            if round_ < warmup and over:
                continue
            if round_ > warmup and over and wall:
                break
            cpu_start, start = time.thread_time(), time.perf_counter()
            for _ in range(calls):
                action()
            seconds, cpu_seconds = time.perf_counter() - start, time.thread_time() - cpu_start
            if round_ >= warmup:
                wall.append(seconds / calls)
                cpu.append(cpu_seconds / calls)
        return wall, cpu


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


class Bench:
    def __init__(self, torch, arguments):
        self.torch = torch
        self.a = arguments
        self.dtype = torch.float32 if arguments.dtype == "float" else torch.float64
        self.timer = Timer(arguments.budget)
        generator = torch.Generator().manual_seed(arguments.seed)
        # Examples as rows, as torch.nn wants them.
        self.inputs = torch.randn(arguments.examples, arguments.features, generator=generator, dtype=self.dtype)
        self.labels = torch.randint(0, arguments.classes, (arguments.examples,), generator=generator)
        self.generator = generator

    def report(self, workload, wall, cpu):
        a = self.a
        print(f"bench,{workload},pytorch-python,{a.dtype},{a.threads},{median(wall) * 1e3:.6g},ms")
        print(f"bench-detail,{workload},pytorch-python,{a.dtype},{a.threads},{min(wall) * 1e3:.6g},"
              f"{median(cpu) * 1e3 if a.threads == 1 else 0:.6g},{len(wall)}", flush=True)

    def model(self, kind):
        nn = self.torch.nn
        a = self.a
        if kind == "softmax":
            sizes, activation = [a.features, a.classes], nn.ReLU
        elif kind == "two_layer":
            sizes, activation = [a.features, a.hidden, a.classes], nn.ReLU
        else:
            sizes, activation = [a.features, *a.mlp_hidden, a.classes], nn.Tanh
        layers = []
        for i in range(len(sizes) - 1):
            if i > 0:
                layers.append(activation())
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        network = nn.Sequential(*layers).to(self.dtype)
        if kind == "mlp":
            return network, self.torch.optim.Adam(network.parameters(), lr=a.mlp_learning_rate), 0.0
        return network, self.torch.optim.SGD(network.parameters(), lr=a.learning_rate), a.lam

    def trainer(self, kind):
        """One training step on a batch: the cost, with the reports' L2 term for softmax and two_layer."""
        torch = self.torch
        network, optimizer, lam = self.model(kind)
        weights = [m.weight for m in network if isinstance(m, torch.nn.Linear)]
        loss_function = torch.nn.CrossEntropyLoss()

        def step(inputs, labels):
            optimizer.zero_grad()
            cost = loss_function(network(inputs), labels)
            if lam > 0:
                cost = cost + lam * sum((w * w).sum() for w in weights)
            cost.backward()
            optimizer.step()
            return cost

        return network, step

    def measure_step(self, kind):
        _, step = self.trainer(kind)
        inputs, labels = self.inputs[: self.a.batch].contiguous(), self.labels[: self.a.batch].contiguous()
        warmup, rounds, calls = self.a.step_plan
        self.report(f"{kind}_step", *self.timer.run(lambda: step(inputs, labels), warmup, rounds, calls))

    def measure_epoch(self, kind):
        torch, a = self.torch, self.a
        _, step = self.trainer(kind)
        examples = min(a.epoch_examples, a.examples)

        def epoch():
            order = torch.randperm(examples, generator=self.generator)
            for first in range(0, examples, a.batch):
                chosen = order[first:first + a.batch]
                step(self.inputs.index_select(0, chosen), self.labels.index_select(0, chosen))

        warmup, rounds = a.epoch_plan
        self.report(f"{kind}_epoch", *self.timer.run(epoch, warmup, rounds))

    def measure_evaluation(self):
        torch = self.torch
        network, _ = self.trainer("two_layer")

        def evaluate():
            with torch.no_grad():
                return (network(self.inputs).argmax(1) == self.labels).double().mean().item()

        warmup, rounds = self.a.eval_plan
        self.report("eval_10k", *self.timer.run(evaluate, warmup, rounds))

    def measure_batchnorm(self, features):
        torch, a = self.torch, self.a
        layer = torch.nn.BatchNorm1d(features).to(self.dtype).train()
        inputs = (3.0 + 2.0 * torch.randn(a.batch, features, generator=self.generator, dtype=self.dtype))
        inputs.requires_grad_(True)
        upstream = torch.randn(a.batch, features, generator=self.generator, dtype=self.dtype)

        def forward_backward():
            inputs.grad = None
            layer.zero_grad()
            layer(inputs).backward(upstream)

        warmup, rounds, calls = a.step_plan
        self.report(f"batchnorm_{features}x{a.batch}", *self.timer.run(forward_backward, warmup, rounds, calls))

    def run(self):
        wanted = self.a.workloads
        for kind in ("softmax", "two_layer", "mlp"):
            if f"{kind}_step" in wanted:
                self.measure_step(kind)
        if "batchnorm" in wanted:
            for features in self.a.batchnorm_features:
                self.measure_batchnorm(features)
        for kind in ("softmax", "two_layer", "mlp"):
            if f"{kind}_epoch" in wanted:
                self.measure_epoch(kind)
        if "eval_10k" in wanted:
            self.measure_evaluation()


def main():
    arguments = parse_arguments()
    try:
        import torch
    except ImportError as error:
        print(f"bench-info,pytorch-python,absent,no torch for {sys.executable} ({error}); "
              "on Debian: apt-get install python3-torch", flush=True)
        return 0
    # The same budget as the C++ column: torch's intra-op threads, and OpenBLAS's, which torch does not govern.
    torch.set_num_threads(arguments.threads)
    openblas = loaded_openblas()
    if openblas is not None:
        openblas.openblas_set_num_threads(arguments.threads)
    core = openblas.openblas_get_corename().decode() if openblas is not None else "none"
    print(f"bench-info,pytorch-python,version,{torch.__version__}")
    print(f"bench-info,pytorch-python,openblas_core,{core}")
    print(f"bench-info,pytorch-python,cpu_capability,{cpu_capability(torch)}")
    print(f"bench-info,pytorch-python,threads,{torch.get_num_threads()} "
          f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(unset)')})", flush=True)
    Bench(torch, arguments).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
