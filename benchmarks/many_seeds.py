"""K seeds in one compiled program (vmap over parameters and PRNG keys) vs K sequential runs.

    python benchmarks/many_seeds.py --num_seeds=10

Both sides train the README's copy NTM (configs/run_copy_ntm.py) until every
seed is under 0.1 bits/sequence on 1,000 fresh sequences, each side in fresh
processes timed from launch; prints a table with wall times, median and best errors.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", 10, "K.")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 3000, "Step budget for every run.")


def _run(extra):
  workdir = tempfile.mkdtemp(prefix="many_seeds_")
  command = [sys.executable, os.path.join(_ROOT, "run.py"), f"--workdir={workdir}",
             "--config.eval.lengths=()", f"--config.train.num_steps={_MAX_STEPS.value}", *extra]
  start = time.time()
  subprocess.run(command, check=True, capture_output=True,
                 env=dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu")))
  return time.time() - start, json.load(open(os.path.join(workdir, "results.json")))


def main(argv):
  del argv
  k = _NUM_SEEDS.value
  together_seconds, together = _run([f"--config.num_seeds={k}"])
  sequential_seconds, sequential_errors, sequential_steps = 0.0, [], []
  for seed in range(k):
    seconds, result = _run([f"--config.seed={seed}"])
    sequential_seconds += seconds
    sequential_errors.append(result["eval_bits_error_median"])
    sequential_steps.append(result["solved_at_step"][0])
  print(f"\nCopy NTM, {k} seeds, until every seed < 0.1 bits/sequence (max {_MAX_STEPS.value} steps)")
  print("| how | wall s | median bits/seq | best bits/seq | solved at steps |")
  print("|---|---|---|---|---|")
  errors = np.asarray(together["eval_bits_error_per_seed"])
  print(f"| {k} seeds in one program (vmap) | {together_seconds:.1f} | {np.median(errors):.3f} | "
        f"{errors.min():.3f} | {together['solved_at_step']} |")
  print(f"| {k} sequential runs | {sequential_seconds:.1f} | {np.median(sequential_errors):.3f} | "
        f"{np.min(sequential_errors):.3f} | {sequential_steps} |")
  print(f"speed-up: {sequential_seconds / together_seconds:.2f}x")


if __name__ == "__main__":
  app.run(main)
