"""PNG pictures of what a memory core did, and of how its run trained (matplotlib, Agg backend:
no display needed).

`render_run(workdir)` (what `experiments/visualize.py` calls) runs one example of an
algorithmic run's newest checkpoint and writes, under `<workdir>/plots/`, with the seed in
each file name and title:

- `example_seed<k>.png`: input, target and the predicted probabilities of one sequence.
  0/1 data is drawn in two discrete colours; wrong output bits (probability on the wrong
  side of 0.5) are marked with a red cross.
- `memory_seed<k>.png`: the core's state over time, by the plotting contract below.
- `loss.png`: the run's training loss (and evaluation figures) against the step, every seed.

It also adds them to the run's TensorBoard events (Images tab).

The plotting contract: what `memory_seed<k>.png` draws of a core's carry. `carries` is one
example's carry at every step, each leaf `[time, ...]` (the batch axis taken off).

1. A core with a method `memory_view(self, carries) -> {title: View}` draws its own state:
   each `View(values, xlabel, ylabel)` is one panel, `values` a 2-D array `[rows, columns]`
   drawn with rows on the y axis. It is called on the unbound module (no parameters).
2. Otherwise these carry fields are drawn, found at the top of the carry or under `.access`
   (the NTM's `NTMState`, the DNC's `DNCState.access`):

   - `write_weights`, `read_weights`: `[time, heads, slots]`, each head's weighting over
     time, one panel per head (memory slot x time step);
   - `memory`: `[time, slots, word]`, the memory after the last step shown
     (memory slot x word element).

   Only slots some head weighted above `USED_WEIGHT` at some step are drawn (`all_slots`:
   every slot), each with its own number on the axis.
3. A carry with none of these fields (an LSTM's) gets no memory picture; one with a field
   of another shape is refused with one line that names the field, its shape and this
   contract, before anything is drawn.

Colour maps: 0/1 data in two discrete colours; values of both signs in a diverging map
centred at 0 (`RdBu_r`, limits +-max|v|); non-negative values in `viridis` from 0.
"""
import json
import pathlib
import re
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from memjax.errors import ConfigError  # noqa: E402

# A slot counts as used when some head gave it at least this weight at some step shown.
USED_WEIGHT = 1e-2
_BINARY_COLOURS = ListedColormap(["#f2f2f2", "#1f3b73"])  # 0: light grey, 1: dark blue
_MAX_TICKS = 16


class View(NamedTuple):
  """One panel of a core's state.

  Attributes:
    values: `[rows, columns]`, drawn with rows on the y axis.
    xlabel: what a column is (e.g. "time step", "key dimension").
    ylabel: what a row is (e.g. "memory slot", "value dimension").
    row_labels: the number of each row when rows were picked out (e.g. the slots used);
      None: 0, 1, 2, ...
  """
  values: np.ndarray
  xlabel: str
  ylabel: str
  row_labels: Optional[Sequence[int]] = None


class PlotContractError(ConfigError):
  """A core's carry does not fit the plotting contract (module docstring)."""


# ---------------------------------------------------------------------------------------------
# Drawing one panel.

def _is_binary(values: np.ndarray) -> bool:
  return values.size > 0 and bool(np.all((values == 0) | (values == 1)))


def _tick_step(count: int) -> int:
  """1, 2, 5, 10, 20, 50, ...: the smallest that leaves at most _MAX_TICKS ticks."""
  step = 1
  while count > step * _MAX_TICKS:
    step = step * 5 // 2 if str(step)[0] == "2" else step * 2
  return step


def draw(axis, view: View, title: str, colorbar: bool = True, limits=None):
  """Draws `view` on `axis`: the colour map by the data (0/1, signed, non-negative), integer
  ticks, row labels when rows were picked out. NaN entries (e.g. unscored steps) stay blank.

  Args:
    limits: `(low, high)` of a sequential colour map (e.g. `(0, 1)` for probabilities);
      None: by the data.
  """
  values = np.asarray(view.values, np.float32)
  if values.ndim != 2:
    raise PlotContractError(f"panel {title!r}: values must be 2-D [rows, columns], got shape "
                            f"{values.shape}")
  finite = values[np.isfinite(values)]
  if limits is not None:
    options = dict(cmap="viridis", vmin=limits[0], vmax=limits[1])
  elif _is_binary(finite):
    options = dict(cmap=_BINARY_COLOURS, vmin=0, vmax=1)
  elif finite.size and finite.min() < 0:
    limit = float(np.max(np.abs(finite))) or 1.0
    options = dict(cmap="RdBu_r", vmin=-limit, vmax=limit)  # white is 0
  else:
    options = dict(cmap="viridis", vmin=0.0, vmax=float(finite.max()) if finite.size else 1.0)
  image = axis.imshow(np.ma.masked_invalid(values), aspect="auto", interpolation="nearest",
                      origin="upper", **options)
  axis.set_facecolor("white")  # where values are NaN
  axis.set_title(title, fontsize=9)
  axis.set_xlabel(view.xlabel, fontsize=8)
  axis.set_ylabel(view.ylabel, fontsize=8)
  # Rows and columns are channels, bits, slots, steps: whole numbers, one tick per cell
  # up to _MAX_TICKS, then every 2nd, 5th, 10th, ...
  columns = np.arange(values.shape[1])
  axis.set_xticks(columns[::_tick_step(len(columns))])
  rows = np.arange(values.shape[0])
  labels = rows if view.row_labels is None else np.asarray(view.row_labels)
  axis.set_yticks(rows[::_tick_step(len(rows))])
  axis.set_yticklabels([str(int(label)) for label in labels[::_tick_step(len(rows))]])
  axis.tick_params(labelsize=7)
  if colorbar:
    bar = plt.colorbar(image, ax=axis, fraction=0.03)
    if options["cmap"] is _BINARY_COLOURS:
      bar.set_ticks([0.25, 0.75])
      bar.set_ticklabels(["0", "1"])
    bar.ax.tick_params(labelsize=7)
  return image


def _save(figure, path: str, title: str) -> str:
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path


# ---------------------------------------------------------------------------------------------
# One example: input, target, output.

def wrong_bits(targets: np.ndarray, probabilities: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """`[time, bits]` bool: scored bits whose probability is on the wrong side of 0.5."""
  return ((probabilities > 0.5) != (targets > 0.5)) & (mask[:, None] > 0)


def plot_sequence_example(path: str, inputs: np.ndarray, targets: np.ndarray,
                          probabilities: np.ndarray, mask: np.ndarray, title: str) -> str:
  """Input, target and predicted probabilities of one example, wrong bits marked.

  Args:
    inputs: `[time, input_size]`.
    targets: `[time, output_size]`, 0/1.
    probabilities: `[time, output_size]`, sigmoid of the logits.
    mask: `[time]`, 1 where the output is scored.
  """
  steps = int(np.max(np.nonzero(mask)[0])) + 1 if mask.any() else inputs.shape[0]
  wrong = wrong_bits(targets, probabilities, mask)[:steps]
  figure, axes = plt.subplots(3, 1, figsize=(8, 6.5), sharex=True)
  draw(axes[0], View(inputs[:steps].T, "time step", "input channel"), "input")
  unscored = np.where(mask[:steps, None] > 0, 0.0, np.nan)  # blank where nothing is scored
  draw(axes[1], View((targets[:steps] + unscored).T, "time step", "output bit"),
       "target (blank: steps not scored)")
  draw(axes[2], View((probabilities[:steps] + unscored).T, "time step", "output bit"),
       f"predicted probability; {int(wrong.sum())} wrong bit(s) marked x", limits=(0.0, 1.0))
  time_index, bit_index = np.nonzero(wrong)
  axes[2].scatter(time_index, bit_index, marker="x", color="red", s=28, linewidths=1.5)
  return _save(figure, path, title)


# ---------------------------------------------------------------------------------------------
# The core's state: the plotting contract.

def _field(carries: Any, name: str):
  value = getattr(carries, name, None)
  if value is None and hasattr(carries, "access"):
    value = getattr(carries.access, name, None)
  return value


def _contract_error(core_name: str, field: str, shape, expected: str) -> PlotContractError:
  return PlotContractError(
      f"core {core_name}: carry field {field!r} has shape {tuple(shape)} per example; "
      f"visualize.py draws {field} as {expected} (the plotting contract in memjax/plots.py); "
      f"rename the field or give the core a memory_view(carries) method "
      f"(docs/writing_a_core.md)")


def default_memory_view(carries: Any, core_name: str = "core",
                        all_slots: bool = False) -> Dict[str, View]:
  """Panels of the contract's fields (module docstring, rule 2); `{}` when there are none.

  Raises:
    PlotContractError naming a field whose shape does not fit.
  """
  weights = {}
  for field in ("write_weights", "read_weights"):
    value = _field(carries, field)
    if value is None:
      continue
    value = np.asarray(value)
    if value.ndim != 3:
      raise _contract_error(core_name, field, value.shape, "[time, heads, slots]")
    weights[field] = value
  memory = _field(carries, "memory")
  if memory is not None:
    memory = np.asarray(memory)
    if memory.ndim != 3:
      raise _contract_error(core_name, "memory", memory.shape, "[time, slots, word]")
  slot_counts = {value.shape[-1] for value in weights.values()}
  if memory is not None:
    slot_counts.add(memory.shape[1])
  if len(slot_counts) > 1:
    raise PlotContractError(f"core {core_name}: the carry's weightings and memory disagree on "
                            f"the number of slots ({sorted(slot_counts)}); the plotting contract "
                            f"(memjax/plots.py) needs [time, heads, slots] and [time, slots, word]")
  if not weights and memory is None:
    return {}
  num_slots = slot_counts.pop()
  slots = np.arange(num_slots)
  if weights and not all_slots:
    peak = np.max(np.stack([np.max(value, axis=(0, 1)) for value in weights.values()]), axis=0)
    if np.any(peak >= USED_WEIGHT):
      slots = np.nonzero(peak >= USED_WEIGHT)[0]
  shown = "" if len(slots) == num_slots else f", {len(slots)} of {num_slots} slots used"
  panels = {}
  for field, value in weights.items():
    for head in range(value.shape[1]):
      panels[f"{field.replace('_', ' ')} (head {head}){shown}"] = View(
          value[:, head, slots].T, "time step", "memory slot", slots)
  if memory is not None:
    panels[f"memory after the last step{shown}"] = View(memory[-1][slots], "word element",
                                                        "memory slot", slots)
  return panels


def memory_views(core: Any, carries: Any, all_slots: bool = False) -> Dict[str, View]:
  """The panels of `core`'s state: its own `memory_view(carries)`, else the contract's fields."""
  core_name = type(core).__name__
  own = getattr(core, "memory_view", None)
  if own is None:
    return default_memory_view(carries, core_name, all_slots)
  try:
    panels = own(carries)
  except Exception as error:  # the user's code: name it, keep the cause
    raise PlotContractError(f"core {core_name}: memory_view(carries) raised "
                            f"{type(error).__name__}: {error}") from error
  if not isinstance(panels, dict):
    raise PlotContractError(f"core {core_name}: memory_view(carries) returned a "
                            f"{type(panels).__name__}; it returns {{title: View(values, xlabel, "
                            f"ylabel)}} (memjax.plots.View)")
  views = {}
  for title, view in panels.items():
    view = View(*view) if not isinstance(view, View) else view
    shape = np.shape(view.values)
    if len(shape) != 2:
      raise PlotContractError(f"core {core_name}: memory_view panel {title!r} has values of "
                              f"shape {shape}; each panel is 2-D [rows, columns]")
    views[str(title)] = view
  return views


def plot_memory_views(path: str, views: Dict[str, View], title: str) -> List[str]:
  """One figure with a panel per view; `[]` (nothing written) when there are none."""
  if not views:
    return []
  figure, axes = plt.subplots(len(views), 1, figsize=(8, 2.4 * len(views)))
  for axis, (name, view) in zip(np.atleast_1d(axes), views.items()):
    draw(axis, view, name)
  return [_save(figure, path, title)]


def plot_memory_trace(path: str, carries: Any, steps: int, title: str,
                      all_slots: bool = False) -> List[str]:
  """The contract's fields of `carries` (leaves `[time, ...]`) over the first `steps` steps."""
  import jax
  carries = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[:steps], carries)
  return plot_memory_views(path, default_memory_view(carries, all_slots=all_slots), title)


# ---------------------------------------------------------------------------------------------
# The run's training curves, from log.txt.

_LOG_LINE = re.compile(r"^\S+ \S+ step (\d+) (\{.*\})\s*$")


def read_logged_scalars(workdir: str) -> Dict[str, Dict[int, np.ndarray]]:
  """`{name: {step: per-seed values}}` from `<workdir>/log.txt` (the loop's TensorBoard
  scalars, also logged there); for a step logged twice (a resumed run), the last entry."""
  path = pathlib.Path(workdir) / "log.txt"
  scalars: Dict[str, Dict[int, np.ndarray]] = {}
  if not path.exists():
    return scalars
  for line in path.read_text().splitlines():
    match = _LOG_LINE.match(line)
    if not match:
      continue
    try:
      values = json.loads(match.group(2))
    except ValueError:
      continue
    for name, value in values.items():
      array = _numbers(value)
      if array is not None:
        scalars.setdefault(name, {})[int(match.group(1))] = array
  return scalars


def _numbers(value: Any) -> Optional[np.ndarray]:
  """A number or a list of numbers (one per seed) as a float array `[seeds]`, else None."""
  if isinstance(value, (dict, str, bool)) or value is None:
    return None
  try:
    array = np.asarray(value, np.float64)
  except (TypeError, ValueError):
    return None
  return array.reshape(-1) if array.ndim <= 1 and array.size else None


def _evaluation_history(workdir: str) -> Dict[str, Dict[int, np.ndarray]]:
  """`{name: {step: per-seed values}}` of results.json's evaluation history (it has the final
  evaluation, which log.txt lacks), numbers and per-seed lists only."""
  path = pathlib.Path(workdir) / "results.json"
  series: Dict[str, Dict[int, np.ndarray]] = {}
  try:
    history = json.loads(path.read_text()).get("history", []) if path.exists() else []
  except ValueError:
    return series
  for entry in history:
    for name, value in entry.items():
      array = None if name == "step" else _numbers(value)
      if array is not None:
        series.setdefault(f"eval/{name}", {})[int(entry["step"])] = array
  return series


def plot_loss_curve(path: str, workdir: str, title: str) -> List[str]:
  """Training loss against the step, each seed a line, and beneath it up to three evaluation
  figures (results.json's history, else log.txt's `eval/...`); `[]` when no loss was logged."""
  scalars = read_logged_scalars(workdir)
  if "loss" not in scalars:
    return []
  evaluations = _evaluation_history(workdir) or {
      name: values for name, values in scalars.items() if name.startswith("eval/")}
  names = ["loss"] + sorted(evaluations)[:3]
  scalars.update(evaluations)
  figure, axes = plt.subplots(len(names), 1, figsize=(8, 2.6 * len(names)), sharex=True)
  axes = np.atleast_1d(axes)
  for axis, name in zip(axes, names):
    steps = sorted(scalars[name])
    width = max(len(scalars[name][step]) for step in steps)
    values = np.stack([np.resize(scalars[name][step], width) for step in steps])  # [steps, seeds]
    for seed in range(values.shape[1]):
      axis.plot(steps, values[:, seed], marker="." if len(steps) < 30 else None,
                label=f"seed {seed}")
    # A log scale only where the loss spans more than a decade (else its labels are clutter).
    if name == "loss" and np.all(values > 0) and values.max() > 10 * values.min():
      axis.set_yscale("log")
    axis.set_ylabel("training loss" if name == "loss" else name, fontsize=8)
    axis.grid(alpha=0.3)
    axis.tick_params(labelsize=7)
    if values.shape[1] > 1:
      axis.legend(fontsize=7)
  axes[-1].set_xlabel("step", fontsize=8)
  axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
  return [_save(figure, path, title)]


# ---------------------------------------------------------------------------------------------
# A run.

def ensure_dir(path: str) -> pathlib.Path:
  directory = pathlib.Path(path)
  directory.mkdir(parents=True, exist_ok=True)
  return directory


def render_run(workdir: str, length: int = 0, seed_index: int = 0, all_slots: bool = False,
               tensorboard: bool = True) -> List[str]:
  """Writes the PNGs of the module docstring for seed `seed_index` of an algorithmic run's
  newest checkpoint to `<workdir>/plots` (and TensorBoard); returns their paths.

  Args:
    workdir: the run's workdir.
    length: the example's sequence length (0: the task's max_length).
    seed_index: which of the run's `num_seeds` models.
    all_slots: draw every memory slot, not only those used.
    tensorboard: also add the pictures to `<workdir>/tensorboard`.

  Raises:
    ConfigError (one line) for another experiment, an unknown seed, or a carry that does
    not fit the plotting contract.
  """
  import jax
  import jax.numpy as jnp
  from memjax.training.family import one_seed
  from memjax.training.loop import load_run
  from memjax.training.metrics import MetricWriter
  family, state, step = load_run(workdir, "algorithmic", hint=(
      "; plots draw the algorithmic tasks (copy, repeat copy, recall, sort); sample a char-LM "
      "with experiments/sample.py"))
  if not 0 <= seed_index < family.num_seeds:
    raise ConfigError(f"--seed_index={seed_index}, but the run in --workdir={workdir} trained "
                      f"{family.num_seeds} seed(s): use 0..{family.num_seeds - 1}")
  task = family.task
  length = length or task.max_length
  params = one_seed(state.params, seed_index)
  data_rng, carry_rng = jax.random.split(jax.random.PRNGKey(1234))
  batch = task.build(data_rng, jnp.full((1,), length, jnp.int32), max(length, task.max_length))
  logits, _, carries = family.logits(params, batch, carry_rng, return_carries=True)
  example = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[0]), (batch, logits, carries))
  (inputs, targets, mask, _), example_logits, example_carries = example
  steps = int(np.max(np.nonzero(mask)[0])) + 1 if mask.any() else inputs.shape[0]
  example_carries = jax.tree_util.tree_map(lambda leaf: leaf[:steps], example_carries)
  # The contract first: a carry that does not fit is one line, before any file is written.
  views = memory_views(family.core, example_carries, all_slots)
  out_dir = ensure_dir(str(pathlib.Path(workdir) / "plots"))
  config = family.config
  seed_text = (f"seed {seed_index}" + (f" of {family.num_seeds}" if family.num_seeds > 1 else "")
               + (f" (config.seed={family.seed})" if family.seed else ""))
  name = (f"{config.model.name} on {task.name}, length {length}, step {step}, {seed_text}")
  probabilities = 1.0 / (1.0 + np.exp(-example_logits.astype(np.float64)))
  written = [plot_sequence_example(str(out_dir / f"example_seed{seed_index}.png"), inputs,
                                   targets, probabilities, mask, name)]
  written += plot_memory_views(str(out_dir / f"memory_seed{seed_index}.png"), views, name)
  written += plot_loss_curve(str(out_dir / "loss.png"), workdir,
                             f"{config.model.name} on {task.name}: training curves")
  if tensorboard:
    writer = MetricWriter(workdir, enabled=jax.process_index() == 0)
    for path in written:
      writer.write_image(f"plots/{pathlib.Path(path).stem}", path, step)
    writer.close()
  return written
