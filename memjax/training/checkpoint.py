"""Checkpoints with orbax: save every N steps, keep the last K, resume from the newest good one.

A checkpoint that fails to restore (truncated or corrupt files) is reported
by path and the next older one is tried, so a run killed mid-write or with a
damaged disk still resumes. A resuming trainer also moves the unreadable ones
to `<workdir>/unreadable_checkpoints/` (`set_aside_unreadable=True`): left in
place, orbax would never save those steps again (it skips steps at or below
its newest), and every later restore would warn about them anew.
"""
import pathlib
import shutil
from typing import Any, Optional, Tuple

import jax
import orbax.checkpoint as ocp
from absl import logging


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
    """Saves `state` as step `step` (blocking, so a kill never leaves it half-written)."""
    saved = self._manager.save(step, args=ocp.args.StandardSave(state), force=force)
    self._manager.wait_until_finished()
    return saved

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
        another structure, e.g. from an older version of the trainer.
      set_aside_unreadable: once one loads, move the newer ones that did not
        to `<directory>/../unreadable_checkpoints/<step>` (on process 0 only),
        so that training saves those steps again. For a resuming trainer;
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
      except Exception as error:  # orbax raises many types for damaged files.
        message = (f"checkpoint {self.step_path(step)} is corrupt, unreadable or saved by code "
                   f"with another state structure "
                   f"({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                   "trying the previous one")
        logging.warning(message)
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
