"""Every memory on the same tasks: MQAR recall against state size, facts in a haystack
against context length (the grid of configs/memory_zoo.py).

    python benchmarks/memory_zoo.py --config=configs/memory_zoo.py --workdir=/tmp/zoo
    python benchmarks/memory_zoo.py --config=configs/memory_zoo.py:full --workdir=/tmp/zoo_full
    python benchmarks/memory_zoo.py --config=configs/memory_zoo.py --workdir=/tmp/zoo \
      --publish    # also writes the figures and tables into docs/ (maintainers)

Each cell (task, model, size, seed) is one training run of the one loop,
`experiments/train.py --config=configs/memory_zoo.py:cell/...`, in
`<workdir>/<task>/<model>/<size>/seed<k>/`, whose results.json is the cell's
result. A cell with a results.json is done; a killed grid relaunched with the same
command skips those and resumes an unfinished cell from its last checkpoint
(`train.checkpoint_every` is half the run). `parallel_cells` cells train at
once, each pinned to one CPU core (benchmarks/cell_runner.py), which on a 2-core
machine beats one cell on two threads for models this small.

At the end (or with `--report_only`) the script prints the tables, writes
`<workdir>/zoo.json` and `<workdir>/zoo.md`, and draws `<workdir>/mqar.png` (accuracy
against state size in floats, one panel per number of pairs, one line per model,
mean and min-max over seeds) and `<workdir>/haystack.png` (answer accuracy against
context length). `--publish` copies them into docs/memory_zoo/ and the tables into
docs/memory_zoo.md between its `<!-- memory-zoo:start -->` and end lines.
"""
import collections
import json
import os
import pathlib
import shutil
import sys

import numpy as np
from absl import app, flags
from ml_collections import config_flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
from benchmarks import cell_runner  # noqa: E402
from benchmarks.babi_results import replace_block  # noqa: E402
from benchmarks.machine import cpu_info  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", os.path.join(_ROOT, "configs",
                                                                 "memory_zoo.py"),
                                          "The grid (configs/memory_zoo.py[:small|full]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the cells' runs and the report go.")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Train nothing; report the cells done.")
_PUBLISH = flags.DEFINE_bool("publish", False, "Copy figures and tables into docs/.")
_ONLY = flags.DEFINE_list("only", [], "Train only cells whose path contains one of these.")

_DOCS = os.path.join(_ROOT, "docs", "memory_zoo.md")
_TABLE_BLOCK = "memory-zoo"  # docs/memory_zoo.md's generated tables: <!-- memory-zoo:start -->


class Cell(collections.namedtuple("Cell", "task model size seed")):
  """One training run of the grid."""

  @property
  def path(self) -> str:
    return f"{self.task}/{self.model}/{self.size}/seed{self.seed}"

  def config_arg(self, config_file: str, grid: str) -> str:
    return f"{config_file}:cell/{grid}/{self.task}/{self.model}/{self.size}/{self.seed}"


def grid_cells(config):
  """The cells of a grid config, MQAR first (smallest pair count first), then haystacks."""
  cells = []
  for pairs in config.mqar_pairs:
    for model in config.models:
      sizes = config.sizes[model]
      for size in sizes[-1:] if pairs in config.mqar_largest_only else sizes:
        cells += [Cell(f"mqar_p{pairs}", model, size, seed) for seed in config.seeds]
  for task in config.haystack_tasks:
    for model in config.models:
      cells += [Cell(f"haystack_qa{task}", model, config.haystack_sizes[model], seed)
                for seed in config.seeds]
  return cells


def training_order(cells):
  """The order the grid trains its cells in: seed by seed, and within a seed the costliest
  task first (MQAR by pair count, which sets the sequence length, the haystack among them
  by its training length).

  Seed-major, the cells running side by side are different programs, so the first seed
  compiles each (task, model, size) once and the later seeds read it from the persistent
  compilation cache; costliest first, the grid does not end on one long cell with the
  other core idle.
  """
  def tokens(task):
    if task.startswith("mqar_p"):
      return 4 * int(task[len("mqar_p"):])
    return 256  # the haystack's training length on the small grid, about a 64-pair MQAR's
  return sorted(cells, key=lambda c: (c.seed, -tokens(c.task)))


def _config_file_and_grid():
  path = config_flags.get_config_filename(flags.FLAGS["config"])
  return os.path.abspath(path), _CONFIG.value.grid


def train_grid(cells, workdir: str, parallel: int) -> None:
  config_file, grid = _config_file_and_grid()
  todo = [c for c in training_order(cells)
          if not _ONLY.value or any(o in c.path for o in _ONLY.value)]
  cell_runner.run_all([cell_runner.Run(c.path, (f"--config={c.config_arg(config_file, grid)}",))
                       for c in todo], workdir, parallel)


def collect(cells, workdir: str):
  """One row per finished cell: accuracy, state size, parameters, wall time."""
  rows = []
  for cell in cells:
    path = os.path.join(workdir, cell.path, "results.json")
    if not os.path.exists(path):
      continue
    result = json.load(open(path))
    final = result.get("final", {})
    row = dict(cell._asdict(), path=cell.path, accuracy=final.get("accuracy"),
               state_floats=result.get("state_floats"), num_params=result.get("num_params"),
               wall_seconds=result.get("wall_seconds"), steps=result.get("steps"))
    if "by_length" in final:
      row["by_length"] = {int(k): v for k, v in final["by_length"].items()}
      row["train_length"] = result["config"]["task.train_length"]  # results.json: flat keys
    rows.append(row)
  return rows


def _spread(values):
  values = np.asarray(values, float)
  return float(values.mean()), float(values.min()), float(values.max())


def summarise(rows):
  """Seed means (min, max) per (task, model, size)."""
  groups = collections.defaultdict(list)
  for row in rows:
    groups[(row["task"], row["model"], row["size"])].append(row)
  summary = []
  for (task, model, size), group in groups.items():
    entry = dict(task=task, model=model, size=size, seeds=len(group),
                 state_floats=group[0]["state_floats"], num_params=group[0]["num_params"],
                 accuracy=_spread([r["accuracy"] for r in group]),
                 wall_seconds=_spread([r["wall_seconds"] for r in group]))
    if "by_length" in group[0]:
      lengths = sorted({group[0]["train_length"], *group[0]["by_length"]})
      entry["by_length"] = {
          n: _spread([r["accuracy"] if n == r["train_length"] and n not in r["by_length"]
                      else r["by_length"][n] for r in group]) for n in lengths}
    summary.append(entry)
  return summary


def _cell_text(spread) -> str:
  mean, low, high = spread
  return f"{mean:.3f} ({low:.2f}-{high:.2f})"


def tables(summary, config, machine: str, total_seconds: float, runs=()) -> str:
  """The report's markdown; `runs` are the grid's launches (wall clock, cells trained)."""
  clock = f" {cell_runner.wall_clock_text(runs)};" if runs else ""
  lines = [f"Grid `{config.grid}`: seeds {list(config.seeds)}; {machine};{clock} "
           f"{total_seconds / 60:.0f} cell-minutes in all (the sum of the cells' wall times).",
           ""]
  mqar = [s for s in summary if s["task"].startswith("mqar_p")]
  if mqar:
    pairs = sorted({int(s["task"][len("mqar_p"):]) for s in mqar})
    lines += ["**MQAR** accuracy over all queries (chance 1/16), seed mean (min-max):", "",
              "| model | size | state floats | parameters | "
              + " | ".join(f"{p} pairs" for p in pairs) + " | wall s per cell |",
              "|---|---|---|---|" + "---|" * len(pairs) + "---|"]
    keyed = {(s["model"], s["size"], s["task"]): s for s in mqar}
    state = {(s["model"], s["size"]): s["state_floats"] for s in mqar}
    for model, size in sorted(state, key=lambda ms: (list(config.models).index(ms[0]),
                                                     state[ms])):
      entries = [keyed.get((model, size, f"mqar_p{p}")) for p in pairs]
      first = next(e for e in entries if e)
      low = min(e["wall_seconds"][1] for e in entries if e)
      high = max(e["wall_seconds"][2] for e in entries if e)
      lines.append(f"| {model} | {size} | {first['state_floats']:,} | {first['num_params']:,} | "
                   + " | ".join(_cell_text(e["accuracy"]) if e else "-" for e in entries)
                   + f" | {low:.0f}-{high:.0f} |")
    lines.append("")
  for task in sorted({s["task"] for s in summary if s["task"].startswith("haystack")}):
    rows = [s for s in summary if s["task"] == task]
    lengths = sorted({n for s in rows for n in s["by_length"]})
    lines += [f"**Haystack, bAbI task {task[len('haystack_qa'):]}**: answer accuracy by context "
              "length in words (trained at the first), seed mean (min-max):", "",
              "| model | size | state floats | " + " | ".join(f"{n:,}" for n in lengths)
              + " | wall s per cell |", "|---|---|---|" + "---|" * len(lengths) + "---|"]
    for s in sorted(rows, key=lambda s: list(config.models).index(s["model"])):
      lines.append(f"| {s['model']} | {s['size']} | {s['state_floats']:,} | "
                   + " | ".join(_cell_text(s["by_length"][n]) if n in s["by_length"] else "-"
                                for n in lengths)
                   + f" | {s['wall_seconds'][1]:.0f}-{s['wall_seconds'][2]:.0f} |")
    lines.append("")
  return "\n".join(lines)


def draw(summary, config, workdir: str):
  """mqar.png and haystack.png under `workdir`; returns the paths written."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  written = []
  colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(config.models)}
  mqar = [s for s in summary if s["task"].startswith("mqar_p")]
  if mqar:
    pairs = sorted({int(s["task"][len("mqar_p"):]) for s in mqar})
    figure, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 3.4), sharey=True,
                                squeeze=False)
    for axis, p in zip(axes[0], pairs):
      for model in config.models:
        points = sorted((s["state_floats"], s["accuracy"]) for s in mqar
                        if s["model"] == model and s["task"] == f"mqar_p{p}")
        if not points:
          continue
        x = [q[0] for q in points]
        mean = [q[1][0] for q in points]
        axis.plot(x, mean, "o-", color=colours[model], label=model)
        axis.fill_between(x, [q[1][1] for q in points], [q[1][2] for q in points],
                          color=colours[model], alpha=0.2)
      axis.axhline(1 / 16, color="grey", ls=":", lw=1)
      axis.set_xscale("log")
      axis.set_title(f"MQAR, {p} pairs")
      axis.set_xlabel("state size (floats per sequence)")
      axis.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("query accuracy")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    written.append(os.path.join(workdir, "mqar.png"))
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)
  haystacks = sorted({s["task"] for s in summary if s["task"].startswith("haystack")})
  if haystacks:
    figure, axes = plt.subplots(1, len(haystacks), figsize=(4.5 * len(haystacks), 3.4),
                                squeeze=False)
    for axis, task in zip(axes[0], haystacks):
      for s in (s for s in summary if s["task"] == task):
        lengths = sorted(s["by_length"])
        axis.plot(lengths, [s["by_length"][n][0] for n in lengths], "o-",
                  color=colours[s["model"]], label=f"{s['model']} ({s['state_floats']:,})")
        axis.fill_between(lengths, [s["by_length"][n][1] for n in lengths],
                          [s["by_length"][n][2] for n in lengths], color=colours[s["model"]],
                          alpha=0.2)
      axis.set_xscale("log", base=2)
      axis.set_title(f"Facts in a haystack, bAbI task {task[len('haystack_qa'):]}")
      axis.set_xlabel("context length (words)")
      axis.set_ylabel("answer accuracy")
      axis.set_ylim(0, 1.02)
      axis.legend(fontsize=7, title="model (state floats)", title_fontsize=7)
    figure.tight_layout()
    written.append(os.path.join(workdir, "haystack.png"))
    figure.savefig(written[-1], dpi=110)
    plt.close(figure)
  return written


def publish(text: str, figures) -> None:
  """Figures into docs/memory_zoo/, tables into docs/memory_zoo.md between the markers."""
  folder = os.path.join(_ROOT, "docs", "memory_zoo")
  os.makedirs(folder, exist_ok=True)
  for figure in figures:
    shutil.copy(figure, folder)
  try:
    replace_block(pathlib.Path(_DOCS), text, _TABLE_BLOCK)
  except ValueError as error:
    raise SystemExit(str(error)) from None
  print(f"wrote {_DOCS} and {len(figures)} figures in {folder}")


def main(argv):
  del argv
  if not _WORKDIR.value:
    raise app.UsageError("--workdir is required")
  config = _CONFIG.value
  workdir = os.path.abspath(_WORKDIR.value)
  cells = grid_cells(config)
  if not _REPORT_ONLY.value:
    train_grid(cells, workdir, int(config.parallel_cells))
  rows = collect(cells, workdir)
  if not rows:
    raise SystemExit(f"no finished cells under {workdir}")
  summary = summarise(rows)
  cpu = cpu_info()
  machine = f"{cpu['model_name']}, {os.cpu_count()} cores, CPU only"
  text = tables(summary, config, machine, sum(r["wall_seconds"] for r in rows),
                cell_runner.launches(workdir))
  missing = len(cells) - len(rows)
  if missing:
    text += f"\n{missing} of {len(cells)} cells not finished.\n"
  print(text)
  with open(os.path.join(workdir, "zoo.md"), "w") as f:
    f.write(text)
  with open(os.path.join(workdir, "zoo.json"), "w") as f:
    json.dump({"grid": config.grid, "machine": machine, "cells": rows, "summary": summary}, f,
              indent=1, default=str)
  figures = draw(summary, config, workdir)
  print("figures: " + ", ".join(figures))
  if _PUBLISH.value:
    publish(text, figures)


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
