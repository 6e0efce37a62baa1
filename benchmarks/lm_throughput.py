"""Char-LM training throughput: tokens/s of Transformer-XL, the Compressive Transformer and the
vanilla (mem_len = 0) model at several batch sizes, printed as a table.

    python benchmarks/lm_throughput.py                                  # the configs' models
    python benchmarks/lm_throughput.py --batch_sizes=16,64,256 --json=lm_throughput.json

Each cell builds the char-LM family (`memjax.training.families.language_model.CharLMFamily`,
the config of configs/charlm_<model>.py with --batch_size streams) on a synthetic text, so no
data file is needed, and times the loop's step (`memjax.training.loop.train_step`, the NaN/Inf
guard included) after compilation: one step trains one segment of seg_len tokens per stream
(XL and compressive carry their memories across steps, as in training). Times are wall times
on whatever device JAX picks (so the same command serves a GPU); all local devices are used,
as in training.
"""
import argparse
import json
import os
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "configs"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

_MODELS = {"transformer_xl": "charlm_transformer_xl", "compressive": "charlm_compressive",
           "vanilla": "charlm_vanilla"}


def _parse(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default=",".join(_MODELS), help="of " + ", ".join(_MODELS))
  parser.add_argument("--batch_sizes", default="16,64", help="streams per step")
  parser.add_argument("--steps", type=int, default=10, help="timed steps per cell")
  parser.add_argument("--config_override", action="append", default=[],
                      help="field=value applied to every config, e.g. model.num_layers=1")
  parser.add_argument("--json", default="", help="also write the rows here")
  return parser.parse_args(argv)


def synthetic_text(num_chars: int = 200_000) -> str:
  """A text file of `num_chars` characters (words of a 40-character alphabet) in a temp dir."""
  rng = np.random.default_rng(0)
  alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz .,;:!?'ABCDEFG"))
  path = os.path.join(tempfile.mkdtemp(prefix="lm_throughput_"), "text.txt")
  with open(path, "w") as f:
    f.write("".join(alphabet[rng.integers(0, len(alphabet), num_chars)]))
  return path


def _set(config, assignment: str) -> None:
  field, value = assignment.split("=", 1)
  *sections, key = field.split(".")
  block = config
  for section in sections:
    block = block[section]
  block[key] = type(block[key])(value) if not isinstance(block[key], bool) else value == "True"


def time_train_steps(family, steps: int):
  """(compile seconds, wall seconds per step after compilation, the last step's metrics) of a
  family's step as the loop runs it, from `init_state()` (also used by copy_benchmark.py)."""
  from memjax.training import loop
  state = family.init_state()
  start = time.perf_counter()
  state, metrics = loop.train_step(family, state, family.batch(0))
  jax.block_until_ready(metrics)
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  for step in range(1, steps + 1):
    state, metrics = loop.train_step(family, state, family.batch(step))
  jax.block_until_ready(metrics)
  return compile_seconds, (time.perf_counter() - start) / steps, metrics


def measure(model: str, batch_size: int, steps: int, text_path: str, overrides=()) -> dict:
  from memjax.training.families.language_model import CharLMFamily
  config = __import__(_MODELS[model]).get_config()
  config.data.path = text_path
  config.train.batch_size = batch_size
  for assignment in overrides:
    _set(config, assignment)
  compile_seconds, step_seconds, metrics = time_train_steps(CharLMFamily(config), steps)
  tokens = batch_size * int(config.train.seg_len)
  return {"model": model, "batch_size": batch_size, "seg_len": int(config.train.seg_len),
          "mem_len": int(config.model.mem_len),
          "compressed_mem_len": int(config.model.get("compressed_mem_len", 0)),
          "ms_per_step": step_seconds * 1e3, "tokens_per_s": tokens / step_seconds,
          "compile_s": compile_seconds, "loss": float(np.mean(np.asarray(metrics["loss"])))}


def main(argv=None):
  args = _parse(argv)
  text_path = synthetic_text()
  print(f"Char-LM training throughput on {jax.devices()[0].device_kind} "
        f"({jax.device_count()} device(s)); wall time per step after compilation")
  print("| model | batch | seg_len | memory | ms/step | tokens/s | compile s |")
  print("|---|---|---|---|---|---|---|", flush=True)
  rows = []
  for model in args.models.split(","):
    for batch_size in map(int, args.batch_sizes.split(",")):
      row = measure(model, batch_size, args.steps, text_path, args.config_override)
      memory = str(row["mem_len"]) + (f" + {row['compressed_mem_len']} compressed"
                                       if row["compressed_mem_len"] else "")
      print(f"| {model} | {batch_size} | {row['seg_len']} | {memory} | {row['ms_per_step']:.1f} "
            f"| {row['tokens_per_s']:.0f} | {row['compile_s']:.1f} |", flush=True)
      rows.append(row)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"device": jax.devices()[0].device_kind, "rows": rows}, f, indent=2)
  return rows


if __name__ == "__main__":
  main()
