"""The newer memories (kNN memory, RMT, Infini-attention, linear attention, delta rule)
against Transformer-XL: the three tables of docs/results.md, each from its own runs.

    python benchmarks/newer_memories.py --table=long_range --workdir=/tmp/newer
    python benchmarks/newer_memories.py --table=charlm --workdir=/tmp/newer
    python benchmarks/newer_memories.py --table=knn_sizes --workdir=/tmp/newer
    ... --publish     # also writes the table into docs/results.md (maintainers)

- `long_range`: recall with the answer 4 or more segments back (the `long_range_<model>.py`
  configs, seed 0): accuracy, state size, parameters.
- `charlm`: tiny Shakespeare validation bits/char of every segment model at XL's sizes and
  budget (the `charlm_<model>.py` configs), seeds 0-2, mean (min-max).
- `knn_sizes`: the Memorizing Transformer's bits/char as its memory grows: one model trained
  with 1,024 entries per head, evaluated with 1k, 4k and 16k (the memory is carried state,
  not a parameter), and the local model trained without the kNN memory (`charlm_vanilla.py`)
  as 0; seed 0, validation in 4 streams of about 28k characters so that the largest memory
  fills. Then, alone on the machine, the forward time per token of one training segment with
  a full memory of each size (jit, median of repeats), and its excess over the local model.

Every run is `experiments/train.py` in `<workdir>/<table>/<row>/seed<k>/`, two at a time,
each pinned to a core of its own (benchmarks/cell_runner.py): a killed table relaunched with the same
command skips finished runs and resumes the unfinished ones.
"""
import json
import os
import pathlib
import sys
import time
from typing import NamedTuple, Optional, Tuple

import numpy as np
from absl import app, flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
from benchmarks import cell_runner  # noqa: E402
from benchmarks.babi_results import replace_block  # noqa: E402
from benchmarks.machine import cpu_info  # noqa: E402

FLAGS = flags.FLAGS


def _define_flags():
  """The script's flags (defined only when it runs: the tests import this module beside
  memory_zoo.py, whose flags share these names)."""
  flags.DEFINE_enum("table", None, ["long_range", "charlm", "knn_sizes"], "Which table.")
  flags.DEFINE_string("workdir", None, "Where the runs and the report go.")
  flags.DEFINE_bool("report_only", False, "Train nothing; report the runs done.")
  flags.DEFINE_bool("publish", False, "Write the table into docs/results.md.")
  flags.DEFINE_integer("parallel", 2, "Runs trained at once (each pinned to one core).")


_DOCS = os.path.join(_ROOT, "docs", "results.md")


class Row(NamedTuple):
  """One row of a table: its runs' name, the label shown, the config file under configs/,
  extra flags, and its seeds (None: the table's)."""
  name: str
  label: str
  config: str
  extra: Tuple[str, ...] = ()
  seeds: Optional[Tuple[int, ...]] = None


_THREE_SEEDS = (0, 1, 2)
# The RMT's recipe (configs/long_range_rmt.py): XL's control trained as it is.
_RMT_RECIPE = ("--config.task.train_gap=any", "--config.train.learning_rate=5e-4",
               "--config.train.schedule=warmup_cosine", "--config.train.num_steps=1500",
               "--config.train.eval_every=250")
_LONG_RANGE = [
    Row("rmt", "Recurrent Memory Transformer, 8 memory tokens", "long_range_rmt.py",
        seeds=_THREE_SEEDS),
    Row("memorizing_transformer", "Memorizing Transformer, kNN memory of 128",
        "long_range_memorizing_transformer.py", seeds=_THREE_SEEDS),
    Row("transformer_xl", "Transformer-XL, 32 memory slots per layer", "long_range_xl.py:long"),
    Row("infini_attention", "Infini-attention, delta rule", "long_range_infini_attention.py"),
    Row("linear_attention", "linear attention (core)", "long_range_linear_attention.py"),
    Row("delta_rule", "delta rule (core)", "long_range_delta_rule.py"),
    # Control: XL trained on the same gaps, as long, cannot see 4 segments back.
    Row("transformer_xl_rmt_recipe", "Transformer-XL, the RMT's training", "long_range_xl.py:long",
        _RMT_RECIPE),
    # Variants: each recipe without one of its parts.
    Row("rmt_longest", "Recurrent Memory Transformer, the longest gap only", "long_range_rmt.py",
        ("--config.task.train_gap=longest",)),
    Row("memorizing_transformer_longest", "Memorizing Transformer, the longest gap only",
        "long_range_memorizing_transformer.py", ("--config.task.train_gap=longest",)),
    Row("memorizing_transformer_scale4",
        "Memorizing Transformer, retrieval scale from sqrt(d_head)",
        "long_range_memorizing_transformer.py", ("--config.model.scale_init=0",)),
]
_CHARLM = [
    Row("transformer_xl", "Transformer-XL, memory 32", "charlm_transformer_xl.py"),
    Row("compressive", "Compressive Transformer, 16 + 16 compressed (conv, rate 2)",
        "charlm_compressive.py"),
    Row("memorizing_transformer", "Memorizing Transformer, kNN memory of 256, top 32",
        "charlm_memorizing_transformer.py"),
    # 4 segments per step: 500 steps read the characters (and cost the computation) of
    # XL's 2,000 (configs/charlm_rmt.py).
    Row("rmt", "Recurrent Memory Transformer, 16 memory tokens, 500 steps of 4 segments",
        "charlm_rmt.py", ("--config.train.num_steps=500", "--config.train.warmup_steps=25")),
    Row("infini_attention", "Infini-attention, delta rule", "charlm_infini_attention.py"),
    Row("linear_attention", "linear attention (core)", "charlm_linear_attention.py"),
    Row("delta_rule", "delta rule (core)", "charlm_delta_rule.py"),
]
_KNN_TRAIN_SIZE = 1024  # the memory the kNN model trains with
_KNN_SIZES = (0, 1024, 4096, 16384)  # the memories it is evaluated with (0: the local model)
_KNN_EVAL_STREAMS = 4  # tiny Shakespeare's validation split in 4 rows of about 28k characters
_KNN_ROWS = [
    Row("knn0", "0 (the local model, trained without a kNN memory)", "charlm_vanilla.py",
        (f"--config.eval.batch_size={_KNN_EVAL_STREAMS}",)),
    Row(f"knn{_KNN_TRAIN_SIZE}", f"{_KNN_TRAIN_SIZE:,}", "charlm_memorizing_transformer.py",
        (f"--config.model.memory_size={_KNN_TRAIN_SIZE}",
         f"--config.eval.batch_size={_KNN_EVAL_STREAMS}")),
]


TABLES = {
    "long_range": dict(rows=_LONG_RANGE, seeds=(0,)),
    "charlm": dict(rows=_CHARLM, seeds=(0, 1, 2)),
    "knn_sizes": dict(rows=_KNN_ROWS, seeds=(0,)),
}


def row_seeds(table: str, row) -> tuple:
  """The seeds of a row: its own or the table's."""
  return row.seeds if row.seeds is not None else TABLES[table]["seeds"]


def table_runs(table: str):
  """The training runs of `table`, seed by seed (the first seed compiles each model once)."""
  spec = TABLES[table]
  seeds = sorted({seed for row in spec["rows"] for seed in row_seeds(table, row)})
  return [cell_runner.Run(f"{row.name}/seed{seed}",
                          (f"--config={os.path.join(_ROOT, 'configs', row.config)}",
                           f"--config.seed={seed}", *row.extra))
          for seed in seeds for row in spec["rows"] if seed in row_seeds(table, row)]


def run_config(run):
  """The ConfigDict `run` trains (its config file and argument, seed and overrides), as
  experiments/train.py would build it; an override naming a key the config lacks exits with
  train.py's one-line error, as the launch would."""
  import ast
  from memjax import launch
  launch.check_config_overrides(["train.py", *run.args])
  config_flag, *overrides = run.args
  config = launch._load_config(config_flag.split("=", 1)[1])  # what train.py's check loads
  for flag in overrides:
    key, value = flag.removeprefix("--config.").split("=", 1)
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass  # a string
    config.update_from_flattened_dict({key: value})
  return config


def _result(workdir: str, table: str, name: str, seed: int):
  path = os.path.join(workdir, table, name, f"seed{seed}", "results.json")
  return json.load(open(path)) if os.path.exists(path) else None


def _spread(values) -> str:
  values = np.asarray(values, float)
  if len(values) == 1:
    return f"{values[0]:.3f}"
  return f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})"


def report(table: str, workdir: str, timings=None) -> str:
  """The markdown table of the runs done (a row lists the seeds it has)."""
  spec = TABLES[table]
  cpu = cpu_info()
  runs = cell_runner.launches(os.path.join(workdir, table))
  clock = f"; {cell_runner.wall_clock_text(runs)}" if runs else ""
  lines = [f"{time.strftime('%Y-%m-%d')}, {cpu['model_name']}, {os.cpu_count()} cores, "
           f"CPU only, each run pinned to one core, two at a time{clock}.", ""]
  if table == "long_range":
    lines += ["| model | config | state floats | parameters | seeds | recall accuracy (chance "
              "0.125): mean (min-max) | per seed | best evaluation (step), first seed | wall s "
              "per run |", "|---|---|---|---|---|---|---|---|---|"]
  elif table == "charlm":
    lines += ["| model | config | parameters | steps | validation bits/char, seeds "
              f"{list(spec['seeds'])}: mean (min-max) | per seed | wall min per run |",
              "|---|---|---|---|---|---|---|"]
  else:
    lines += ["| kNN memory entries per head | parameters from | state floats | validation "
              "bits/char | forward ms per segment (16 x 32 characters) | us per character "
              "| over the local model |", "|---|---|---|---|---|---|---|"]
    return "\n".join(lines + _knn_rows(workdir, timings or {})) + "\n"
  for row in spec["rows"]:
    name, label, config, extra, _ = row
    found = [(s, r) for s in row_seeds(table, row) if (r := _result(workdir, table, name, s))]
    seeds, results = [s for s, _ in found], [r for _, r in found]
    if not results:
      continue
    first = results[0]
    command = f"`{config}`" + "".join(f" `{e}`" for e in extra if "seed" not in e)
    walls = [r["wall_seconds"] for r in results]
    if table == "long_range":
      accuracies = [r["final"]["accuracy"] for r in results]
      lines.append(f"| {label} | {command} | {first.get('state_floats', 0):,} | "
                   f"{first['num_params']:,} | {', '.join(map(str, seeds))} | "
                   f"{_spread(accuracies)} | {' / '.join(f'{a:.3f}' for a in accuracies)} | "
                   f"{_best_evaluation(first)} | {min(walls):.0f}-{max(walls):.0f} |")
    elif table == "charlm":
      bits = [r["final"]["bits_per_character"] for r in results]
      lines.append(f"| {label} | {command} | {first['num_params']:,} | {first['steps']:,} | "
                   f"{_spread(bits)} | {' / '.join(f'{b:.3f}' for b in bits)} | "
                   f"{min(walls) / 60:.1f}-{max(walls) / 60:.1f} |")
  return "\n".join(lines) + "\n"


def _knn_rows(workdir: str, timings) -> list:
  """The kNN table's rows: the local model's run, the kNN run's own final figure, then its
  parameters evaluated with each larger memory (`knn_sizes/evaluations.json`, written by
  `evaluate_memory_sizes`)."""
  path = os.path.join(workdir, "knn_sizes", "evaluations.json")
  evaluations = {int(k): v for k, v in json.load(open(path)).items()} if os.path.exists(
      path) else {}
  local = _result(workdir, "knn_sizes", "knn0", 0)
  trained = _result(workdir, "knn_sizes", f"knn{_KNN_TRAIN_SIZE}", 0)
  rows = []
  for size in _KNN_SIZES:
    if size == 0:
      if not local:
        continue
      source, bits = "`charlm_vanilla.py`", local["final"]["bits_per_character"]
    elif size == _KNN_TRAIN_SIZE:
      if not trained:
        continue
      source = (f"`charlm_memorizing_transformer.py`, trained with {_KNN_TRAIN_SIZE:,} "
                "(this run's final figure)")
      bits = trained["final"]["bits_per_character"]
    else:
      if size not in evaluations:
        continue
      source = f"`charlm_memorizing_transformer.py`, trained with {_KNN_TRAIN_SIZE:,}"
      bits = evaluations[size]
    timing = timings.get(size)
    timed = (f"{timing['ms_per_segment']:.2f} | {timing['us_per_token']:.1f} | "
             f"{timing['excess_us_per_token']:+.1f} us" if timing else "- | - | -")
    width = (trained or local)["config"]["model.d_model"]
    rows.append(f"| {size:,} | {source} | {2 * size * width + size:,} | {bits:.3f} | {timed} |")
  return rows


def evaluate_memory_sizes(run_dir: str, sizes) -> dict:
  """{memory size: validation bits/char} of the kNN run in `run_dir` (its newest checkpoint)
  evaluated with each memory size: the memory is carried state, not a parameter, so the
  same parameters read a larger memory as XL's read a longer cache."""
  from memjax.training import registry
  from memjax.training.loop import restore
  from memjax.training.workdir import load_config
  bits = {}
  for size in sizes:
    config = load_config(run_dir)
    config.model.memory_size = size
    family = registry.family_class(config).for_evaluation(config)
    params, _ = restore(family, run_dir, params_only=True)
    bits[size] = family.bits_per_character(params)["bits_per_character"]
    print(f"memory {size}: {bits[size]:.4f} bits/char", flush=True)
  return bits


def _best_evaluation(result) -> str:
  """The highest accuracy of the run's evaluations and its step (a run can fall back)."""
  history = [h for h in result.get("history", []) if "accuracy" in h]
  if not history:
    return "-"
  best = max(history, key=lambda h: h["accuracy"])
  return f"{best['accuracy']:.3f} ({best['step']})"


def time_knn_forward(sizes=_KNN_SIZES, batch: int = 16, qlen: int = 32, repeats: int = 20):
  """{size: ms per segment, us per token, excess over size 0} of the char-LM kNN model's
  jitted forward over one training segment with a full memory (size 0: the local model)."""
  import jax
  import jax.numpy as jnp
  from configs import charlm_memorizing_transformer
  from memjax.transformer.knn_memory import MemorizingTransformer, l2_normalise
  from memjax.transformer.model import TransformerXL

  fields = {k: v for k, v in charlm_memorizing_transformer.get_config().model.items()
            if k in ("d_model", "num_layers", "num_heads", "d_ff")}
  vocab = 65  # tiny Shakespeare's characters
  tokens = jax.random.randint(jax.random.PRNGKey(0), (batch, qlen), 0, vocab)
  timings = {}
  for size in sizes:
    if size == 0:
      model = TransformerXL(vocab_size=vocab, mem_len=0, clamp_len=-1, **fields)
    else:
      model = MemorizingTransformer(vocab_size=vocab, memory_size=size, clamp_len=-1, **fields)
    carry = model.initialize_carry(None, (batch, qlen))
    params = model.init(jax.random.PRNGKey(1), carry, tokens)
    if size:  # a full memory: every slot valid, random unit keys
      memory = carry.memory
      keys = l2_normalise(jax.random.normal(jax.random.PRNGKey(2), memory.keys.shape))
      values = jax.random.normal(jax.random.PRNGKey(3), memory.values.shape)
      carry = carry._replace(memory=memory._replace(keys=keys, values=values,
                                                    valid=jnp.ones_like(memory.valid)))
    forward = jax.jit(lambda p, c, t, m=model: m.apply(p, c, t)[1])
    forward(params, carry, tokens).block_until_ready()
    seconds = []
    for _ in range(repeats):
      start = time.perf_counter()
      forward(params, carry, tokens).block_until_ready()
      seconds.append(time.perf_counter() - start)
    ms = float(np.median(seconds)) * 1e3
    timings[size] = dict(ms_per_segment=ms, us_per_token=ms * 1e3 / (batch * qlen))
  for size, timing in timings.items():
    timing["excess_us_per_token"] = timing["us_per_token"] - timings[sizes[0]]["us_per_token"]
  return timings


def publish(table: str, text: str) -> None:
  """The table into docs/results.md between `<!-- newer-memories-<table>:start -->` and
  its end line."""
  try:
    replace_block(pathlib.Path(_DOCS), text.rstrip("\n"), f"newer-memories-{table}")
  except ValueError as error:
    raise SystemExit(str(error)) from None
  print(f"wrote the {table} table into {_DOCS}")


def main(argv):
  del argv
  table = FLAGS.table
  workdir = os.path.abspath(FLAGS.workdir)
  if not FLAGS.report_only:
    cell_runner.run_all(table_runs(table), os.path.join(workdir, table), FLAGS.parallel)
  timings = None
  if table == "knn_sizes":
    evaluations_path = os.path.join(workdir, table, "evaluations.json")
    if not FLAGS.report_only or not os.path.exists(evaluations_path):
      run_dir = os.path.join(workdir, table, f"knn{_KNN_TRAIN_SIZE}", "seed0")
      evaluations = evaluate_memory_sizes(  # the training size is the run's own final figure
          run_dir, [s for s in _KNN_SIZES if s not in (0, _KNN_TRAIN_SIZE)])
      with open(evaluations_path, "w") as f:
        json.dump(evaluations, f, indent=1)
    timings_path = os.path.join(workdir, table, "timings.json")
    if not FLAGS.report_only or not os.path.exists(timings_path):
      timings = time_knn_forward()
      with open(timings_path, "w") as f:
        json.dump(timings, f, indent=1)
    timings = {int(k): v for k, v in json.load(open(timings_path)).items()}
  text = report(table, workdir, timings)
  print(text)
  with open(os.path.join(workdir, table, "table.md"), "w") as f:
    f.write(text)
  if FLAGS.publish:
    publish(table, text)


if __name__ == "__main__":
  _define_flags()
  flags.mark_flags_as_required(["table", "workdir"])
  app.run(main)
