"""Where a run came from, and how to get its model back.

- `record()`: how a run was made, as results.json keeps it under `provenance`: the
  memjax version, the git commit of the checkout memjax was imported from (and whether
  tracked files had uncommitted changes), the Python, JAX, jaxlib, Flax, optax and NumPy
  versions, and the devices. results.json keeps the config beside it, under `config`
  (flat dotted keys, as config.json), and the command line under `launch` (`launch()`).
- `load(workdir, seed=0)` (also `memjax.load`): a trained run as a `LoadedRun`, its model
  (a flax module), one seed's parameters and the config, for a notebook:

      run = memjax.load("/tmp/copy_ntm")
      outputs = run.unroll(inputs)            # inputs [batch, time, features]
      outputs, carries = run.unroll(inputs, return_carries=True)
"""
import dataclasses
import functools
import os
import pathlib
import platform
import runpy
import subprocess
import sys
from typing import Any, Dict, Optional, Sequence

from memjax.errors import ConfigError

_FALLBACK_VERSION = "0.1.0"


def memjax_version() -> str:
  import memjax
  return str(getattr(memjax, "__version__", _FALLBACK_VERSION))


def _package_version(name: str) -> Optional[str]:
  try:
    module = __import__(name)
  except ImportError:
    return None
  return str(getattr(module, "__version__", None))


def _git(root: pathlib.Path, *args: str) -> Optional[str]:
  """`git <args>` in `root`, or None where git or the checkout is missing or slow."""
  try:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                            timeout=5, check=False)
  except (OSError, subprocess.SubprocessError):
    return None
  return result.stdout.strip() if result.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> Dict[str, Any]:
  """`{"commit": sha or None, "dirty": bool or None}` of the checkout holding this memjax.

  None for both when memjax was installed as a package rather than run from a checkout.
  `dirty` is true when tracked files differ from the commit (untracked files do not count).
  Cached: one process trains from one checkout, and git costs tens of milliseconds.
  """
  root = pathlib.Path(__file__).resolve().parent.parent
  top = _git(root, "rev-parse", "--show-toplevel")
  # Only a checkout of memjax itself: an installed copy inside some other repository
  # (a virtual environment in a project's tree) must not report that project's commit.
  if top is None or not (pathlib.Path(top) / "memjax" / "provenance.py").exists():
    return {"commit": None, "dirty": None}
  commit = _git(root, "rev-parse", "HEAD")
  status = _git(root, "status", "--porcelain", "--untracked-files=no")
  return {"commit": commit, "dirty": None if status is None else bool(status)}


def devices() -> Dict[str, Any]:
  """The devices the run saw: platform, kinds, counts."""
  import jax
  all_devices = jax.devices()
  return {"platform": all_devices[0].platform,
          "kinds": sorted({device.device_kind for device in all_devices}),
          "count": len(all_devices), "local_count": jax.local_device_count(),
          "process_count": jax.process_count()}


def record() -> Dict[str, Any]:
  """How this process makes a run: versions, commit, devices (the config is results.json's
  `config`; the command line its `launch`, which may differ between launches of one run).

  Returns:
    A JSON-ready dict, e.g. `{"memjax": "0.1.0", "git_commit": "1a2b...", "git_dirty":
    False, "python": "3.11.9", "jax": "0.10.2", ..., "devices": {"platform": "cpu",
    "kinds": ["cpu"], "count": 1, ...}}`.
  """
  git = git_state()
  return {
      "memjax": memjax_version(),
      "git_commit": git["commit"],
      "git_dirty": git["dirty"],
      "python": platform.python_version(),
      **{name: _package_version(name) for name in ("jax", "jaxlib", "flax", "optax", "numpy")},
      "host": platform.platform(),
      "devices": devices(),
  }


def launch() -> Dict[str, Any]:
  """This launch's command line and working directory: results.json keeps them under `launch`,
  beside the other things that differ between a straight run and a resumed one."""
  return {"command": list(sys.argv), "cwd": os.getcwd()}


# ---------------------------------------------------------------------------------------------
# Markdown for TensorBoard's Text tab.

def config_markdown(flat_config: Dict[str, Any]) -> str:
  """A two-column markdown table of a flat config (`{"model.memory_size": 128, ...}`)."""
  rows = [f"| `{key}` | `{value!r}` |" for key, value in sorted(flat_config.items())]
  return "\n".join(["| key | value |", "|---|---|"] + rows)


def generalization_markdown(table: Dict[str, Any]) -> str:
  """The algorithmic family's `{length: [per-seed bits error]}` as a markdown table,
  one row per seed."""
  lengths = sorted(table, key=int)
  num_seeds = len(table[lengths[0]]) if lengths else 0
  header = "| seed | " + " | ".join(f"length {length}" for length in lengths) + " |"
  rows = [f"| {seed} | " + " | ".join(f"{float(table[length][seed]):.3f}"
                                      for length in lengths) + " |"
          for seed in range(num_seeds)]
  return "\n".join([header, "|---" * (len(lengths) + 1) + "|"] + rows
                   + ["", "bits error per sequence at each length"])


# ---------------------------------------------------------------------------------------------
# Loading a trained run.

@dataclasses.dataclass(frozen=True)
class LoadedRun:
  """One seed of a trained run, ready to apply.

  Attributes:
    model: the flax module the family trained (a memory core for the algorithmic,
      char-LM/long-range (its `CoreLM`), graph and bAbI-recurrent families; the memory
      network or KB-QA model otherwise).
    params: that seed's parameters (the checkpoint's leaves lead with a seed axis
      `[num_seeds, ...]`; this is the slice `[seed]`).
    config: the run's config (a ConfigDict, from config.json).
    seed: which of the run's `num_seeds` models (0-based index; the run's keys are
      `jax.random.split(PRNGKey(config.seed), num_seeds)`).
    step: the checkpoint's step.
    workdir: the run's directory.
    finished: the run wrote results.json (else it was stopped or is still running).
    family: the `memjax.training.family.Family` rebuilt from the config (data, tasks,
      evaluation helpers).
  """
  model: Any
  params: Any
  config: Any
  seed: int
  step: int
  workdir: str
  finished: bool
  family: Any = dataclasses.field(repr=False)

  @property
  def variables(self) -> Dict[str, Any]:
    return {"params": self.params}

  def apply(self, *args, **kwargs):
    """`model.apply({"params": params}, *args, **kwargs)`; for a core, one step:
    `carry, outputs = run.apply(carry, inputs_t)` with `inputs_t: [batch, features]`."""
    return self.model.apply(self.variables, *args, **kwargs)

  def initial_carry(self, batch_size: int, rng=None):
    """A core's initial carry for `batch_size` rows (leaves lead with `[batch_size]`)."""
    import jax

    from memjax.cores.base import initial_carry
    self._need_core("initial_carry")
    rng = jax.random.PRNGKey(0) if rng is None else rng
    return initial_carry(self.model, self.variables, rng,
                         (batch_size, self._input_size()))

  def unroll(self, inputs, carry=None, return_carries: bool = False):
    """Runs a core over `inputs` `[batch, time, features]` (`lax.scan`).

    Returns:
      `outputs` `[batch, time, output_size]` (logits), or `(outputs, carries)` with
      `return_carries`, carries' leaves `[batch, time, ...]` (what visualize.py draws).
    """
    import jax.numpy as jnp

    from memjax.cores.unroll import dynamic_unroll
    self._need_core("unroll")
    inputs = jnp.asarray(inputs, jnp.float32)
    if inputs.ndim != 3 or inputs.shape[-1] != self._input_size():
      raise ValueError(f"LoadedRun.unroll: inputs must be [batch, time, {self._input_size()}], "
                       f"got shape {tuple(inputs.shape)}")
    if carry is None:
      carry = self.initial_carry(inputs.shape[0])
    result = dynamic_unroll(functools.partial(self.model.apply, self.variables), inputs, carry,
                            return_carries=return_carries)
    return (result[0], result[2]) if return_carries else result[0]

  def _need_core(self, what: str) -> None:
    from memjax.cores.base import MemoryCore
    if not isinstance(self.model, MemoryCore):
      raise TypeError(f"LoadedRun.{what}: the {self.config.get('experiment')!r} run's model "
                      f"({type(self.model).__name__}) is not a memory core; use run.apply")

  def _input_size(self) -> int:
    task = getattr(self.family, "task", None)
    size = getattr(task, "input_size", None)
    if size is None:
      size = getattr(self.family, "input_size", None) or getattr(self.family, "vocab_size", None)
    if size is None:
      raise TypeError("LoadedRun: cannot tell this family's input width; call run.apply with "
                      "inputs of your own")
    return int(size)


def _model_of(family) -> Any:
  for name in ("core", "model", "module", "lm"):
    model = getattr(family, name, None)
    if model is not None:
      return model
  raise ConfigError(f"memjax.load: family {type(family).__name__} has no model attribute "
                    "(core, model, module or lm)")


def load(workdir: str, seed: int = 0, imports: Sequence[str] = ()) -> LoadedRun:
  """A trained run's model, seed `seed`'s parameters of its newest checkpoint, and config.

  Works while the run is still going (the newest checkpoint) and after it finished.
  A run of a core registered from a file of your own needs that file run first: pass it
  in `imports` (as the launchers' `--import`), or import it yourself; the error names it.

  Raises:
    ConfigError, one line, for a workdir that is missing, not a memjax run, or has no
    checkpoint yet, and for a seed the run did not train.
  """
  from memjax.training.family import one_seed
  from memjax.training.loop import load_run
  from memjax.training.workdir import load_config

  for file in ([imports] if isinstance(imports, str) else imports):
    if not os.path.isfile(file):
      raise ConfigError(f"memjax.load: imports: {file}: no such file")
    runpy.run_path(str(file), run_name="memjax_user_module")
  path = pathlib.Path(workdir)
  if not path.is_dir():
    raise ConfigError(f"memjax.load: {workdir} is not a directory")
  if not (path / "config.json").exists():
    raise ConfigError(f"memjax.load: {workdir} holds no config.json, so it is not a memjax "
                      "run's workdir (the --workdir given to experiments/train.py)")
  if not any(step.name.isdigit() for step in (path / "checkpoints").glob("*")):
    raise ConfigError(f"memjax.load: {workdir} holds no checkpoint yet: the run has not "
                      "reached its first save (train.checkpoint_every, or the end of the run)")
  config = load_config(workdir)
  num_seeds = int(config.get("num_seeds", 1))
  if not 0 <= seed < num_seeds:
    raise ConfigError(f"memjax.load: seed={seed}, but the run in {workdir} trained "
                      f"{num_seeds} seed(s): use 0..{num_seeds - 1}")
  experiment = config.get("experiment", "algorithmic")
  # The first seed alone comes from a parameters-only restore (which also reads checkpoints
  # whose optimizer state has another structure); another seed needs the whole state.
  # Orbax warns through absl about the read-only checkpoint manager a restore opens: noise in
  # a notebook, where nothing else lowered absl's verbosity as the launchers do.
  from absl import logging as absl_logging
  verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    family, state, step = load_run(workdir, experiment, params_only=seed == 0)
  except ConfigError as error:  # the launchers' wording (--import=FILE) becomes load's own
    message = str(error).replace("pass --import=", "pass imports=[...] with ")
    raise ConfigError(f"memjax.load: {message}") from None
  finally:
    absl_logging.set_verbosity(verbosity)
  params = state if seed == 0 else one_seed(state.params, seed)
  return LoadedRun(model=_model_of(family), params=params, config=config, seed=seed,
                   step=int(step), workdir=str(workdir),
                   finished=(path / "results.json").exists(), family=family)
