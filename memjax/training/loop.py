"""The training loop: one for every model family.

    results = train_and_evaluate(config, workdir)   # config.experiment names the family

`run(family, workdir)` trains any `memjax.training.family.Family` and owns, for
all of them alike:

- **checks before any work**: every interval, size and learning rate of
  `config.train` (`check_config`), unknown keys of the top level and of `train`;
  one line naming the key and its range;
- **the workdir**: config.json, orbax checkpoints every `train.checkpoint_every`
  steps and at the end, resumption from the newest good one (a damaged newer one is
  set aside in one line), and the loop record (history and the family's values,
  checksummed inside each checkpoint), so that a relaunched run evaluates, stops and
  writes results.json as an unbroken one would, bit for bit; a full disk stops the
  run in one line saying how much space to free;
- **NaN/Inf**: a step whose loss, gradient norm or new state (parameters,
  optimizer state, carry) holds a NaN or Inf leaves that seed's state
  untouched and is counted, so no checkpoint ever holds a NaN; a state whose last
  step was skipped is neither saved nor evaluated. `train.max_consecutive_nonfinite`
  skipped steps in a row stop the run with one line naming the step and the last
  good checkpoint: the newest one saved before the streak whose parameters are finite
  and give a finite loss on the batch that followed it (checked, `is_good_state`).
  The final figures are then that checkpoint's (also when the run ends inside a
  shorter streak); with none to name, the run ends in a ConfigError, not a NaN result;
- **periodic work**: a progress line every `train.log_every` steps (rate and ETA of
  the last interval), TensorBoard scalars, an evaluation every `train.eval_every`
  steps (or when the family asks), a final evaluation, `train.stop_at_step`;
- **results.json**: the family's figures, evaluation history, stop reason, skipped steps,
  devices, how the run was made under `provenance` (memjax version, git commit, library
  versions, device kinds; `memjax.provenance`), the config under `config`, and what differs
  between launches (times, the resumed step, the command line) under `launch`;
- **TensorBoard**: scalars (one tag per seed only when there are several), the config as
  text and hparams, the provenance, and the algorithmic generalisation table.
"""
import pathlib
import sys
import threading
import time
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from memjax import checkpoint as checkpoint_lib
from memjax import parallel
from memjax import provenance
from memjax.errors import ConfigError, check_float, check_int, config_value
from memjax.training import metrics as metrics_lib
from memjax.training import optim
from memjax.training import progress
from memjax.training import registry
from memjax.training.family import Family, TrainState, one_seed
from memjax.training.workdir import (check_workdir, flatten_config, load_config,
                                     unregistered_core_error)

# The loop's own keys of config.train, and the optimizer's (`optim.make_optimizer`).
LOOP_TRAIN_KEYS = ("num_steps", "batch_size", "log_every", "eval_every", "checkpoint_every",
                   "keep_checkpoints", "stop_at_step", "max_consecutive_nonfinite",
                   "debug_nonfinite_steps", "learning_rate")
TOP_LEVEL_KEYS = ("experiment", "seed", "num_seeds", "train", "parallel", "label", "machine",
                  "workdir_note")
_DEFAULTS = {"log_every": 100, "eval_every": 1000, "keep_checkpoints": 3,
             "max_consecutive_nonfinite": 10}


# ---------------------------------------------------------------------------------------------
# Checks before any work.

def check_config(config: ml_collections.ConfigDict, family_class) -> None:
  """Raises ConfigError naming the first key the loop (or the family) cannot use."""
  allowed_top = set(TOP_LEVEL_KEYS) | set(family_class.blocks)
  for key in config.keys():
    if key not in allowed_top:
      raise ConfigError(f"config.{key} is not a field of experiment {family_class.name!r}; "
                        f"the top level has {sorted(allowed_top)}")
  train = config_value(config, "train")
  allowed_train = set(LOOP_TRAIN_KEYS) | set(family_class.train_keys) | (
      set(optim.TRAIN_KEYS) if family_class.uses_optimizer else set())
  unknown = sorted(set(train.keys()) - allowed_train)
  if unknown:
    raise ConfigError(f"config.train.{unknown[0]} is not a field of experiment "
                      f"{family_class.name!r}; train has {sorted(allowed_train)}")
  check_int(config, "seed", 0, 0)
  check_int(config, "num_seeds", 1, 1, maximum=family_class.max_seeds,
            note=f" (experiment {family_class.name!r} trains one model per run)")
  family_class.check_config(config)  # before num_steps: a family may derive it from its keys
  num_steps = family_class.num_steps(config)
  check_int(config, "train.batch_size", 1)
  for key in ("log_every", "eval_every", "keep_checkpoints", "max_consecutive_nonfinite"):
    check_int(config, f"train.{key}", 1, _DEFAULTS[key])
  check_int(config, "train.checkpoint_every", 0, 0, note=" (0: only at the end)")
  check_int(config, "train.stop_at_step", 0, 0, note=" (0: off)")
  # Above float32's largest number the rate is inf inside the step.
  check_float(config, "train.learning_rate", above=0.0, below=float(np.finfo(np.float32).max))
  steps = config_value(config, "train.debug_nonfinite_steps", ())
  if not all(isinstance(s, int) and s >= 0 for s in tuple(steps)):
    raise ConfigError(f"config.train.debug_nonfinite_steps={steps!r} must be step numbers >= 0")
  if family_class.uses_optimizer:
    optim.check_config(config, num_steps)



# ---------------------------------------------------------------------------------------------
# The guarded step.

def _finite_per_seed(tree: Any, num_seeds: int) -> jax.Array:
  """`[num_seeds]` bool: every float leaf of `tree` (leaves `[num_seeds, ...]`) is finite."""
  finite = jnp.ones((num_seeds,), bool)
  for leaf in jax.tree_util.tree_leaves(tree):
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
      finite &= jnp.all(jnp.isfinite(leaf.reshape(num_seeds, -1)), axis=1)
  return finite


def _poison(params: Any, poisoned: jax.Array) -> Any:
  """NaN in every float parameter where `poisoned` (a scalar bool): the test hook."""
  nan_or_one = jnp.where(poisoned, jnp.nan, 1.0)
  return jax.tree_util.tree_map(
      lambda p: p * nan_or_one.astype(p.dtype) if jnp.issubdtype(p.dtype, jnp.inexact) else p,
      params)


def _guarded_step(family: Family, state: TrainState, batch: Any):
  """The family's step, with the loop's NaN/Inf policy: per seed, a non-finite loss,
  gradient norm or new state keeps the old state and counts the step."""
  debug_steps = tuple(family.config.train.get("debug_nonfinite_steps", ()))
  stepped = state
  if debug_steps:  # test hook: NaN parameters at chosen steps exercise the real NaN path
    stepped = state._replace(params=_poison(state.params, jnp.isin(state.step,
                                                                     jnp.asarray(debug_steps))))
  new, metrics = family.train_step(stepped, batch)
  num_seeds = state.nonfinite_streak.shape[0]
  finite = jnp.isfinite(metrics["loss"]).reshape(num_seeds)
  if "grad_norm" in metrics:
    finite &= jnp.isfinite(metrics["grad_norm"]).reshape(num_seeds)
  finite &= _finite_per_seed((new.params, new.opt_state, new.carry), num_seeds)

  def keep(new_tree, old_tree):
    def select(n, o):
      return jnp.where(finite.reshape((num_seeds,) + (1,) * (n.ndim - 1)), n, o)
    return jax.tree_util.tree_map(select, new_tree, old_tree)

  state = TrainState(
      step=state.step + 1,
      params=keep(new.params, state.params), opt_state=keep(new.opt_state, state.opt_state),
      carry=keep(new.carry, state.carry), rng=keep(new.rng, state.rng),
      nonfinite_streak=jnp.where(finite, 0, state.nonfinite_streak + 1),
      nonfinite_total=state.nonfinite_total + (~finite).astype(jnp.int32))
  return state, metrics


_jitted_step = jax.jit(_guarded_step, static_argnums=0, donate_argnums=1)


def train_step(family: Family, state: TrainState, batch: Any = ()):
  """One guarded, jitted step of `family` (as the loop runs it); `state` is donated."""
  return _jitted_step(family, state, batch)


def _step_loss(family: Family, state: TrainState, batch: Any) -> jax.Array:
  """`[num_seeds]` loss of the family's own step from `state` on `batch` (no test hook, and the
  update is dropped: only the forward pass is compiled)."""
  return family.train_step(state, batch)[1]["loss"]


_jitted_step_loss = jax.jit(_step_loss, static_argnums=0)


def is_good_state(family: Family, state: TrainState, batch: Any = ()) -> bool:
  """Whether every seed's parameters are finite and give a finite loss on `batch` (the one
  that follows `state`): what a checkpoint must pass to be named as last good."""
  num_seeds = state.nonfinite_streak.shape[0]
  finite = _finite_per_seed(state.params, num_seeds)
  finite &= jnp.isfinite(_jitted_step_loss(family, state, batch)).reshape(num_seeds)
  return bool(np.all(parallel.to_host(finite)))


# ---------------------------------------------------------------------------------------------
# Checkpoints: states with zero-size leaves; restoring a saved run.

def _start_warm_up(family: Family, state: TrainState) -> threading.Thread:
  """Compiles the first evaluation's programs (`Family.warm_up`) and the checkpoint checksums
  in a thread, while the main thread compiles the train step: XLA compiles on one core, so
  on a first launch the two share the machine instead of taking turns (about 2 s of a
  30 s run on 2 cores). Join the thread before evaluating or saving."""
  abstract = jax.tree_util.tree_map(
      lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
      if isinstance(leaf, jax.Array) else leaf, state)

  def compile_ahead():
    try:
      family.warm_up(abstract)
      checkpoint_lib.compile_checksums(abstract)
    except Exception as error:  # noqa: BLE001 (the programs then compile when first run)
      logging.info("warm-up compilation skipped: %s", error)

  thread = threading.Thread(target=compile_ahead, name="memjax-warm-up", daemon=True)
  thread.start()
  return thread


def _savable(state: TrainState) -> TrainState:
  """Orbax cannot save zero-size arrays (e.g. a mem_len = 0 memory): such a carry is left out."""
  if any(leaf.size == 0 for leaf in jax.tree_util.tree_leaves(state.carry)):
    return state._replace(carry=())
  return state


def _restored(restored, fresh: TrainState) -> TrainState:
  restored = TrainState(*restored)
  if not jax.tree_util.tree_leaves(restored.carry) and jax.tree_util.tree_leaves(fresh.carry):
    restored = restored._replace(carry=fresh.carry)
  return restored


def restore(family: Family, workdir: str, params_only: bool = False):
  """`(state, step)` of the newest readable checkpoint of `family`'s run in `workdir`, or
  `(None, None)`. `params_only`: `(first seed's params, step)`, read alone, so checkpoints
  whose other fields have another structure (an older optimizer state) still load."""
  checkpointer = checkpoint_lib.Checkpointer(str(pathlib.Path(workdir) / "checkpoints"))
  if params_only:
    restored, step = checkpointer.restore_latest({"params": family.state_template().params},
                                                 partial=True)
    restored = restored and one_seed(restored["params"])
  else:
    fresh = family.init_state()
    restored, step = checkpointer.restore_latest(_savable(fresh))
    restored = restored and _restored(restored, fresh)
  checkpointer.close()
  return restored, step


def _close_on_a_full_disk(writer: metrics_lib.MetricWriter) -> None:
  """Closes the TensorBoard writer after a save found the disk full (the one-line error follows).

  Its pending events go into the space the failed save freed. When even that does not
  suffice they are lost, and what tensorboardX would still try at exit (a flush from an
  atexit callback, its worker thread reading a closed queue) is dropped, not printed as
  tracebacks after the one-line error; other errors still reach the earlier hooks.
  """
  try:
    writer.close()
    return
  except OSError as error:
    if not checkpoint_lib.is_disk_full(error):
      raise
  previous_unraisable, previous_thread = sys.unraisablehook, threading.excepthook

  def unraisable_hook(unraisable):
    if not checkpoint_lib.is_disk_full(unraisable.exc_value):
      previous_unraisable(unraisable)

  def thread_hook(args):
    if type(args.thread).__module__.startswith("tensorboardX") and issubclass(
        args.exc_type, OSError):
      return
    previous_thread(args)

  sys.unraisablehook, threading.excepthook = unraisable_hook, thread_hook


def load_run(workdir: str, experiment: str, hint: str = "", params_only: bool = False):
  """`(family, state, step)` of a finished or running `experiment` run, from its config.json
  and newest checkpoint (`state`: the first seed's params with `params_only`).

  Raises:
    ConfigError when the workdir holds no config.json, another experiment (the message ends
    with `hint`), or no checkpoint; or names the file to `--import` for a user's core.
  """
  config = load_config(workdir)
  kind = config.get("experiment", "algorithmic")
  if kind != experiment:
    raise ConfigError(f"--workdir={workdir} holds a config.experiment={kind!r} run, not "
                      f"{experiment!r}{hint}")
  try:
    family = registry.family_class(config).for_evaluation(config)
  except ValueError as error:
    raise unregistered_core_error(workdir, config, error) from None
  state, step = restore(family, workdir, params_only)
  if state is None:
    raise ConfigError(f"--workdir={workdir} holds no checkpoint yet")
  return family, state, step


def _scalars(evaluation: Dict[str, Any]) -> Dict[str, Any]:
  """The numeric entries of an evaluation (scalars or per-seed vectors), for TensorBoard."""
  out = {}
  for key, value in evaluation.items():
    if isinstance(value, (str, dict, type(None))):
      continue
    array = np.asarray(value)
    if array.dtype.kind in "fiub" and array.ndim <= 1:
      out[key] = array
  return out


def _summarise_in_tensorboard(writer: metrics_lib.MetricWriter, results: Dict[str, Any],
                              flat_config: Dict[str, Any], final: Dict[str, Any]) -> None:
  """The end of a run in TensorBoard: the config as hparams with the final figures (means over
  seeds), how the run was made, and the generalisation table of the algorithmic tasks."""
  step = int(results["steps"])
  metrics = {f"hparams/{key}": float(np.mean(value)) for key, value in _scalars(final).items()}
  writer.write_hparams(flat_config, metrics, step)
  made = results["provenance"]
  writer.write_text("provenance", provenance.config_markdown(
      {key: value for key, value in made.items() if key != "devices"}
      | {f"devices.{key}": value for key, value in made["devices"].items()}), step)
  if results.get("generalization"):
    writer.write_text("generalization",
                      provenance.generalization_markdown(results["generalization"]), step)


# ---------------------------------------------------------------------------------------------
# The loop.

def run(family: Family, workdir: str, start_time: Optional[float] = None,
        tag: str = "") -> Dict[str, Any]:
  """Trains `family` in `workdir` (checked by the caller), evaluates, writes results.json.

  Args:
    family: the model family, built from its config.
    workdir: checkpoints (with their loop records), log.txt, TensorBoard events,
      results.json.
    start_time: `time.time()` at process launch, so reported times include start-up.
    tag: prefixes printed lines (e.g. "task3" for one of several runs of a launch).

  Returns:
    The results, as written to `<workdir>/results.json`, plus `results_path`.
  """
  start_time = time.time() if start_time is None else start_time
  config, train = family.config, family.config.train
  workdir = pathlib.Path(workdir)
  is_chief = jax.process_index() == 0  # process 0 writes logs and results; all write checkpoints

  def say(line: str) -> None:
    print(f"[{tag}] {line}" if tag else line, flush=True)

  num_steps = family.num_steps(config)
  stop_at = int(train.get("stop_at_step", 0) or 0)
  last = min(num_steps, stop_at) if stop_at else num_steps
  log = progress.Periodic(train.get("log_every", _DEFAULTS["log_every"]))
  evaluate_periodically = progress.Periodic(train.get("eval_every", _DEFAULTS["eval_every"]))
  checkpoint_periodically = progress.Periodic(train.get("checkpoint_every", 0) or 0)
  max_nonfinite = int(train.get("max_consecutive_nonfinite",
                                _DEFAULTS["max_consecutive_nonfinite"]))
  unit = family.step_unit

  writer = metrics_lib.MetricWriter(str(workdir), enabled=is_chief)
  flat_config = flatten_config(config)
  writer.write_text("config", provenance.config_markdown(flat_config))
  checkpointer = checkpoint_lib.Checkpointer(
      str(workdir / "checkpoints"), remove_unfinished=True,
      max_to_keep=train.get("keep_checkpoints", _DEFAULTS["keep_checkpoints"]))
  state = family.init_state()
  restored, restored_step = checkpointer.restore_latest(_savable(state),
                                                        set_aside_unreadable=True)
  if restored is not None:
    state = _restored(restored, state)
    say(f"Resumed from {checkpointer.step_path(restored_step)} ({unit} {restored_step})")
  # The record of a checkpoint is saved (and checksummed) inside its step folder; checkpoints
  # saved before that have theirs in <workdir>/loop_record.json.
  recorded = checkpointer.record(restored_step) if restored is not None else None
  if recorded is None:
    recorded = progress.LoopRecord(workdir, enabled=False).load(restored_step) or {}
  history = list(recorded.get("history", []))
  family.restore_record(recorded.get("family", {}))

  def save(step: int, force: bool = False) -> None:
    record = metrics_lib.to_python({"history": history, "family": family.record()})
    try:
      checkpointer.save(step, _savable(state), force=force, record=record)
    except checkpoint_lib.DiskFullError:
      _close_on_a_full_disk(writer)
      raise

  def last_good_checkpoint(began: int):
    """`(step, state)` of the newest checkpoint saved before update `began` (the streak's
    first; the one saved at `began` gave its NaN) that loads and passes `is_good_state` on the
    batch that followed it, or `(None, None)`. Saved states are finite (the guard keeps NaN
    out), but one may still lead to a NaN loss: an earlier, shorter streak began there."""
    for saved in reversed([s for s in checkpointer.all_steps() if s < began]):
      restored = checkpointer.restore(saved, _savable(state))
      if restored is None:
        continue
      candidate = _restored(restored, state)
      if is_good_state(family, candidate, family.batch(saved)):  # (it donates nothing)
        return saved, candidate
    return None, None

  def diverged(reason: str, began: int):
    """`(stop reason, (step, state) of the last good checkpoint)`; a ConfigError when no
    checkpoint qualifies (there is then no result to report)."""
    good_step, good_state = last_good_checkpoint(began)
    advice = "lower train.learning_rate or raise train.grad_clip_norm"
    if good_step is None:
      writer.close()
      checkpointer.close()
      raise ConfigError(f"{reason}; {advice}; no result: no checkpoint has finite parameters "
                        "and a finite loss (last good checkpoint: none)")
    return (f"{reason}; {advice}; last good checkpoint: {checkpointer.step_path(good_step)}",
            (good_step, good_state))

  step = int(state.step)
  first_step = step
  report = progress.ProgressReport(num_steps, unit, step)
  watch = progress.NonfiniteWatch(max_nonfinite)
  stop_reason = family.stop_reason_at_start()
  last_good = None  # (step, state) evaluated instead of a diverged state
  warm_up = _start_warm_up(family, _savable(state))
  if stop_reason is None and step < last:
    say(f"compiling the train step of {family.name} ({family.num_seeds} seed(s), "
        f"{family.mesh.size} device(s))...")
  loop_start = time.time()
  # A family's early-evaluation test (`evaluate_now`) reads a step's metrics on the host,
  # which waits for that step. Asked about step t's metrics once step t + 1 is dispatched,
  # it waits for step t alone while t + 1 runs, and the host's work between steps hides
  # behind the device's; at steps that wait anyway (logs, checkpoints, the last one) it is
  # asked at once, so a run resumed from a checkpoint asks about the same steps.
  unscreened = None  # (step, metrics) whose test waits for the next step's dispatch
  while stop_reason is None and step < last:
    state, metrics = train_step(family, state, family.batch(step))
    step += 1
    watch.add(state.nonfinite_streak, state.step)
    if step == first_step + 1:
      jax.block_until_ready(state)
      say(report.first_step_done(step))
    checkpoint_due = checkpoint_periodically(step)
    if log(step) or step == last:
      host = parallel.to_host(metrics)  # whole on every process, also when seeds are split
      rate = report.rate(step)
      skipped = parallel.to_host(state.nonfinite_total)
      writer.write_scalars(step, {**host, f"{unit}s_per_second": rate,
                                  "nonfinite_total": skipped})
      details = family.log_line(host) + (f" | {int(skipped.sum())} NaN/Inf {unit}s skipped"
                                         if skipped.any() else "")
      say(report.line(step, rate, time.time() - start_time, details))
    if log(step) or checkpoint_due or step == last:
      streak, began = watch.look()
      if streak >= max_nonfinite:
        stop_reason, last_good = diverged(
            f"stopped: {streak} consecutive NaN/Inf {unit}s (from {unit} {began + 1}) by "
            f"{unit} {step} (train.max_consecutive_nonfinite={max_nonfinite})", began)
        say(stop_reason)
        break
    # The family's early evaluation first: it may keep track of when it last asked. A run cut
    # by train.stop_at_step still evaluates at its last step as an uncut run would, so that
    # the history of a resumed run equals the uncut one's (the final evaluation comes after).
    early = False
    if unscreened is not None:
      early = family.evaluate_now(*unscreened)
      unscreened = None
    waits_anyway = log(step) or checkpoint_due or step == last or bool(stop_at and step >= stop_at)
    if step < num_steps and not waits_anyway:
      unscreened = (step, metrics)
    elif step < num_steps:
      early = family.evaluate_now(step, metrics) or early
    evaluation_due = step < num_steps and (evaluate_periodically(step) or early)
    if evaluation_due and parallel.to_host(state.nonfinite_streak).any():
      say(f"  eval @ {step} skipped: the last {unit} was NaN/Inf")  # its figures would be NaN
    elif evaluation_due:
      with report.paused():
        warm_up.join()
        evaluation = family.evaluate(state, step, final=False)
      history.append({"step": step, **evaluation})
      writer.write_scalars(step, {f"eval/{k}": v for k, v in _scalars(evaluation).items()})
      say(f"  eval @ {step}: {family.headline(evaluation)}")
      stop_reason = family.after_evaluation(step, evaluation, time.time() - start_time)
      if stop_reason:
        break
    # Only states whose last update was finite are saved (mid-streak ones are not).
    if checkpoint_due and not parallel.to_host(state.nonfinite_streak).any():
      with report.paused():
        warm_up.join()
        save(step)
    if stop_at and step >= stop_at:
      stop_reason = f"train.stop_at_step={stop_at} reached"
  train_seconds = time.time() - loop_start
  warm_up.join()
  streak = parallel.to_host(state.nonfinite_streak)
  if last_good is None and streak.any():  # the run ended inside a (shorter) NaN/Inf streak
    stop_reason, last_good = diverged(
        f"{stop_reason or f'train.num_steps={num_steps} reached'} after {int(streak.max())} "
        f"consecutive NaN/Inf {unit}s", step - int(streak.max()))
    say(stop_reason)
  # A diverged state is not saved (the newest checkpoint stays the last good one) nor
  # evaluated: the final figures are those of the last good checkpoint.
  if last_good is None and checkpointer.latest_step() != step:
    save(step, force=True)
  evaluated_step, evaluated = last_good or (step, state)
  final = family.evaluate(evaluated, evaluated_step, final=True)
  history.append({"step": evaluated_step, **final})
  headline = family.headline(final)
  if last_good is not None:
    headline += f" (of checkpoint {evaluated_step}, the last good one)"
  say(f"final @ {evaluated_step}: {headline}")
  target_reason = family.after_evaluation(evaluated_step, final, time.time() - start_time)
  if stop_reason is None:
    stop_reason = target_reason or f"train.num_steps={num_steps} reached"
  results = {
      "experiment": family.name,
      **family.results(evaluated, final),
      "num_seeds": family.num_seeds,
      "steps": step,
      "step_unit": unit,
      "stop_reason": stop_reason,
      "headline": headline,
      "final": final,
      "history": history,
      "nonfinite_steps_skipped": parallel.to_host(state.nonfinite_total).tolist(),
      "devices": [str(d) for d in jax.devices()],
      "data_parallel_devices": int(family.mesh.size),
      # Everything that differs between a straight run and a killed-and-resumed one.
      "launch": {"resumed_from_step": restored_step, "wall_seconds": time.time() - start_time,
                 "train_seconds": train_seconds, "compile_seconds": report.compile_seconds,
                 **provenance.launch()},
  }
  results["wall_seconds"] = results["launch"]["wall_seconds"]
  results["provenance"] = provenance.record()  # versions, commit, devices
  results["config"] = flat_config
  _summarise_in_tensorboard(writer, results, flat_config, final)
  results = metrics_lib.to_python(results)  # as results.json holds them: lists, not arrays
  results_path = metrics_lib.write_results(str(workdir), results, enabled=is_chief)
  writer.close()
  checkpointer.close()
  results["results_path"] = results_path
  return results


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Checks `config`, then trains and evaluates the family `config.experiment` names.

  Args:
    config: a config of any family (see configs/).
    workdir: outputs go here; relaunching with the same workdir resumes.
    start_time: `time.time()` at process launch, so reported times include start-up.

  Returns:
    The results dict (also in `<workdir>/results.json`).
  """
  family_class = registry.family_class(config)
  check_config(config, family_class)
  launch = getattr(family_class, "train_and_evaluate", None)
  if launch is not None:  # a family that runs several loops (e.g. one per bAbI task)
    return launch(config, workdir, start_time)
  workdir_path = check_workdir(config, workdir, family_class.resumable)
  return run(family_class(config), workdir_path, start_time)
