"""Knowledge-graph results tables (KB-QA, the DNC paper's graph tasks) from runs' `results.json`.

    python benchmarks/kbqa_results.py --workdirs=/tmp/kbqa_kv,/tmp/kbqa_lstm,/tmp/gt_ntm \
        [--output=/tmp/kbqa_tables.md]

The tables go to stdout (and to `--output`). Maintainers regenerate the project's published
tables with `--publish`, which replaces the text between the `<!-- kbqa-results:start -->` and
`<!-- kbqa-results:end -->` lines of docs/results.md (or of `--results_md`), leaving the rest
alone; nothing else is written unless asked.

Each workdir is one run of `experiments/train.py` with `config.experiment="kbqa"`:
KB-QA runs (task synthetic_kbqa) give a row of test hits@1 per hop count (and
on the held-out-entity split); graph-task runs (any model: NTM, DNC, LSTM, the
key-value memory) give accuracy (questions answered exactly) beside the DNC
paper's figure, then one row per run with its steps, time and number of fresh
test graphs. Times are the runs' own wall
clock, on whatever machine produced them.
"""
import json
import pathlib
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from benchmarks.babi_results import replace_block  # noqa: E402

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Run directories holding results.json.")
_OUTPUT = flags.DEFINE_string("output", None, "Write the markdown here (default: stdout only).")
_PUBLISH = flags.DEFINE_bool("publish", False, "Maintainers: replace the generated section of "
                             "--results_md with the tables (the project's published results).")
_RESULTS_MD = flags.DEFINE_string(
    "results_md", str(pathlib.Path(__file__).resolve().parent.parent / "docs" / "results.md"),
    "The published results file that --publish rewrites.")

_BLOCK = "kbqa-results"  # docs/results.md's <!-- kbqa-results:start --> ... :end --> block

# Also the column order of the graph-task table.
_MODEL_NAMES = {"kv_memory": "Key-value memory", "dnc": "DNC", "ntm": "NTM",
                "lstm": "LSTM (no memory)", "gru": "GRU"}
_TASK_NAMES = {"graph_traversal": "Traversal", "graph_shortest_path": "Shortest path",
               "graph_inference": "Inference (family trees)"}


def _time(run):
  minutes = f"{run['wall_seconds'] / 60:.1f} min"
  resumed = run.get("launch", {}).get("resumed_from_step", run.get("resumed_from_step"))
  if resumed is not None:
    minutes += f" (last launch only, resumed at step {resumed})"
  return minutes


def _percent(value):
  return "-" if value is None else f"{100 * value:.1f}%"


def load(workdir: str) -> dict:
  path = pathlib.Path(workdir) / "results.json"
  if not path.exists():
    raise FileNotFoundError(f"--workdirs entry {workdir}: no results.json (has the run finished?)")
  results = json.loads(path.read_text())
  results["workdir"] = workdir
  return results


def kbqa_table(runs) -> str:
  lines = ["| Model | 1-hop | 2-hop | 3-hop | all | held-out entities (all) | graph | steps | time |",
           "|---|---|---|---|---|---|---|---|---|"]
  for run in runs:
    final = run["final"]
    cells = [_percent(final.get(f"test_hits1_hop{h}")) for h in ("1", "2", "3", "all")]
    lines.append(f"| {_MODEL_NAMES.get(run['model'], run['model'])} | " + " | ".join(cells)
                 + f" | {_percent(final.get('test_heldout_hits1_hopall'))} | "
                 f"{run['num_triples']:,} triples | {run['steps']} | {_time(run)} |")
  return "\n".join(lines)


def _model_order(model):
  order = list(_MODEL_NAMES)
  return (order.index(model) if model in order else len(order), model)


def graph_table(runs) -> str:
  """Accuracy per task (rows) and model (columns), the DNC paper's figure first."""
  tasks = sorted({r["task"] for r in runs}, key=list(_TASK_NAMES).index)
  models = sorted({r["model"] for r in runs}, key=_model_order)
  header = "| Task | DNC paper | " + " | ".join(_MODEL_NAMES.get(m, m) for m in models) + " |"
  lines = [header, "|---|---|" + "---|" * len(models)]
  by_key = {(r["task"], r["model"]): r for r in runs}
  for task in tasks:
    paper = next(r["paper_accuracy"] for r in runs if r["task"] == task)
    cells = []
    for model in models:
      run = by_key.get((task, model))
      cells.append("-" if run is None else _percent(run["final"]["question_accuracy"]))
    lines.append(f"| {_TASK_NAMES[task]} | {_percent(paper)} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _eval_graphs(run):
  config = pathlib.Path(run["workdir"]) / "config.json"
  if not config.exists():
    return "-"
  return f"{json.loads(config.read_text()).get('train.eval_batch_size', '-'):,}"


def graph_runs_table(runs) -> str:
  """One row per graph-task run: training steps, wall time, fresh graphs evaluated."""
  lines = ["| Task | Model | questions answered exactly | answer steps right | steps | time "
           "| fresh test graphs |", "|---|---|---|---|---|---|---|"]
  tasks = list(_TASK_NAMES)
  for run in sorted(runs, key=lambda r: (tasks.index(r["task"]), _model_order(r["model"]))):
    final = run["final"]
    lines.append(f"| {_TASK_NAMES[run['task']]} | {_MODEL_NAMES.get(run['model'], run['model'])} "
                 f"| {_percent(final['question_accuracy'])} "
                 f"| {_percent(final.get('answer_step_accuracy'))} | {run['steps']} "
                 f"| {_time(run)} | {_eval_graphs(run)} |")
  return "\n".join(lines)


def build(workdirs) -> str:
  runs = [load(w) for w in workdirs]
  kbqa = [r for r in runs if r.get("task") == "synthetic_kbqa"]
  graphs = [r for r in runs if r.get("task") in _TASK_NAMES]
  parts = []
  if kbqa:
    parts += ["#### KB question answering (synthetic film graph), test hits@1", "",
              kbqa_table(kbqa), ""]
  if graphs:
    parts += ["#### DNC graph tasks, fraction of questions answered exactly", "",
              graph_table(graphs), "",
              "DNC paper figures are on its own graphs (London Underground, family trees); "
              "memjax's are on the smaller random graphs of `memjax.knowledge.graph_tasks`, "
              "each scored on fresh graphs never seen in training.", "",
              graph_runs_table(graphs), ""]
  return "\n".join(parts)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _WORKDIRS.value:
    sys.exit("error: --workdirs is required (comma-separated run directories)")
  try:
    table = build(_WORKDIRS.value)
  except FileNotFoundError as error:
    sys.exit(f"error: {error}")
  print(table)
  if _OUTPUT.value:
    pathlib.Path(_OUTPUT.value).write_text(table + "\n")
  if _PUBLISH.value:
    published = pathlib.Path(_RESULTS_MD.value)
    try:
      replace_block(published, table, _BLOCK)
    except (ValueError, FileNotFoundError) as error:
      sys.exit(f"error: --publish to {published}: {error}")


if __name__ == "__main__":
  app.run(main)
