"""Short fixed-seed runs of every model family, to show that a change to the training code
leaves the numbers where they were.

    python benchmarks/fixed_seed_runs.py --json=after.json                  # this checkout
    python benchmarks/fixed_seed_runs.py --repo=/tmp/old --json=before.json  # another checkout
    python benchmarks/fixed_seed_runs.py --compare=before.json,after.json    # the table

Each case is one `experiments/train.py` launch (a fresh process, tiny sizes, seconds to a
minute on one CPU core) with a fixed seed. Recorded per case: the training losses of
`<workdir>/log.txt` and the final evaluation figures of `<workdir>/results.json`.
`--compare` prints, per case, the largest absolute and relative difference between two
recordings. Runs that compile the same program give equal numbers; a program that XLA
compiles differently (e.g. an extra select in the step) may round differently in the last
bits, and the differences then grow over the steps as any float rounding does.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DATA = os.environ.get("MEMJAX_DATA_DIR", os.path.join(_ROOT, "..", "shared", "data"))
_BABI = os.path.join(_DATA, "babi", "tasks_1-20_v1-2")
_TEXT = os.path.join(_DATA, "tinyshakespeare", "input.txt")

_TINY_COPY = ["--config.task.max_length=5", "--config.task.num_bits=6",
              "--config.model.memory_size=16", "--config.model.word_size=10",
              "--config.model.controller_size=32", "--config.train.log_every=10",
              "--config.train.eval_batch_size=200", "--config.eval.lengths=(5,8)",
              "--config.eval.num_sequences=50", "--config.train.checkpoint_every=0"]
_TINY_LM = [f"--config.data.path={_TEXT}", "--config.model.num_layers=1",
            "--config.model.d_model=32", "--config.model.d_ff=64", "--config.train.num_steps=40",
            "--config.train.warmup_steps=5", "--config.train.log_every=5",
            "--config.train.eval_every=20", "--config.train.checkpoint_every=0",
            "--config.eval.max_segments=20", "--config.eval.sample_length=20"]
_TINY_KBQA = ["--config.task.num_films=60", "--config.task.num_people=50",
              "--config.task.num_directors=10", "--config.task.num_cities=10",
              "--config.task.num_countries=4", "--config.task.questions_per_hop=200",
              "--config.task.max_candidates=32", "--config.train.num_steps=40",
              "--config.train.log_every=5", "--config.train.eval_every=20",
              "--config.train.checkpoint_every=0"]
_TINY_GRAPH = ["--config.train.num_steps=40", "--config.train.log_every=5",
               "--config.train.eval_every=20", "--config.train.eval_batch_size=100",
               "--config.train.checkpoint_every=0"]

# (name, config file under configs/, flags). Config files are named as in this checkout.
CASES = [
    ("copy_ntm", "copy_ntm.py", _TINY_COPY + ["--config.train.num_steps=60",
                                             "--config.train.eval_every=30",
                                             "--config.train.target_error=-1"]),
    ("copy_ntm_target", "copy_ntm.py", _TINY_COPY + [
        "--config.train.num_steps=300", "--config.train.eval_every=1000",
        "--config.train.target_error=2.0", "--config.train.learning_rate=1e-2",
        "--config.task.max_length=4", "--config.task.num_bits=4", "--config.model.memory_size=8",
        "--config.model.word_size=6", "--config.train.log_every=1000"]),
    ("copy_dnc_2_seeds", "copy_dnc.py", _TINY_COPY[:2] + [
        "--config.model.memory_size=8", "--config.model.word_size=6",
        "--config.model.controller_size=16", "--config.num_seeds=2",
        "--config.train.num_steps=40", "--config.train.log_every=10",
        "--config.train.eval_every=20", "--config.train.eval_batch_size=100",
        "--config.train.target_error=-1", "--config.eval.lengths=()",
        "--config.train.checkpoint_every=0"]),
    ("char_lm_xl", "charlm_transformer_xl.py", _TINY_LM + ["--config.model.mem_len=16",
                                                           "--config.eval.mem_len=32"]),
    ("char_lm_compressive", "charlm_compressive.py", _TINY_LM),
    ("long_range_xl", "long_range_xl.py", ["--config.train.num_steps=60",
                                          "--config.train.log_every=10",
                                          "--config.train.eval_every=30",
                                          "--config.eval.batch_size=200"]),
    ("kbqa_kv_memory", "kbqa_kv_memory.py", _TINY_KBQA),
    ("kbqa_lstm", "kbqa_lstm.py", _TINY_KBQA),
    ("graph_traversal_kv_memory", "graph_traversal_ntm.py:kv_memory", _TINY_GRAPH),
    ("graph_traversal_ntm", "graph_traversal_ntm.py", _TINY_GRAPH + [
        "--config.model.controller_size=32", "--config.model.memory_size=16",
        "--config.model.word_size=16"]),
    ("babi_memn2n", "babi_memn2n.py", [
        f"--config.data.babi_dir={_BABI}", "--config.data.tasks=1,2", "--config.num_seeds=2",
        "--config.train.num_epochs=4", "--config.train.ls_epochs=2",
        "--config.train.eval_every=2", "--config.train.checkpoint_every=0"]),
    ("babi_recurrent_lstm", "babi_dnc.py:1k,lstm", [
        f"--config.data.babi_dir={_BABI}", "--config.data.tasks=1,2",
        "--config.model.hidden_size=32", "--config.train.num_steps=30",
        "--config.train.log_every=5", "--config.train.eval_every=15",
        "--config.train.learning_rate=1e-3", "--config.train.checkpoint_every=0"]),
]

# Names of configs before the training loop became one (for `--repo` at an older commit).
_OLD_NAMES = {"kbqa_kv_memory.py": "kbqa_kvmemory.py",
              "graph_traversal_ntm.py:kv_memory": "graph_traversal_ntm.py:kvmemory"}


def _config_spec(repo: str, config: str) -> str:
  if not os.path.exists(os.path.join(repo, "configs", "kbqa_kv_memory.py")):  # an older checkout
    config = _OLD_NAMES.get(config, config)
  return os.path.join(repo, "configs", config)


def _losses(workdir: str):
  """{step: loss} from log.txt (one JSON object of scalars per logged step)."""
  losses = {}
  path = os.path.join(workdir, "log.txt")
  for line in open(path) if os.path.exists(path) else ():
    parts = line.split(" ", 4)
    if len(parts) == 5 and parts[2] == "step" and parts[4].startswith("{"):
      scalars = json.loads(parts[4])
      for key in ("loss", "train_loss", "joint/train_loss"):
        if key in scalars:
          losses[parts[3]] = scalars[key]
  return losses


_FIGURES = ("eval_bits_error_per_seed", "generalization", "solved_at_step", "steps", "eval",
            "eval_history", "sample", "final", "history", "test_error_pct_per_seed",
            "valid_error_pct_per_seed", "best_mean_test_error_pct", "epochs_done",
            "seed_mean_test_error_pct", "nonfinite_steps_skipped")


def run_case(repo: str, name: str, config: str, flags) -> dict:
  workdir = tempfile.mkdtemp(prefix=f"fixed_seed_{name}_")
  command = [sys.executable, os.path.join(repo, "experiments", "train.py"),
             f"--config={_config_spec(repo, config)}", f"--workdir={workdir}", *flags]
  start = time.time()
  done = subprocess.run(command, cwd=repo, capture_output=True, text=True,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  if done.returncode:
    return {"error": done.stderr[-2000:]}
  results = json.load(open(os.path.join(workdir, "results.json")))
  return {"seconds": time.time() - start, "losses": _losses(workdir),
          "figures": {k: v for k, v in results.items() if k in _FIGURES}}


def _numbers(tree, prefix=""):
  """Flattens nested dicts/lists to {path: number} (strings kept as they are)."""
  if isinstance(tree, dict):
    out = {}
    for key, value in tree.items():
      out.update(_numbers(value, f"{prefix}/{key}"))
    return out
  if isinstance(tree, list):
    out = {}
    for i, value in enumerate(tree):
      out.update(_numbers(value, f"{prefix}[{i}]"))
    return out
  return {prefix: tree}


def _canonical(figures: dict) -> dict:
  """Older results.json layouts in today's: char-LM `eval` (+ `sample`, `eval_by_mem_len`) as
  `final`, `eval_history` as `history`; histories keyed by step (only shared steps compare)."""
  figures = dict(figures)
  if "eval" in figures and "final" not in figures:
    figures["final"] = dict(figures.pop("eval"))
    if figures.get("sample") is not None:
      figures["final"]["sample"] = figures.pop("sample")
  if "eval_history" in figures:
    figures["history"] = figures.pop("eval_history")
  figures.pop("sample", None)
  figures["history"] = {str(entry["step"]): entry for entry in figures.get("history", [])}
  return figures


def compare(before: dict, after: dict) -> None:
  print("| case | losses compared | largest loss difference | figures compared | "
        "largest figure difference (rel.) | figures that differ |")
  print("|---|---|---|---|---|---|")
  for name in before:
    if name not in after or "error" in before[name] or "error" in after[name]:
      print(f"| {name} | missing or failed | | | | |")
      continue
    a, b = before[name], after[name]
    steps = sorted(set(a["losses"]) & set(b["losses"]), key=int)
    loss_diff = max((float(np.max(np.abs(np.subtract(a["losses"][s], b["losses"][s]))))
                     for s in steps), default=float("nan"))
    ca, cb = _canonical(a["figures"]), _canonical(b["figures"])
    for history in (ca["history"], cb["history"]):  # steps in both only
      for step in set(history) - (set(ca["history"]) & set(cb["history"])):
        history.pop(step)
    fa, fb = _numbers(ca), _numbers(cb)
    largest, differing = 0.0, []
    for key in sorted(set(fa) & set(fb)):
      x, y = fa[key], fb[key]
      if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not (
          isinstance(x, bool) or isinstance(y, bool)):
        if x != y and not (math.isnan(x) and math.isnan(y)):
          largest = max(largest, abs(x - y) / max(abs(x), abs(y), 1e-12))
          differing.append(key)
      elif x != y:
        differing.append(key)
    print(f"| {name} | {len(steps)} | {loss_diff:.2e} | {len(set(fa) & set(fb))} | "
          f"{largest:.2e} | {', '.join(differing[:4])}{' ...' if len(differing) > 4 else ''} |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repo", default=_ROOT, help="checkout whose code runs")
  parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
  parser.add_argument("--json", default="", help="write the recordings here")
  parser.add_argument("--compare", default="", help="before.json,after.json: print the table")
  args = parser.parse_args()
  if args.compare:
    before, after = (json.load(open(path)) for path in args.compare.split(","))
    compare(before, after)
    return
  wanted = set(args.cases.split(",")) if args.cases else None
  out = {}
  for name, config, flags in CASES:
    if wanted and name not in wanted:
      continue
    out[name] = run_case(os.path.abspath(args.repo), name, config, flags)
    status = "failed" if "error" in out[name] else f"{out[name]['seconds']:.0f} s"
    print(f"{name}: {status}", flush=True)
    if args.json:
      previous = json.load(open(args.json)) if os.path.exists(args.json) else {}
      with open(args.json, "w") as f:
        json.dump({**previous, **out}, f, indent=1)


if __name__ == "__main__":
  main()
