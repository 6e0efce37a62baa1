"""Training-step speed of memjax's recurrent cores against plain JAX references, on copy.

    python benchmarks/core_speed.py                        # NTM, DNC, LSTM at 16/32/64/256
    python benchmarks/core_speed.py --cores=ntm --batch_sizes=32 --rounds=5
    python benchmarks/core_speed.py --hlo                  # also the loop-body op census
    python benchmarks/core_speed.py --model_sizes=paper    # LSTM-100, 128 x 20 memory
    python benchmarks/core_speed.py --threads=1 --clock=cpu  # on a busy machine

Paths, all in one process on the same task (copy, lengths 1-20 padded to 41 steps):

  memjax   the step the one training loop runs (`memjax.training.loop.train_step` on the
           algorithmic family: batch drawn inside the jitted step, NaN/Inf guard, metrics,
           state donated), with `configs/run_copy_ntm.py`'s sizes (or the paper's).
  plain    `benchmarks/plain_ntm.py` / `plain_dnc.py`: the same sizes and equations in plain
           JAX (one `lax.scan` over time, `vmap` over the batch, optax Adam), no memjax.

Timing: --rounds interleaved rounds (memjax, plain, memjax, plain, ...); in each round a
path repeats its step until --min_seconds have passed (wall time, or with --clock=cpu
--threads=1 the process's CPU time, which other processes on a busy machine inflate
less). Each cell is the median over rounds of milliseconds per sequence; the speed-up
column is the median of the per-round ratios (plain / memjax, the two measured back to
back), with its range, so a drifting shared machine shows as a wide range rather than a
wrong number. The LSTM row (256 units, memjax only) is the floor a memory core adds to.

FLOPs are counted from each step's jaxpr: 2 M N K for every dot_general (forward and
backward, scan bodies times their trip count), as `xl_eval_speed.py` does; GFLOP/s is that
count over the measured time, and the fraction of peak divides by one core's f32 matmul
rate, measured here on a 1024 x 1024 x 1024 matmul.

--hlo prints, for each `while` loop of each compiled step (the forward and the backward
scan over time), how many instructions of each kind one iteration runs after XLA's
optimisation (fusions, copies, transposes, gathers, dynamic-update-slices, dots, ...): a
noise-free proxy for per-step overhead on CPU, where a step of these small models is
bounded by per-kernel cost rather than arithmetic.
"""
import argparse
import collections
import os
import re
import statistics
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _parse(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cores", default="ntm,dnc,lstm", help="ntm, dnc, lstm")
  parser.add_argument("--batch_sizes", default="16,32,64,256")
  parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
  parser.add_argument("--min_seconds", type=float, default=0.5,
                      help="each path repeats its step for at least this long per round")
  parser.add_argument("--model_sizes", default="run", choices=("run", "paper"),
                      help="run: configs/run_copy_ntm.py (LSTM-64, 64 x 20 memory); paper: "
                           "configs/copy_ntm.py (LSTM-100, 128 x 20)")
  parser.add_argument("--hlo", action="store_true", help="print the while-loop op census")
  parser.add_argument("--threads", type=int, default=0,
                      help="1: single-threaded XLA (one core); 0: XLA's default")
  parser.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                      help="wall: time.perf_counter; cpu: this process's CPU time "
                           "(time.process_time; with --threads=1 other processes on a shared "
                           "machine do not inflate it)")
  return parser.parse_args(argv)


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads == 1:
  # Must precede the first jax import.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                             " intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import memjax  # noqa: E402,F401  (its XLA CPU flags apply to both paths: memjax/xla_cpu.py)
import jax  # noqa: E402


# -- FLOPs ------------------------------------------------------------------------------------
from jaxpr_flops import matmul_flops as _matmul_flops  # noqa: E402


def matmul_flops(jaxpr) -> int:
  """2 M N K over every dot_general (benchmarks/jaxpr_flops.py); a `cond` counts its most
  expensive branch."""
  return _matmul_flops(jaxpr, cond="max")


def count_flops(fn, *args) -> int:
  return matmul_flops(jax.make_jaxpr(fn)(*args).jaxpr)


# -- HLO census -------------------------------------------------------------------------------
_COUNTED = ("fusion", "copy", "transpose", "gather", "scatter", "dynamic-update-slice",
            "dynamic-slice", "dot", "custom-call", "reduce", "sort")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\b([a-z][a-z0-9\-]*)\(")
_SKIP = ("parameter", "get-tuple-element", "tuple", "constant", "bitcast")


def hlo_census(hlo_text: str):
  """[(trip count, {opcode: count})] for each while loop's body, in program order.

  Counts the body's own instructions (each a kernel or a copy on CPU); a fusion counts as one
  whatever it holds, a nested loop's instructions are its own entry.
  """
  bodies, whiles, name = {}, [], None
  for line in hlo_text.splitlines():
    header = re.match(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
    if header and not line.startswith(" "):
      name = header.group(1)
      bodies[name] = collections.Counter()
      continue
    match = _INSTRUCTION.match(line)
    if not match or name is None:
      continue
    opcode = match.group(2)
    if opcode not in _SKIP:
      bodies[name][opcode] += 1
    if opcode == "while":
      body = re.search(r"body=%?([\w.\-]+)", line).group(1)
      trips = re.search(r'"n":"(\d+)"', line)
      whiles.append((int(trips.group(1)) if trips else -1, body))
  return [(trips, bodies.get(body, collections.Counter())) for trips, body in whiles]


def print_census(label: str, compiled_text: str):
  for index, (trips, counts) in enumerate(hlo_census(compiled_text)):
    if trips == 1 or sum(counts.values()) == 0:
      continue
    cells = " | ".join(str(counts.get(op, 0)) for op in _COUNTED)
    print(f"| {label} | {index} | {trips} | {sum(counts.values())} | {cells} |", flush=True)


# -- paths ------------------------------------------------------------------------------------
def memjax_config(core: str, batch_size: int, sizes: str):
  from configs import copy_dnc, copy_ntm, run_copy_ntm
  config = (run_copy_ntm if sizes == "run" else copy_ntm).get_config()
  if core == "dnc":
    config.model = copy_dnc.dnc_model(memory_size=32, num_read_heads=1)
  elif core == "lstm":
    import ml_collections
    config.model = ml_collections.ConfigDict({"name": "lstm", "hidden_size": 256})
  config.train.batch_size = batch_size
  return config


class MemjaxPath:
  """The loop's jitted step on the algorithmic family; the state is donated and threaded."""

  def __init__(self, core, batch_size, sizes):
    from memjax.training import loop
    from memjax.training.families.algorithmic import AlgorithmicFamily
    self.family = AlgorithmicFamily(memjax_config(core, batch_size, sizes))
    self.loop = loop
    self.state = self.family.init_state()
    self.flops = count_flops(lambda s: loop._guarded_step(self.family, s, ()), self.state)

  def compiled_text(self):
    return self.loop._jitted_step.lower(self.family, self.state, ()).compile().as_text()

  def __call__(self):
    self.state, metrics = self.loop.train_step(self.family, self.state, ())
    return metrics["loss"]


class PlainPath:
  """A plain reference's jitted step (`plain_ntm` / `plain_dnc`), parameters donated."""

  def __init__(self, core, batch_size, sizes):
    config = memjax_config(core, batch_size, sizes)
    model, lr = config.model, float(config.train.learning_rate)
    module = __import__(f"plain_{core}")
    kwargs = dict(hidden=model.controller_size, slots=model.memory_size, word=model.word_size)
    self.params = module.init_params(jax.random.PRNGKey(0), **kwargs)
    self.step, optimizer = module.make_train_step(batch_size, slots=model.memory_size,
                                                  learning_rate=lr)
    self.opt_state = optimizer.init(self.params)
    self.rng = jax.random.PRNGKey(1)
    self.count = 0
    self.flops = count_flops(self.step, self.params, self.opt_state, self.rng)

  def compiled_text(self):
    return self.step.lower(self.params, self.opt_state, self.rng).compile().as_text()

  def __call__(self):
    self.count += 1
    self.params, self.opt_state, loss = self.step(self.params, self.opt_state,
                                                  jax.random.fold_in(self.rng, self.count))
    return loss


# -- timing -----------------------------------------------------------------------------------
def seconds_per_call(fn, min_seconds: float) -> float:
  clock = time.process_time if ARGS is not None and ARGS.clock == "cpu" else time.perf_counter
  jax.block_until_ready(fn())
  calls, start = 0, clock()
  while True:
    result = fn()
    calls += 1
    if calls % 4 == 0:
      jax.block_until_ready(result)
      elapsed = clock() - start
      if elapsed >= min_seconds:
        return elapsed / calls


def matmul_peak_gflops(size: int = 1024, rounds: int = 5) -> float:
  """One process's f32 matmul rate (best of `rounds`), in GFLOP/s."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
  matmul = jax.jit(lambda x: x @ a)
  best = min(seconds_per_call(lambda: matmul(a), 0.2) for _ in range(rounds))
  return 2 * size ** 3 / best / 1e9


def main():
  args = ARGS or _parse([])
  batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
  peak = matmul_peak_gflops()
  print(f"memjax core speed on {jax.devices()[0].device_kind}, copy lengths 1-20 padded to 41 "
        f"steps, sizes '{args.model_sizes}'; f32 matmul peak {peak:.1f} GFLOP/s "
        f"({'one thread' if args.threads == 1 else 'default threads'}, {args.clock} clock)")
  print()
  print("| core | batch | memjax ms/seq | plain ms/seq | speed-up (range) | memjax GFLOP/s "
        "(% peak) | plain GFLOP/s (% peak) | MFLOP/seq |")
  print("|---|---|---|---|---|---|---|---|", flush=True)
  census = []
  for core in args.cores.split(","):
    for batch_size in batch_sizes:
      paths = {"memjax": MemjaxPath(core, batch_size, args.model_sizes)}
      if core in ("ntm", "dnc"):
        paths["plain"] = PlainPath(core, batch_size, args.model_sizes)
      times = {name: [] for name in paths}
      for _ in range(args.rounds):
        for name, path in paths.items():
          times[name].append(seconds_per_call(path, args.min_seconds) / batch_size)
      med = {name: statistics.median(t) for name, t in times.items()}
      rate = {name: paths[name].flops / batch_size / med[name] / 1e9 for name in paths}
      row = f"| {core} | {batch_size} | {med['memjax'] * 1e3:.3f} | "
      if "plain" in paths:
        ratios = [p / m for p, m in zip(times["plain"], times["memjax"])]
        row += (f"{med['plain'] * 1e3:.3f} | {statistics.median(ratios):.2f}x "
                f"({min(ratios):.2f}-{max(ratios):.2f}) | ")
      else:
        row += "- | - | "
      row += f"{rate['memjax']:.1f} ({100 * rate['memjax'] / peak:.0f}%) | "
      row += (f"{rate['plain']:.1f} ({100 * rate['plain'] / peak:.0f}%) | " if "plain" in paths
              else "- | ")
      row += f"{paths['memjax'].flops / batch_size / 1e6:.1f} |"
      print(row, flush=True)
      if args.hlo and batch_size == batch_sizes[0]:
        census.append((core, paths))
  if census:
    print()
    print("Instructions per iteration of each while loop after XLA's optimisation "
          f"(batch {batch_sizes[0]}; loop 0 is usually the forward scan, the next the backward)")
    print("| path | loop | trips | all | " + " | ".join(_COUNTED) + " |")
    print("|---|---|---|---|" + "---|" * len(_COUNTED))
    for core, paths in census:
      for name, path in paths.items():
        print_census(f"{core} {name}", path.compiled_text())


if __name__ == "__main__":
  main()
