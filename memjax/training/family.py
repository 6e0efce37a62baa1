"""The family protocol: what the one training loop (`memjax.training.loop`) needs from a
model family, and helpers that families share.

A family is one kind of experiment (`config.experiment`): algorithmic tasks,
character-level language modelling, KB question answering, ... It owns what is
really its own: data, model, loss, metrics and evaluation. The loop owns the
rest, the same for every family: config checks, workdir, checkpoints and exact
resumption, the NaN/Inf policy, periodic logging, evaluation and stopping,
results.json. A new family is one module with one `Family` subclass and one
config (`examples/sequence_classification.py` is a complete one).

The state every family trains is a `TrainState` whose leaves lead with a seed
axis `[num_seeds, ...]`: `num_seeds = K` trains K independent models in one
program (`jax.vmap`), and the loop's NaN/Inf guard acts per seed.

    state = family.init_state()                              # placed on the mesh
    batch = family.batch(step)                               # host data of step s, a
                                                             # pure function of (seed, s)
    state, metrics = family.train_step(state, batch)         # pure; the loop jits it
    evaluation = family.evaluate(state, step, final=False)   # {name: number or [K]}
"""
import functools
import json
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax import parallel
from memjax.errors import check_int
from memjax.training import optim
from memjax.training.workdir import RESUMABLE_FIELDS, flatten_config, matches

# Read by the host loop only, never inside jitted code: the fields a relaunch may change but
# `parallel` (the jitted step reads the mesh). Families add their own (`Family.host_only`); the
# rest of the config keys the cache of compiled steps.
HOST_ONLY_FIELDS = tuple(field for field in RESUMABLE_FIELDS if field != "parallel")


class TrainState(NamedTuple):
  """Everything a run needs to continue bit for bit; leaves lead with `[num_seeds]`
  except `step`.

  Attributes:
    step: `[]` int32, loop steps done (updates, or epochs for memory networks); also
      the data pipeline's position.
    params: model parameters.
    opt_state: optimizer state (`()` for a family with its own update rule).
    carry: what a family carries from step to step besides parameters, e.g. the
      Transformer-XL memory of each training row (`()` if nothing).
    rng: `[num_seeds, 2]` uint32 PRNG keys; batches use `fold_in(rng, step)`.
    nonfinite_streak: `[num_seeds]` int32, consecutive skipped (NaN/Inf) steps.
    nonfinite_total: `[num_seeds]` int32, all skipped steps.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  carry: Any
  rng: jax.Array
  nonfinite_streak: jax.Array
  nonfinite_total: jax.Array


def new_state(params, opt_state, carry, rng, add_seed_axis: bool = False) -> TrainState:
  """A step-0 `TrainState` (counters zero) around per-seed `params`, `opt_state`, `carry`, `rng`
  (`add_seed_axis`: those of one seed, which gain a leading axis of 1)."""
  if add_seed_axis:
    params, opt_state, carry, rng = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[None],
                                                           (params, opt_state, carry, rng))
  zeros = lambda: jnp.zeros((rng.shape[0],), jnp.int32)  # distinct buffers: they are donated
  return TrainState(jnp.zeros((), jnp.int32), params, opt_state, carry, rng, zeros(), zeros())


class Family:
  """Base class of a model family. Subclasses set the class attributes and override the
  methods marked "Override".

  Class attributes:
    name: the `config.experiment` that runs it.
    step_unit: what one loop step is: "step" (one update) or "epoch".
    train_keys: `train.*` keys the family reads besides the loop's and the optimizer's.
    blocks: top-level config keys besides experiment, seed, num_seeds, train, parallel.
    resumable: config keys (or blocks) that may change when a workdir is relaunched.
    host_only: config keys the jitted step never reads (so equal families share compiled code).
    uses_optimizer: the step uses `optim.make_optimizer(config.train)` (checks its keys).
    max_seeds: the largest `num_seeds` the family supports (None: any).
  """
  name = ""
  step_unit = "step"
  train_keys: Tuple[str, ...] = ()
  blocks: Tuple[str, ...] = ()
  resumable: Tuple[str, ...] = ()
  host_only: Tuple[str, ...] = ()
  uses_optimizer = True
  max_seeds: Optional[int] = None

  # -- before any work ------------------------------------------------------------------------
  @classmethod
  def num_steps(cls, config: ml_collections.ConfigDict) -> int:
    """The run's length in loop steps (override where it is not `train.num_steps`)."""
    return check_int(config, "train.num_steps", 1)

  @classmethod
  def check_config(cls, config: ml_collections.ConfigDict) -> None:
    """Override: cheap checks of the family's own keys (no data read), raising ConfigError."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.check_config(config)  # also when built directly (tools, tests), not by the loop
    self.config = config
    self.seed = int(config.seed)
    self.num_seeds = int(config.get("num_seeds", 1))
    self.mesh = parallel.config_mesh(config)
    host_only = HOST_ONLY_FIELDS + tuple(self.host_only)
    if self.uses_optimizer and config.train.get("schedule", "constant") != "constant":
      host_only = tuple(k for k in host_only if k != "train.num_steps")  # the schedule reads it
    self._cache_key = json.dumps(
        [type(self).__name__, {k: v for k, v in flatten_config(config).items()
                               if not matches(k, host_only)}], sort_keys=True, default=str)

  # Families equal in everything the jitted step reads share compiled code (jit keys
  # on the static family), so a resumed or repeated run in one process compiles nothing.
  def __hash__(self):
    return hash(self._cache_key)

  def __eq__(self, other):
    return type(other) is type(self) and self._cache_key == other._cache_key

  @classmethod
  def for_evaluation(cls, config: ml_collections.ConfigDict) -> "Family":
    """The family of a saved run, for evaluation, plots and sampling (override to skip what
    only training needs)."""
    return cls(config)

  def state_template(self) -> TrainState:
    """A state of the right structure, shapes and dtypes (override with `jax.eval_shape` where
    initialising for real is slow)."""
    return self.init_state()

  # -- training -------------------------------------------------------------------------------
  def init_state(self) -> TrainState:
    """Override: the step-0 state on the mesh."""
    raise NotImplementedError

  def batch(self, step: int) -> Any:
    """Host-side data of step `step`, a pure function of (seed, step); `()` when the
    jitted step makes its own batch from `state.rng` and `state.step`."""
    return ()

  def train_step(self, state: TrainState, batch: Any) -> Tuple[TrainState, Dict[str, jax.Array]]:
    """Override: one step, traced under jit. Returns the new state (the loop sets its
    counters) and metrics, each `[num_seeds]`; `loss` is required, `grad_norm` optional
    (both enter the NaN/Inf test)."""
    raise NotImplementedError

  def log_line(self, metrics: Dict[str, np.ndarray]) -> str:
    """Override: the family's part of the progress line, from host metrics."""
    return f"loss {summary(metrics['loss'])}"

  # -- evaluation and stopping ----------------------------------------------------------------
  def evaluate(self, state: TrainState, step: int, final: bool) -> Dict[str, Any]:
    """Override: evaluation figures (numbers, `[num_seeds]` lists or tables); `final=True`
    at the end of a launch (may add test splits, generalisation tables, samples)."""
    raise NotImplementedError

  def headline(self, evaluation: Dict[str, Any]) -> str:
    """Override: the evaluation in one short line."""
    return ", ".join(f"{k} {v}" for k, v in evaluation.items())

  def warm_up(self, state: "TrainState") -> None:
    """Override to compile what the first evaluation will run (`jit(...).lower(...).compile()`
    fills JAX's cache for the later call). The loop calls it once, in a thread of its own,
    while it compiles the train step: on a first launch the two compilations share the
    machine's cores instead of taking turns. `state` is the state's shapes, dtypes and
    shardings (`jax.ShapeDtypeStruct` leaves). Errors are ignored: the evaluation then
    compiles when it runs, as without a warm-up."""

  def evaluate_now(self, step: int, metrics: Dict[str, jax.Array]) -> bool:
    """Override to evaluate off schedule (e.g. when a training batch looks solved)."""
    return False

  def after_evaluation(self, step: int, evaluation: Dict[str, Any],
                       seconds: float) -> Optional[str]:
    """Override: a stop reason once the evaluation meets a target, else None."""
    return None

  def stop_reason_at_start(self) -> Optional[str]:
    """Override: a stop reason for a relaunched run that already met its target."""
    return None

  def record(self) -> Dict[str, Any]:
    """Override: host values the family decides from (saved with each checkpoint)."""
    return {}

  def restore_record(self, record: Dict[str, Any]) -> None:
    """Override: take back `record()` as of the restored checkpoint."""

  def results(self, state: TrainState, final: Dict[str, Any]) -> Dict[str, Any]:
    """Override: the family's entries of results.json (what ran, summaries)."""
    return {}


# ---------------------------------------------------------------------------------------------
# Helpers for families.

def seed_keys(seed: int, num_seeds: int) -> jax.Array:
  """`[num_seeds, 2]` keys, one per seed."""
  return jax.random.split(jax.random.PRNGKey(seed), num_seeds)


def one_seed(tree: Any, index: int = 0) -> Any:
  """Seed `index`'s slice of a tree whose leaves lead with `[num_seeds]`."""
  return jax.tree_util.tree_map(lambda leaf: leaf[index], tree)


def over_seeds(function: Callable, num_seeds: int, in_axes: Sequence[Optional[int]], *args):
  """`jax.vmap(function)` over the seed axis (`in_axes[i]` = 0) of `args`; with one seed,
  a squeeze instead.

  XLA:CPU runs the batched matmuls that a size-1 vmap leaves about a third
  slower than plain ones, so a single seed skips the vmap.
  """
  if num_seeds > 1:
    return jax.vmap(function, in_axes=tuple(in_axes))(*args)
  squeezed = [arg if axis is None else one_seed(arg) for arg, axis in zip(args, in_axes)]
  return jax.tree_util.tree_map(lambda leaf: leaf[None], function(*squeezed))


def optimizer_step(optimizer: optax.GradientTransformation, loss_fn: Callable, params, opt_state,
                   *args):
  """One optax update of one seed's `params`.

  Args:
    loss_fn: `(params, *args) -> (loss, aux)`.

  Returns:
    `(params, opt_state, aux, metrics)` with metrics loss, grad_norm, param_norm, learning_rate.
  """
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *args)
  updates, new_opt_state = optimizer.update(grads, opt_state, params)
  metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params)}
  learning_rate = optim.current_learning_rate(opt_state)
  if learning_rate is not None:
    metrics["learning_rate"] = learning_rate
  return optax.apply_updates(params, updates), new_opt_state, aux, metrics


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init_seeds(init_one: Callable, optimizer, rngs):
  def one(rng):
    params = init_one(rng)
    return params, (optimizer.init(params) if optimizer is not None else ())
  return jax.vmap(one)(rngs)


def init_seeds(init_one: Callable, optimizer: Optional[optax.GradientTransformation],
               rngs: jax.Array):
  """`(params, opt_state)` with a leading seed axis: `init_one(rng) -> params` for each of
  `rngs` `[num_seeds, 2]`, and the optimizer's state of each (`()` without one).

  `init_one` should be hashable (a bound method of a family, or a module-level function),
  so that equal families share the compiled initialisation."""
  return _init_seeds(init_one, optimizer, rngs)


def summary(values) -> str:
  """One number, or the median and best of several seeds' values."""
  values = np.asarray(values, np.float64).reshape(-1)
  if values.size == 1:
    return f"{float(values[0]):.4f}"
  return f"median {float(np.median(values)):.4f} best {float(np.min(values)):.4f}"
