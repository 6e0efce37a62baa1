"""Training loop for memory cores on the algorithmic tasks.

    train_and_evaluate(config, workdir)

One jitted step samples its own batch from the task generator (data is a pure
function of `(seed, step)`, so a resumed run sees exactly the batches an
uninterrupted one would), computes a masked sigmoid cross-entropy, clips by
global norm and updates with optax. `config.num_seeds = K` trains K
independent models in the same compiled program by `jax.vmap` over parameters,
optimizer states and PRNG keys. A step whose loss or gradient norm is NaN/Inf
leaves that seed's parameters untouched and is counted.
"""
import copy
import functools
import json
import pathlib
import time
from typing import Any, Dict, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from memjax.cores import build_core, check_core, dynamic_unroll
from memjax.cores.registry import core_source
from memjax.tasks import AlgorithmicTask, SequenceBatch, bits_error_per_sequence, build_task
from memjax.training import checkpoint as checkpoint_lib
from memjax.training import metrics as metrics_lib
from memjax.training import optim
from memjax.training import parallel
from memjax.training import progress
from memjax.training.errors import ConfigError, positive_int

# Fields that may change between a run and its resumption (they do not change the
# maths; `parallel`: a run saved on 8 devices resumes on 4, checkpoints are resharded).
_RESUMABLE_FIELDS = ("train.num_steps", "train.log_every", "train.eval_every",
                     "train.checkpoint_every", "train.keep_checkpoints", "train.target_error",
                     "train.stop_when", "train.eval_batch_size", "eval", "workdir_note",
                     "train.stop_at_step", "parallel")
# Keys that configs gained after runs were made, with the value the trainers
# used while the key did not exist: a workdir saved without the key resumes
# when the new config holds that value.
_ADDED_FIELD_DEFAULTS = {"train.debug_nonfinite_steps": []}
# Beside config.json: the file that registered a user's core (`register_core`), named by
# `load_experiment`'s error when a later process has not imported it.
_CORE_SOURCE_FILE = "core_source.json"

# Read only by the host loop, never inside jitted code. (Not `parallel`: the
# jitted step reads the mesh, so jit's cache must tell meshes apart.)
_HOST_ONLY_FIELDS = tuple(f for f in _RESUMABLE_FIELDS if f != "parallel") + (
    "train.stop_at_step", "train.max_consecutive_nonfinite", "train.screen_every",
    "train.eval_batch_size", "seed")


def _is_host_only(key: str) -> bool:
  return any(key == field or key.startswith(field + ".") for field in _HOST_ONLY_FIELDS)


class TrainState(NamedTuple):
  """Everything a run needs to continue bit-for-bit; per-seed leaves lead with `[num_seeds]`.

  Attributes:
    step: `[]` int32, number of updates done (also the data pipeline's position).
    params: model parameters, leaves `[num_seeds, ...]`.
    opt_state: optax state, leaves `[num_seeds, ...]`.
    rng: `[num_seeds, 2]` uint32 raw PRNG keys; batches use `fold_in(rng, step)`.
    nonfinite_streak: `[num_seeds]` int32, consecutive skipped (NaN/Inf) steps.
    nonfinite_total: `[num_seeds]` int32, all skipped steps.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  nonfinite_streak: jax.Array
  nonfinite_total: jax.Array


def masked_sigmoid_cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean binary cross-entropy over the masked (batch, time) steps and output bits."""
  per_bit = optax.sigmoid_binary_cross_entropy(logits, targets)
  per_step = jnp.sum(per_bit, axis=-1) * mask
  return jnp.sum(per_step) / (jnp.maximum(jnp.sum(mask), 1.0) * logits.shape[-1])


class Experiment:
  """A core, a task and an optimizer built from a config, with pure jitted step functions."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    task_fields = dict(config.task)
    self.task: AlgorithmicTask = build_task(task_fields.pop("name"), **task_fields)
    self.core = build_core(dict(config.model), self.task.output_size)
    self.optimizer = optim.make_optimizer(config.train)
    self.batch_size = int(config.train.batch_size)
    if self.batch_size < 1:
      raise ConfigError(f"train.batch_size={self.batch_size} must be >= 1")
    self.num_seeds = int(config.get("num_seeds", 1))
    if self.num_seeds < 1:
      raise ConfigError(f"num_seeds={self.num_seeds} must be >= 1")
    self.nonfinite_steps = tuple(config.train.get("debug_nonfinite_steps", ()))
    self.mesh = parallel.config_mesh(config)
    parallel.check_batch_size(self.batch_size, self.mesh)
    # Checks the model's sizes and the core contract now, with a clear message, rather than
    # inside jit (or not at all: a [batch, 1] output would broadcast against the targets).
    jax.eval_shape(self._init_seed, jax.random.PRNGKey(0))
    try:
      check_core(self.core, (self.batch_size, self.task.input_size), self.task.output_size)
    except ValueError as error:
      if not str(error).startswith("core "):
        raise
      raise ConfigError(f"model.name={config.model.name!r}: {error}") from None
    # Experiments equal in everything the jitted functions read share compiled
    # code (jit's cache keys on the static `self`), so a resumed or repeated
    # run in the same process does not compile again.
    self._cache_key = json.dumps({k: v for k, v in _flatten(config).items()
                                  if not _is_host_only(k)}, sort_keys=True, default=str)

  def __hash__(self):
    return hash(self._cache_key)

  def __eq__(self, other):
    return isinstance(other, Experiment) and self._cache_key == other._cache_key

  # --- model -----------------------------------------------------------------
  def _init_seed(self, rng: jax.Array):
    from memjax.cores.base import init_core
    variables = init_core(self.core, rng, (1, self.task.input_size))
    params = variables["params"]
    return params, self.optimizer.init(params)

  def logits(self, params, batch: SequenceBatch, carry_rng: jax.Array, return_carries=False):
    """Runs the core over a batch: `[batch, time, output_size]` logits (and carries)."""
    variables = {"params": params}
    carry = self.core.apply(variables, carry_rng, batch.inputs[:, 0].shape,
                            method=self.core.initialize_carry)
    step_fn = functools.partial(self.core.apply, variables)
    result = dynamic_unroll(step_fn, batch.inputs, carry, return_carries=return_carries)
    return result if return_carries else result[0]

  def init_state(self, seed: int) -> TrainState:
    seed_rngs = jax.random.split(jax.random.PRNGKey(seed), self.num_seeds)
    init_rngs = jax.vmap(lambda r: jax.random.fold_in(r, 0x1417))(seed_rngs)
    params, opt_state = jax.jit(jax.vmap(self._init_seed))(init_rngs)
    zeros = lambda: jnp.zeros((self.num_seeds,), jnp.int32)  # distinct buffers: they are donated
    state = TrainState(jnp.zeros((), jnp.int32), params, opt_state, seed_rngs, zeros(), zeros())
    return parallel.replicate(state, self.mesh)

  # --- training ----------------------------------------------------------------
  def _training_batch(self, rng, step) -> SequenceBatch:
    """A training batch; with `train.curriculum_steps > 0` the longest length
    grows linearly from `task.min_length` to `task.max_length` over that many
    steps (inside the same padded shape, so nothing recompiles)."""
    curriculum_steps = int(self.config.train.get("curriculum_steps", 0) or 0)
    if not curriculum_steps:
      return self.task.sample(rng, self.batch_size)
    low, high = self.task.min_length, self.task.max_length
    fraction = jnp.minimum(1.0, (step + 1) / curriculum_steps)
    current_max = jnp.ceil(low + (high - low) * fraction).astype(jnp.int32)
    length_rng, content_rng = jax.random.split(rng)
    lengths = jax.random.randint(length_rng, (self.batch_size,), low, current_max + 1)
    return self.task.build(content_rng, lengths, high)

  def _seed_step(self, params, opt_state, rng, step):
    data_rng, carry_rng = jax.random.split(jax.random.fold_in(rng, step))
    batch = parallel.shard_batch(self._training_batch(data_rng, step), self.mesh)

    def loss_fn(p):
      logits = self.logits(p, batch, carry_rng)
      return masked_sigmoid_cross_entropy(logits, batch.targets, batch.mask), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    if self.nonfinite_steps:  # Test hook: poison chosen steps to exercise the NaN path.
      poison = jnp.isin(step, jnp.asarray(self.nonfinite_steps))
      loss = jnp.where(poison, jnp.nan, loss)
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
    metrics = {
        "loss": loss,
        "bits_error": jnp.mean(bits_error_per_sequence(logits, batch.targets, batch.mask)),
        "grad_norm": grad_norm,
        "param_norm": optax.global_norm(params),
        "learning_rate": optim.current_learning_rate(opt_state),
        "finite": finite,
    }
    return keep(new_params, params), keep(new_opt_state, opt_state), metrics

  def _over_seeds(self, function, in_axes, *args):
    """`jax.vmap(function)` over the seed axis; with one seed, a squeeze instead.

    XLA:CPU runs the batched matmuls that a size-1 vmap leaves about a third
    slower than plain ones, so a single seed skips the vmap.
    """
    if self.num_seeds > 1:
      return jax.vmap(function, in_axes=in_axes)(*args)
    squeezed = [arg if axis is None else jax.tree_util.tree_map(lambda leaf: leaf[0], arg)
                for arg, axis in zip(args, in_axes)]
    return jax.tree_util.tree_map(lambda leaf: leaf[None], function(*squeezed))

  @functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
  def train_step(self, state: TrainState):
    params, opt_state, metrics = self._over_seeds(
        self._seed_step, (0, 0, 0, None), state.params, state.opt_state, state.rng, state.step)
    finite = metrics.pop("finite")
    streak = jnp.where(finite, 0, state.nonfinite_streak + 1)
    total = state.nonfinite_total + (~finite).astype(jnp.int32)
    return TrainState(state.step + 1, params, opt_state, state.rng, streak, total), metrics

  # --- evaluation --------------------------------------------------------------
  @functools.partial(jax.jit, static_argnums=(0, 4))
  def evaluate_lengths(self, params, rng, lengths, pad_length):
    """Mean bits error per sequence for each seed on sequences of the given `lengths` `[n]`."""

    def seed_eval(seed_params, seed_rng):
      data_rng, carry_rng = jax.random.split(seed_rng)
      batch = parallel.shard_batch(self.task.build(data_rng, lengths, pad_length), self.mesh)
      logits = self.logits(seed_params, batch, carry_rng)
      return jnp.mean(bits_error_per_sequence(logits, batch.targets, batch.mask))

    seed_rngs = jax.random.split(rng, self.num_seeds)
    return self._over_seeds(seed_eval, (0, 0), params, seed_rngs)

  def evaluate(self, params, rng, num_sequences: int) -> np.ndarray:
    """Bits error per sequence on `num_sequences` fresh sequences of the training length range."""
    length_rng, eval_rng = jax.random.split(rng)
    lengths = jax.random.randint(length_rng, (num_sequences,), self.task.min_length,
                                 self.task.max_length + 1)
    return np.asarray(self.evaluate_lengths(params, eval_rng, lengths, self.task.max_length))

  def generalization(self, params, rng, eval_lengths: Sequence[int], num_sequences: int,
                     memory_size: int = 0):
    """{length: per-seed bits error} at each length, all through one compiled pad length.

    `memory_size > 0` evaluates with that many memory slots: the NTM's (and
    DNC's) parameters do not depend on N when memory is not learned, so a
    model trained with 64 slots can be tested on sequences longer than 64.
    """
    experiment = self
    if memory_size:
      if not hasattr(self.core, "memory_size"):
        raise ConfigError(f"eval.memory_size={memory_size} but core {self.config.model.name!r} "
                          "has no memory_size")
      if getattr(self.core, "memory_init", "constant") == "learned":
        raise ConfigError("eval.memory_size needs model.memory_init != 'learned' "
                          "(a learned memory has a fixed size)")
      experiment = copy.copy(self)
      experiment.core = self.core.clone(memory_size=memory_size)
      experiment._cache_key = f"{self._cache_key}|eval.memory_size={memory_size}"
    pad_length = max(eval_lengths)
    table = {}
    for length in eval_lengths:
      lengths = jnp.full((num_sequences,), length, jnp.int32)
      table[int(length)] = np.asarray(experiment.evaluate_lengths(
          params, jax.random.fold_in(rng, length), lengths, pad_length))
    return table


def _flatten(config: ml_collections.ConfigDict, prefix: str = "") -> Dict[str, Any]:
  flat = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = value.tolist() if hasattr(value, "tolist") else (
          list(value) if isinstance(value, tuple) else value)
  return flat


def check_workdir(config: ml_collections.ConfigDict, workdir: str) -> pathlib.Path:
  """Creates the workdir, checks it is writable and that it holds no other experiment.

  On a multi-host run only process 0 checks and writes config.json; the
  others get the path.

  Raises:
    ConfigError with a one-line message naming the workdir and the differing key.
  """
  if "://" in str(workdir):
    # pathlib would turn gs://b/x into the local folder gs:/b/x, and each host
    # of a slice would then write its own shards to its own disk.
    raise ConfigError(f"--workdir={workdir}: URLs are not supported; mount the bucket (e.g. "
                      "gcsfuse) or a shared filesystem on every host and pass that path")
  if jax.process_index() != 0:  # every process refuses a URL, only process 0 checks the rest
    return pathlib.Path(workdir)
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / ".write_test"
    probe.write_text("ok")
    probe.unlink()
  except OSError as error:
    raise ConfigError(f"--workdir={workdir} is not writable: {error.strerror or error}") from None
  saved = path / "config.json"
  current = _flatten(config)
  # Only saved steps bind the workdir: a run that failed before its first save
  # leaves an empty checkpoints/ behind, and its workdir stays usable. (bAbI's
  # per-task runs keep theirs in task<N>/checkpoints.)
  steps = [step for pattern in ("checkpoints/*", "*/checkpoints/*") for step in path.glob(pattern)]
  has_steps = any(step.is_dir() and step.name.isdigit() for step in steps)
  if saved.exists() and has_steps:
    previous = json.loads(saved.read_text())
    for key in sorted(set(previous) | set(current)):
      if any(key == f or key.startswith(f + ".") for f in _RESUMABLE_FIELDS):
        continue
      if key not in previous and current.get(key) == _ADDED_FIELD_DEFAULTS.get(key, object()):
        continue
      if previous.get(key) != current.get(key):
        raise ConfigError(
            f"--workdir={workdir} holds checkpoints of another experiment: {key} was "
            f"{previous.get(key)!r} there, now {current.get(key)!r}; use a new --workdir")
  saved.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
  source = core_source(str(config.get("model", {}).get("name", "")))
  if source:  # a user's core: later processes (plots) must import this file to rebuild it
    (path / _CORE_SOURCE_FILE).write_text(json.dumps({"model.name": config.model.name,
                                                      "file": source}) + "\n")
  return path


def check_checkpoint_fields(config: ml_collections.ConfigDict) -> None:
  """train.keep_checkpoints >= 1 (0 keeps none), train.checkpoint_every >= 0 (0: at the end)."""
  positive_int(config, "train.keep_checkpoints", 3)
  every = config.train.get("checkpoint_every", 0) or 0
  if int(every) < 0:
    raise ConfigError(f"config.train.checkpoint_every={every} must be >= 0 (0: only at the end)")


def _summary(values: np.ndarray) -> str:
  if values.size == 1:
    return f"{float(values[0]):.3f}"
  return f"median {float(np.median(values)):.3f} best {float(np.min(values)):.3f}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Trains `config.model` on `config.task`, evaluates, checkpoints; returns the results dict.

  Args:
    config: see `configs/copy_ntm.py` for every field.
    workdir: checkpoints, TensorBoard events, log.txt, results.json and plots go here;
      relaunching with the same workdir resumes from the newest good checkpoint.
    start_time: `time.time()` at process launch, so reported times include start-up.

  Returns:
    The results written to `<workdir>/results.json`.
  """
  start_time = time.time() if start_time is None else start_time
  # "all": stop when every seed is solved; "any": when the first one is (best-of-K runs).
  # Checked first, so that a bad value leaves no workdir behind.
  stop_when = str(config.train.get("stop_when", "all"))
  if stop_when not in ("all", "any"):
    raise ConfigError(f"train.stop_when={stop_when!r} must be 'all' or 'any'")
  stop_test = np.all if stop_when == "all" else np.any
  # Also before any work: a zero would divide by zero, or fail only after training.
  log_every, eval_every = positive_int(config, "train.log_every"), positive_int(
      config, "train.eval_every")
  eval_size = positive_int(config, "train.eval_batch_size", 1000)
  check_checkpoint_fields(config)
  if tuple(config.get("eval", {}).get("lengths", ())):
    positive_int(config, "eval.num_sequences", 100)
  is_chief = jax.process_index() == 0
  workdir_path = check_workdir(config, workdir)
  experiment = Experiment(config)
  train = config.train
  writer = metrics_lib.MetricWriter(workdir, enabled=is_chief)
  checkpointer = checkpoint_lib.Checkpointer(str(workdir_path / "checkpoints"),
                                             max_to_keep=train.get("keep_checkpoints", 3))
  state = experiment.init_state(config.seed)
  restored, restored_step = checkpointer.restore_latest(state, set_aside_unreadable=True)
  if restored is not None:
    state = TrainState(*restored) if not isinstance(restored, TrainState) else restored
    print(f"Resumed from {checkpointer.step_path(restored_step)} (step {restored_step})", flush=True)
  num_steps = int(train.num_steps)
  stop_at_step = int(train.get("stop_at_step", 0) or 0)  # test hook: stop early, as a kill would
  target_error = float(train.get("target_error", -1.0))
  eval_rng = jax.random.PRNGKey(config.seed + 10_000)
  checkpoint_every = int(train.get("checkpoint_every", 0) or 0)
  max_nonfinite = int(train.get("max_consecutive_nonfinite", 10))
  solved_at_step = np.full((experiment.num_seeds,), -1)
  solved_at_seconds = np.full((experiment.num_seeds,), -1.0)
  last_eval_step = -1
  eval_error = np.full((experiment.num_seeds,), np.nan)
  stop_reason = "num_steps reached"
  loop_start, loop_start_step = time.time(), int(state.step)
  last_screen_step = -10**9
  # What screening and the target test depend on, as of the restored step: a
  # resumed run then screens, evaluates and stops where an unbroken one does.
  loop_record = progress.LoopRecord(workdir_path, enabled=is_chief)
  recorded = loop_record.load(restored_step)
  if recorded is not None:
    solved_at_step = np.asarray(recorded["solved_at_step"])
    solved_at_seconds = np.asarray(recorded["solved_at_seconds"], np.float64)
    last_screen_step = int(recorded["last_screen_step"])

  def save_checkpoint(step, force=False):
    loop_record.save(step, {"solved_at_step": solved_at_step, "solved_at_seconds":
                            solved_at_seconds, "last_screen_step": last_screen_step},
                     keep_steps=checkpointer.all_steps())
    checkpointer.save(step, state, force=force)

  nonfinite = progress.NonfiniteWatch()
  target_reason = f"target error {target_error} reached" + (
      f" ({stop_when} seeds)" if experiment.num_seeds > 1 else "")
  step = int(state.step)
  # Relaunched after it stopped at the target (its last checkpoint): train no further.
  solved = target_error >= 0 and bool(stop_test(solved_at_step >= 0))
  if solved:
    stop_reason = target_reason
  while step < num_steps and not solved:
    state, step_metrics = experiment.train_step(state)
    step += 1
    nonfinite.add(state.nonfinite_streak)
    if step % log_every == 0 or step == num_steps:
      host = jax.device_get(step_metrics)
      streak = nonfinite.longest()
      elapsed = time.time() - loop_start
      rate = (step - loop_start_step) / max(elapsed, 1e-9)
      eta = (num_steps - step) / max(rate, 1e-9)
      scalars = {k: v for k, v in host.items() if v is not None}
      scalars["steps_per_second"] = rate
      scalars["nonfinite_total"] = np.asarray(state.nonfinite_total)
      writer.write_scalars(step, scalars)
      print(f"step {step}/{num_steps} | loss {_summary(np.asarray(host['loss']))} | "
            f"train bits/seq {_summary(np.asarray(host['bits_error']))} | "
            f"{rate:.1f} steps/s | {time.time() - start_time:.0f}s | "
            f"ETA {metrics_lib.format_duration(eta)}", flush=True)
      if streak >= max_nonfinite:
        latest = checkpointer.latest_step()
        stop_reason = (f"stopped: {streak} consecutive NaN/Inf steps by step {step} "
                       f"(train.max_consecutive_nonfinite={max_nonfinite}); last good checkpoint: "
                       f"{checkpointer.step_path(latest) if latest is not None else 'none'}")
        print(stop_reason, flush=True)
        break
    # Full evaluation on fresh sequences: on schedule, or as soon as a training
    # batch looks solved when a target error is set (cheap screening).
    screen = False
    if target_error >= 0 and step - last_screen_step >= int(train.get("screen_every", 25)):
      batch_error = np.asarray(step_metrics["bits_error"])
      screen = bool(np.any((batch_error <= target_error) & (solved_at_step < 0)))
      if screen:
        last_screen_step = step
    if step % eval_every == 0 or screen or step == num_steps:
      eval_error = experiment.evaluate(state.params, jax.random.fold_in(eval_rng, step), eval_size)
      last_eval_step = step
      writer.write_scalars(step, {"eval/bits_error": eval_error})
      newly = (eval_error <= target_error) & (solved_at_step < 0)
      solved_at_step[newly] = step
      solved_at_seconds[newly] = time.time() - start_time
      print(f"  eval @ {step}: bits error/seq on {eval_size} fresh sequences: {_summary(eval_error)}",
            flush=True)
      if target_error >= 0 and stop_test(solved_at_step >= 0):
        stop_reason = target_reason
        break
    if checkpoint_every and step % checkpoint_every == 0:  # every process: orbax coordinates hosts
      save_checkpoint(step)
    if stop_at_step and step >= stop_at_step:
      stop_reason = f"train.stop_at_step={stop_at_step} reached"
      break

  if checkpointer.latest_step() != step:
    save_checkpoint(step, force=True)
  if last_eval_step != step:
    eval_error = experiment.evaluate(state.params, jax.random.fold_in(eval_rng, step), eval_size)
  train_seconds = time.time() - start_time
  results = {
      "task": config.task.name,
      "model": config.model.name,
      "num_seeds": experiment.num_seeds,
      "steps": step,
      "stop_reason": stop_reason,
      "eval_bits_error_per_seed": eval_error,
      "eval_bits_error_median": float(np.median(eval_error)),
      "eval_bits_error_best": float(np.min(eval_error)),
      "solved_at_step": solved_at_step,
      "solved_at_seconds": solved_at_seconds,
      "wall_seconds": train_seconds,
      "nonfinite_steps_skipped": np.asarray(state.nonfinite_total),
      "devices": [str(d) for d in jax.devices()],
  }
  eval_lengths = tuple(config.get("eval", {}).get("lengths", ()))
  if eval_lengths and not stop_reason.startswith("stopped"):
    table = experiment.generalization(state.params, jax.random.fold_in(eval_rng, 2**31 - 1),
                                      eval_lengths, int(config.eval.get("num_sequences", 100)),
                                      int(config.eval.get("memory_size", 0)))
    results["generalization"] = {str(k): v for k, v in table.items()}
  results_path = metrics_lib.write_results(workdir, results, enabled=is_chief)
  writer.close()
  checkpointer.close()
  logging.info("results: %s", results_path)
  results["results_path"] = results_path
  return results


def _unflatten(flat: Dict[str, Any]) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  for name, value in sorted(flat.items()):
    node = config
    *parents, leaf = name.split(".")
    for parent in parents:
      if parent not in node:
        node[parent] = ml_collections.ConfigDict()
      node = node[parent]
    node[leaf] = tuple(value) if isinstance(value, list) else value
  return config


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run wrote to `<workdir>/config.json` (flat dotted keys), as a ConfigDict.

  Raises:
    ConfigError when the workdir has no config.json.
  """
  path = pathlib.Path(workdir) / "config.json"
  if not path.exists():
    raise ConfigError(f"--workdir={workdir} holds no config.json: is it a memjax run?")
  return _unflatten(json.loads(path.read_text()))


def load_experiment(workdir: str):
  """Rebuilds a finished or running experiment from `<workdir>/config.json` and its newest checkpoint.

  Returns:
    `(experiment, state, step)`.

  Raises:
    ConfigError when the workdir has no config.json or no checkpoint, or holds
    another kind of experiment (e.g. a char-LM: use experiments/sample.py).
  """
  config = load_config(workdir)
  kind = config.get("experiment", "algorithmic")
  if kind != "algorithmic":
    raise ConfigError(f"--workdir={workdir} holds a config.experiment={kind!r} run; this reads "
                      "the algorithmic tasks (copy, repeat copy, recall, sort, graphs)"
                      + ("; sample a char-LM with experiments/sample.py" if kind == "char_lm"
                         else ""))
  try:
    experiment = Experiment(config)
  except ValueError as error:
    recorded = pathlib.Path(workdir) / _CORE_SOURCE_FILE
    if "is not a registered core" not in str(error) or not recorded.exists():
      raise
    source = json.loads(recorded.read_text())["file"]
    raise ConfigError(f"model.name={config.model.name!r} is not a registered core in this "
                      f"process; the run registered it from {source}: pass --import={source}"
                      ) from None
  checkpointer = checkpoint_lib.Checkpointer(str(pathlib.Path(workdir) / "checkpoints"))
  state, step = checkpointer.restore_latest(experiment.init_state(config.seed))
  checkpointer.close()
  if state is None:
    raise ConfigError(f"--workdir={workdir} holds no checkpoint yet")
  return experiment, TrainState(*state), step


def render_plots(workdir: str, length: int = 0, seed_index: int = 0) -> list:
  """Writes PNGs of one example (input/target/output, weightings, memory) to `<workdir>/plots`."""
  from memjax import plots
  experiment, state, step = load_experiment(workdir)
  if not 0 <= seed_index < experiment.num_seeds:
    raise ConfigError(f"--seed_index={seed_index}, but the run in --workdir={workdir} trained "
                      f"{experiment.num_seeds} seed(s): use 0..{experiment.num_seeds - 1}")
  task = experiment.task
  length = length or task.max_length
  params = jax.tree_util.tree_map(lambda leaf: leaf[seed_index], state.params)
  data_rng, carry_rng = jax.random.split(jax.random.PRNGKey(1234))
  batch = task.build(data_rng, jnp.full((1,), length, jnp.int32), max(length, task.max_length))
  logits, _, carries = experiment.logits(params, batch, carry_rng, return_carries=True)
  example = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[0]), (batch, logits, carries))
  (inputs, targets, mask, _), example_logits, example_carries = example
  out_dir = plots.ensure_dir(str(pathlib.Path(workdir) / "plots"))
  name = f"{experiment.config.model.name} on {task.name}, length {length}, step {step}"
  steps = int(np.max(np.nonzero(mask)[0])) + 1 if mask.any() else inputs.shape[0]
  written = [plots.plot_sequence_example(str(out_dir / "example.png"), inputs, targets,
                                         (example_logits > 0).astype(np.float32), mask, name)]
  written += plots.plot_memory_trace(str(out_dir / "memory.png"), example_carries, steps, name)
  return written
