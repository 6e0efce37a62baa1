"""PNG pictures of what a memory core did: input vs output, head weightings and memory over time.

Uses matplotlib's Agg backend (no display needed).
"""
import pathlib
from typing import Any, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _heatmap(axis, values: np.ndarray, title: str, xlabel: str = "time step", ylabel: str = ""):
  image = axis.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis")
  axis.set_title(title, fontsize=9)
  axis.set_xlabel(xlabel, fontsize=8)
  axis.set_ylabel(ylabel, fontsize=8)
  plt.colorbar(image, ax=axis, fraction=0.03)


def plot_sequence_example(path: str, inputs: np.ndarray, targets: np.ndarray,
                          predictions: np.ndarray, mask: np.ndarray, title: str) -> str:
  """Inputs, targets and thresholded predictions of one example (`[time, width]` each)."""
  steps = int(np.max(np.nonzero(mask)[0])) + 1 if mask.any() else inputs.shape[0]
  figure, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
  _heatmap(axes[0], inputs[:steps].T, "input", ylabel="channel")
  _heatmap(axes[1], (targets * mask[:, None])[:steps].T, "target", ylabel="bit")
  _heatmap(axes[2], (predictions * mask[:, None])[:steps].T, "output (sigmoid > 0.5)", ylabel="bit")
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path


def plot_memory_trace(path: str, carries: Any, steps: int, title: str) -> List[str]:
  """Read/write weightings over time and the final memory, for cores whose carry has them.

  Args:
    path: PNG file to write.
    carries: one example's per-step carry (leaves `[time, ...]`) with any of
      `read_weights`/`write_weights` (`[time, heads, slots]`) and `memory`
      (`[time, slots, word]`) fields.
    steps: how many time steps to show.
  """
  panels: Dict[str, np.ndarray] = {}
  for field in ("write_weights", "read_weights"):
    weights = getattr(carries, field, None)
    if weights is None and hasattr(carries, "access"):
      weights = getattr(carries.access, field, None)
    if weights is not None:
      weights = np.asarray(weights)[:steps]
      for head in range(weights.shape[1]):
        panels[f"{field.replace('_', ' ')} (head {head})"] = weights[:, head].T
  memory = getattr(carries, "memory", None)
  if memory is None and hasattr(carries, "access"):
    memory = carries.access.memory
  if memory is not None:
    panels["memory after the last step"] = np.asarray(memory)[steps - 1].T
  if not panels:
    return []
  figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.3 * len(panels)))
  axes = np.atleast_1d(axes)
  for axis, (name, values) in zip(axes, panels.items()):
    is_memory = name.startswith("memory")
    _heatmap(axis, values, name, xlabel="memory slot" if is_memory else "time step",
             ylabel="word" if is_memory else "memory slot")
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return [path]


def ensure_dir(path: str) -> pathlib.Path:
  directory = pathlib.Path(path)
  directory.mkdir(parents=True, exist_ok=True)
  return directory


def render_run(workdir: str, length: int = 0, seed_index: int = 0) -> List[str]:
  """Writes PNGs of one example of an algorithmic run's newest checkpoint (input, target and
  output; head weightings and memory over time) to `<workdir>/plots`; returns their paths."""
  import jax
  import jax.numpy as jnp
  from memjax.errors import ConfigError
  from memjax.training.family import one_seed
  from memjax.training.loop import load_run
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
  out_dir = ensure_dir(str(pathlib.Path(workdir) / "plots"))
  name = f"{family.config.model.name} on {task.name}, length {length}, step {step}"
  steps = int(np.max(np.nonzero(mask)[0])) + 1 if mask.any() else inputs.shape[0]
  written = [plot_sequence_example(str(out_dir / "example.png"), inputs, targets,
                                         (example_logits > 0).astype(np.float32), mask, name)]
  written += plot_memory_trace(str(out_dir / "memory.png"), example_carries, steps, name)
  return written
