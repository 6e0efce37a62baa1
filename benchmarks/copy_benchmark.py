"""Copy benchmark: training throughput and time-to-solve for NTM and LSTM, printed as tables.

    python benchmarks/copy_benchmark.py                       # throughput + 5 seeds of NTM time-to-solve
    python benchmarks/copy_benchmark.py --seeds=0 --batch_sizes=16,64,256   # throughput only

Throughput: ms per jitted train step (after compilation) and sequences/s, for each
core and batch size, on whatever device JAX picks. Time-to-solve: each seed is a
fresh `python run.py` process (so start-up and compilation count), timed from
launch until the error on 1,000 fresh sequences is under 0.1 bits/sequence.

The launchers keep JAX's persistent compilation cache (memjax/launch.py), so a
relaunch skips compiling. --cache=cold gives every seed an empty cache (a first
launch on a fresh machine); --cache=warm shares one cache that an untimed
one-step run filled first (every later launch); --cache=both runs each seed both
ways. A cached program is the one XLA would build, so the trajectory, and the
step at which copy is solved, is the same either way.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

_SEEDS = flags.DEFINE_integer("seeds", 5, "Seeds of time-to-solve runs per core (0: skip).")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["16", "64"], "Batch sizes for the throughput table.")
_CORES = flags.DEFINE_list("cores", ["ntm", "lstm"], "Cores to benchmark: ntm, dnc, lstm, gru.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed train steps per throughput cell.")
_BASELINE_STEPS = flags.DEFINE_integer("baseline_steps", 2000, "Step budget of non-NTM time-to-solve runs.")
_SOLVE_TIMEOUT = flags.DEFINE_integer("solve_timeout", 300, "Seconds before a time-to-solve run is cut.")
_CACHE = flags.DEFINE_enum("cache", "both", ["cold", "warm", "both"],
                           "Compilation cache of the time-to-solve runs (see the docstring).")


def _config(core: str, batch_size: int):
  """run.py's NTM copy config; for the others the same task with their model block
  (the DNC's from configs/copy_dnc.py; LSTM and GRU with 256 units)."""
  from configs import copy_dnc, run_copy_ntm
  config = run_copy_ntm.get_config()
  if core == "dnc":
    config.model = copy_dnc.dnc_model(memory_size=32, num_read_heads=1)
  elif core != "ntm":
    import ml_collections
    config.model = ml_collections.ConfigDict({"name": core, "hidden_size": 256})
  config.train.batch_size = batch_size
  return config


def throughput_table():
  """Prints one row per (core, batch) as it is measured, so a run cut short keeps its rows."""
  from memjax.training.families.algorithmic import AlgorithmicFamily
  import lm_throughput  # its step timing; benchmarks/ is on sys.path when this file runs
  print(f"\nCopy training throughput on {jax.devices()[0].device_kind} ({jax.device_count()} device(s)),"
        " lengths 1-20 padded to 41 steps")
  print("| core | batch | ms/step | sequences/s | ms/sequence | compile s |")
  print("|---|---|---|---|---|---|", flush=True)
  for core in _CORES.value:
    for batch_size in map(int, _BATCH_SIZES.value):
      compile_seconds, step_seconds, _ = lm_throughput.time_train_steps(
          AlgorithmicFamily(_config(core, batch_size)), _STEPS.value)
      step_ms = step_seconds * 1000
      print(f"| {core} | {batch_size} | {step_ms:.1f} | {batch_size / step_ms * 1000:.0f} "
            f"| {step_ms / batch_size:.2f} | {compile_seconds:.1f} |", flush=True)


def _run_command(core: str, seed: int, workdir: str, baseline_steps: int = 2000):
  """run.py's command line for one seed. absl reads `--config=` before its overrides, so a
  baseline's own config file comes first."""
  command = [sys.executable, os.path.join(_ROOT, "run.py"), f"--workdir={workdir}"]
  if core != "ntm":  # baselines: their own config, bounded so that a failure to learn ends
    command += [f"--config={os.path.join(_ROOT, 'configs', f'copy_{core}.py')}",
                f"--config.train.num_steps={baseline_steps}"]
  return command + [f"--config.seed={seed}", "--config.eval.lengths=()"]


def _environment(cache_dir: str):
  return dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
              JAX_COMPILATION_CACHE_DIR=cache_dir)


def warm_cache(core: str) -> str:
  """A compilation cache filled by an untimed one-step run of `core` (its programs compiled)."""
  cache_dir = tempfile.mkdtemp(prefix=f"copy_{core}_cache_")
  command = _run_command(core, 0, tempfile.mkdtemp(prefix=f"copy_{core}_warmup_"),
                         _BASELINE_STEPS.value)
  subprocess.run(command + ["--config.train.num_steps=1"], check=True, capture_output=True,
                 timeout=_SOLVE_TIMEOUT.value, env=_environment(cache_dir))
  return cache_dir


def time_to_solve(core: str, seed: int, cache_dir: str):
  workdir = tempfile.mkdtemp(prefix=f"copy_{core}_{seed}_")
  start = time.time()
  try:
    subprocess.run(_run_command(core, seed, workdir, _BASELINE_STEPS.value), check=True,
                   capture_output=True, timeout=_SOLVE_TIMEOUT.value,
                   env=_environment(cache_dir))
  except subprocess.TimeoutExpired:
    return float("nan"), -1, float("nan"), time.time() - start
  results = json.load(open(os.path.join(workdir, "results.json")))
  return (results["solved_at_seconds"][0], results["solved_at_step"][0],
          results["eval_bits_error_median"], time.time() - start)


def main(argv):
  del argv
  throughput_table()
  if _SEEDS.value <= 0:
    return
  caches = ["cold", "warm"] if _CACHE.value == "both" else [_CACHE.value]
  print("\nTime to solve copy (< 0.1 bits/sequence on 1,000 fresh sequences of length 1-20), "
        "each seed a fresh process timed from launch; cold: an empty compilation cache, warm: "
        "one filled by an untimed one-step run")
  print("| core | seed | cache | solved after s | at step | final bits/seq | process s |")
  print("|---|---|---|---|---|---|---|")
  for core in _CORES.value:
    if core != "ntm" and not os.path.exists(os.path.join(_ROOT, "configs", f"copy_{core}.py")):
      print(f"| {core} | - | - | no configs/copy_{core}.py to run | | | |")
      continue
    solved = {cache: [] for cache in caches}
    warm_dir = warm_cache(core) if "warm" in caches else None
    for seed in range(_SEEDS.value):
      for cache in caches:
        cache_dir = warm_dir if cache == "warm" else tempfile.mkdtemp(prefix="copy_cold_cache_")
        seconds, step, error, wall = time_to_solve(core, seed, cache_dir)
        solved[cache].append(seconds if step >= 0 else np.inf)
        shown = f"{seconds:.1f}" if step >= 0 else "not solved"
        print(f"| {core} | {seed} | {cache} | {shown} | {step} | {error:.3f} | {wall:.1f} |",
              flush=True)
    for cache in caches:
      print(f"| {core} | median | {cache} | {np.median(solved[cache]):.1f} | | | "
            f"max {np.max(solved[cache]):.1f} |")


if __name__ == "__main__":
  app.run(main)
