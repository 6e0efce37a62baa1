"""K seeds in one compiled program (vmap over parameters and PRNG keys) vs K sequential runs.

    python benchmarks/many_seeds.py --num_seeds=10

Both sides train the README's copy NTM (configs/run_copy_ntm.py) for the same
fixed number of steps (no early stop, so the work is equal), each side in fresh
processes timed from launch, then evaluate on 1,000 fresh sequences; prints a
table with wall times, median and best errors.
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
_STEPS = flags.DEFINE_integer("steps", 1000, "Training steps of every model.")


def _run(extra):
  workdir = tempfile.mkdtemp(prefix="many_seeds_")
  command = [sys.executable, os.path.join(_ROOT, "run.py"), f"--workdir={workdir}",
             "--config.eval.lengths=()", f"--config.train.num_steps={_STEPS.value}",
             "--config.train.target_error=-1", "--config.train.eval_every=100000",
             "--config.train.checkpoint_every=0", *extra]
  start = time.time()
  subprocess.run(command, check=True, capture_output=True,
                 env=dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu")))
  return time.time() - start, json.load(open(os.path.join(workdir, "results.json")))


def main(argv):
  del argv
  k = _NUM_SEEDS.value
  together_seconds, together = _run([f"--config.num_seeds={k}"])
  sequential_seconds, sequential_errors = 0.0, []
  for seed in range(k):
    seconds, result = _run([f"--config.seed={seed}"])
    sequential_seconds += seconds
    sequential_errors.append(result["eval_bits_error_median"])
  print(f"\nCopy NTM, {k} seeds x {_STEPS.value} steps each")
  print("| how | wall s | median bits/seq | best bits/seq | seeds under 0.1 |")
  print("|---|---|---|---|---|")
  errors = np.asarray(together["eval_bits_error_per_seed"])
  print(f"| {k} seeds in one program (vmap) | {together_seconds:.1f} | {np.median(errors):.3f} | "
        f"{errors.min():.3f} | {int(np.sum(errors < 0.1))}/{k} |")
  print(f"| {k} sequential runs | {sequential_seconds:.1f} | {np.median(sequential_errors):.3f} | "
        f"{np.min(sequential_errors):.3f} | {int(np.sum(np.asarray(sequential_errors) < 0.1))}/{k} |")
  print(f"speed-up: {sequential_seconds / together_seconds:.2f}x")


if __name__ == "__main__":
  app.run(main)
