"""Checkpoints with orbax: save every N steps, keep the last K, resume from the newest good one.

A checkpoint that fails to restore (truncated or corrupt files) is reported
by path and the next older one is tried, so a run killed mid-write or with a
damaged disk still resumes. Orbax stores array chunks without checksums, so
bytes flipped inside one restore silently as other numbers; each save
therefore also writes `<step>/memjax_checksums.json` (`state_checksums`), and a
restore whose arrays do not match it counts as corrupt. A resuming run
also moves the unreadable ones to `<workdir>/unreadable_checkpoints/`
(`set_aside_unreadable=True`): left in place, orbax would never save those
steps again (it skips steps at or below its newest), and every later restore
would warn about them anew.
"""
import json
import os
import pathlib
import shutil
import sys
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

CHECKSUM_FILE = "memjax_checksums.json"
# What orbax's unfinished reads raise when finalised after a failed restore.
_FAILED_RESTORE_LEFTOVERS = ("Event loop is closed", "Encountered error while reading array index")
# Odd multiplier of the position weights (Knuth's multiplicative hash), so that swapped or
# shifted chunks change the weighted sum too.
_POSITION_MULTIPLIER = 2654435761


def _quiet_failed_restore_leftovers() -> None:
  """Drops the tracebacks a failed orbax restore leaves behind, from now on in this process.

  When a read fails, orbax closes its event loop with other reads in flight; their
  coroutines and callbacks are finalised later (at garbage collection, or at exit) and
  Python prints each as "Exception ignored in ..." (seen: 60-1,000 lines per bad
  checkpoint). The one-line warning of `restore_latest` says what they would. Only
  those two messages are dropped; any other unraisable exception reaches the hook
  that was installed before.
  """
  if getattr(sys.unraisablehook, "memjax_restore_quiet", False):
    return
  previous = sys.unraisablehook

  def hook(unraisable):
    if str(unraisable.exc_value).startswith(_FAILED_RESTORE_LEFTOVERS):
      return
    previous(unraisable)

  hook.memjax_restore_quiet = True
  sys.unraisablehook = hook


def _leaf_checksum(leaf: jax.Array) -> jax.Array:
  """`[2]` uint32: the sum of the leaf's bit patterns and their position-weighted sum, mod 2^32.

  Integer sums wrap exactly, so the result does not depend on how the array is
  sharded or in which order devices reduce it (a resume may change the device count).
  """
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.random.key_data(leaf)
  if leaf.dtype == jnp.bool_:
    bits = leaf.astype(jnp.uint32)
  else:
    width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[leaf.dtype.itemsize]
    bits = jax.lax.bitcast_convert_type(leaf, width).astype(jnp.uint32)  # 8 bytes: 2 words each
  bits = bits.reshape(-1)
  weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(_POSITION_MULTIPLIER) + 1
  return jnp.stack([jnp.sum(bits, dtype=jnp.uint32), jnp.sum(bits * weights, dtype=jnp.uint32)])


@jax.jit
def _checksums(state):
  return jax.tree_util.tree_map(_leaf_checksum, state)


def state_checksums(state: Any) -> Dict[str, List[int]]:
  """{leaf path: [sum, weighted sum]} of a pytree of arrays (every process gets the same)."""
  sums = jax.tree_util.tree_flatten_with_path(_checksums(state))[0]
  # Paths as `params/layer_0/kernel`: the same for the loop's NamedTuple fields and for a
  # partial restore's dict keys.
  return {jax.tree_util.keystr(path, simple=True, separator="/"):
          [int(x) for x in np.asarray(jax.device_get(value))] for path, value in sums}


class CheckpointError(RuntimeError):
  """No usable checkpoint could be restored although some exist."""


class Checkpointer:
  """Thin wrapper over `orbax.checkpoint.CheckpointManager` for one train-state pytree.

  Args:
    directory: where step folders go (`<workdir>/checkpoints`).
    max_to_keep: number of newest checkpoints kept.
  """

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = pathlib.Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=False))
    # Partial restores read through their own read-only manager: a manager binds
    # its item to the first kind of restore it sees (standard or pytree).
    self._partial_manager = None

  def save(self, step: int, state: Any, force: bool = False) -> bool:
    """Saves `state` as step `step` (blocking, so a kill never leaves it half-written), and
    its checksums beside it (a kill between the two leaves a checkpoint restored unverified)."""
    saved = self._manager.save(step, args=ocp.args.StandardSave(state), force=force)
    self._manager.wait_until_finished()
    if saved:
      sums = state_checksums(state)
      if jax.process_index() == 0:
        target = self.step_path(step) / CHECKSUM_FILE
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(sums, sort_keys=True) + "\n")
        os.replace(partial, target)
    return saved

  def _checksum_mismatch(self, step: int, state: Any) -> Optional[str]:
    """Names the first restored leaf whose checksum differs from the saved one (None: all equal,
    or the checkpoint predates checksums)."""
    saved_file = self.step_path(step) / CHECKSUM_FILE
    if not saved_file.exists():
      return None
    try:
      saved = json.loads(saved_file.read_text())
    except (OSError, ValueError):
      return f"{CHECKSUM_FILE} is unreadable"
    for name, sums in state_checksums(state).items():
      if name in saved and saved[name] != sums:
        return f"the array {name} does not match its checksum"
    return None

  def all_steps(self):
    return sorted(self._manager.all_steps())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def step_path(self, step: int) -> pathlib.Path:
    return self.directory / str(step)

  def restore_latest(self, template: Any, partial: bool = False,
                     set_aside_unreadable: bool = False) -> Tuple[Optional[Any], Optional[int]]:
    """Restores the newest checkpoint that loads, falling back to older ones.

    Args:
      template: a pytree with the target structure, shapes and dtypes.
      partial: `template` is a dict of some of the saved state's fields (e.g.
        `{"params": ..., "step": ...}`), and only those are read. Evaluation
        then loads checkpoints whose other fields (optimizer state) have
        another structure, e.g. from an older version of memjax.
      set_aside_unreadable: once one loads, move the newer ones that did not
        to `<directory>/../unreadable_checkpoints/<step>` (on process 0 only),
        so that training saves those steps again. For a resuming run;
        readers (evaluation, sampling) leave the directory as it is.

    Returns:
      `(state, step)`, or `(None, None)` when the directory holds no checkpoint.

    Raises:
      CheckpointError when checkpoints exist but none of them can be read.
    """
    steps = self.all_steps()
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    manager = self._manager
    if partial:
      args = ocp.args.PyTreeRestore(
          item=abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
          partial_restore=True)
      if self._partial_manager is None:
        self._partial_manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(read_only=True))
      manager = self._partial_manager
    else:
      args = ocp.args.StandardRestore(abstract)
    failures = []
    for step in reversed(steps):
      try:
        state = manager.restore(step, args=args)
        problem = self._checksum_mismatch(step, state)
      except Exception as error:  # orbax raises many types for damaged files.
        _quiet_failed_restore_leftovers()
        first_line = str(error).splitlines()[0].split(" See full TensorStore details")[0]
        problem = f"{type(error).__name__}: {first_line[:200]}"
      if problem is not None:
        message = (f"checkpoint {self.step_path(step)} is corrupt, unreadable or saved by code "
                   f"with another state structure ({problem}); trying the previous one")
        print(f"WARNING: {message}", flush=True)
        failures.append(step)
        continue
      if failures and set_aside_unreadable:
        self._set_aside(failures)
      return state, step
    if failures:
      raise CheckpointError(
          f"no readable checkpoint in {self.directory}: every one failed to restore "
          f"(steps {failures}, warnings above); move them away to start afresh, or use a "
          "new --workdir")
    return None, None

  def _set_aside(self, steps):
    """Moves step folders to `unreadable_checkpoints/` beside `directory` and reloads orbax."""
    if jax.process_index() == 0:
      target = self.directory.parent / "unreadable_checkpoints"
      target.mkdir(exist_ok=True)
      for step in steps:
        destination = target / str(step)
        suffix = 0
        while destination.exists():  # the same step may go bad twice
          suffix += 1
          destination = target / f"{step}.{suffix}"
        shutil.move(str(self.step_path(step)), str(destination))
        print(f"WARNING: moved unreadable checkpoint {self.step_path(step)} to {destination}",
              flush=True)
    if jax.process_count() > 1:  # the others must not list the folders before they are moved
      ocp.multihost.sync_global_processes("memjax_set_aside_unreadable_checkpoints")
    self._manager.reload()

  def close(self):
    self._manager.close()
    if self._partial_manager is not None:
      self._partial_manager.close()
