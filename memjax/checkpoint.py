"""Checkpoints with orbax: save every N steps, keep the last K, resume from the newest good one.

A step folder `<directory>/<step>/` holds orbax's `default/` (the arrays) and memjax's
`memjax_checksums.json`: per array the wrapping 32-bit sums of its bit patterns, plain and
position-weighted (`state_checksums`), since orbax stores array chunks without checksums
and bytes flipped inside one would restore silently as other numbers. A caller's record
(the loop's history and family values as of that step) may go beside them as
`memjax_loop_record.json`, whose SHA-256 the checksum file also holds. Both are written to
`<step>.memjax_pending.json` before orbax saves the step and moved in after, so that a save
killed in between loses nothing: the next writing run moves them in.

A checkpoint is restored only when all of it checks out: the folder holds `default/` and
the checksum file, orbax reads the arrays, every array matches its checksum, and the record
matches its hash. Anything else (an emptied folder, truncated or flipped files, a missing or
garbage checksum file, missing orbax metadata, a garbage record) is reported in one line
naming the folder, and the next older checkpoint is tried. A resuming run also moves the
unusable ones to `<workdir>/unreadable_checkpoints/` (`set_aside_unreadable=True`): left
in place, orbax would never save those steps again (it skips steps at or below its newest),
and every later restore would warn about them anew.

A save that runs out of disk space removes what it wrote and raises `DiskFullError`: one
line naming the directory and the space a checkpoint needs (orbax's own report is a page
of thread tracebacks). The writing run's `Checkpointer(..., remove_unfinished=True)` also
removes the `<step>.orbax-checkpoint-tmp` folders of saves that never completed.
"""
import contextlib
import errno
import gc
import hashlib
import json
import logging
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
RECORD_FILE = "memjax_loop_record.json"
# Where orbax writes a step before renaming it to `<step>` (`<step>.orbax-checkpoint-tmp...`).
_UNFINISHED_MARK = ".orbax-checkpoint-tmp"
# `<step>.memjax_pending.json`: a step's checksums and record, written before orbax saves it.
_PENDING_SUFFIX = ".memjax_pending.json"
# What orbax's unfinished reads raise when finalised after a failed restore.
_FAILED_RESTORE_LEFTOVERS = ("Event loop is closed", "Encountered error while reading array index")
# How a full disk (or quota) shows in errors that carry no errno: tensorstore's messages.
_DISK_FULL_TEXTS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT),
                    f"os_error_code='{errno.ENOSPC}'")
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


def _quiet_failed_save_leftovers() -> None:
  """Drops the tracebacks a save that found the disk full leaves behind, from now on in this
  process: the unfinished writes' callbacks (as for a failed restore), and asyncio's "Task
  exception was never retrieved" for each write task whose error is the full disk. The
  `DiskFullError` line says what they would; any other record reaches asyncio's handlers."""
  _quiet_failed_restore_leftovers()
  logger = logging.getLogger("asyncio")
  if any(getattr(known, "memjax_disk_full_quiet", False) for known in logger.filters):
    return

  def keep(record):
    return not (record.exc_info and is_disk_full(record.exc_info[1]))

  keep.memjax_disk_full_quiet = True
  logger.addFilter(keep)


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


def compile_checksums(state: Any) -> None:
  """Compiles `state_checksums`'s program for `state`'s shapes (arrays or
  `jax.ShapeDtypeStruct`s), e.g. in a thread while something else compiles."""
  _checksums.lower(state).compile()


def state_checksums(state: Any) -> Dict[str, List[int]]:
  """{leaf path: [sum, weighted sum]} of a pytree of arrays (every process gets the same)."""
  sums = jax.tree_util.tree_flatten_with_path(_checksums(state))[0]
  # Paths as `params/layer_0/kernel`: the same for the loop's NamedTuple fields and for a
  # partial restore's dict keys.
  return {jax.tree_util.keystr(path, simple=True, separator="/"):
          [int(x) for x in np.asarray(jax.device_get(value))] for path, value in sums}


def is_disk_full(error: BaseException) -> bool:
  """`error`, or one it was raised from or during, says the disk (or quota) is full."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    if any(text in str(error) for text in _DISK_FULL_TEXTS):
      return True
    error = error.__cause__ or error.__context__
  return False


def _disk_usage(path: pathlib.Path) -> int:
  """Bytes the files under `path` take on disk (whole blocks, as `du` counts; 0 when gone)."""
  return sum(file.stat().st_blocks * 512 for file in path.rglob("*") if file.is_file())


def _readable_size(num_bytes: float) -> str:
  for unit in ("bytes", "KB", "MB", "GB"):
    if num_bytes < 1024 or unit == "GB":
      return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
    num_bytes /= 1024
  raise AssertionError("unreachable")


def _file_hash(path: pathlib.Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _held_orbax_reports():
  """Holds back what absl logging (orbax's) and unraisable exceptions report meanwhile.

  A save that fails on a full disk makes each of orbax's writer threads log its traceback
  (a page each), and the writes still in flight raise "Event loop is closed" as orbax
  closes its event loop (those are held; other unraisables pass). The caller drops them
  when the disk is full, since its one line says all of it, and replays them (`_replay`)
  otherwise. Yields `(log records, unraisables)`.
  """
  logger = logging.getLogger("absl")
  records, unraisables = [], []

  def hold(record):
    records.append(record)
    return False

  previous_hook = sys.unraisablehook

  def hold_leftover(unraisable):
    if str(unraisable.exc_value).startswith(_FAILED_RESTORE_LEFTOVERS):
      unraisables.append(unraisable)
    else:
      previous_hook(unraisable)

  logger.addFilter(hold)
  sys.unraisablehook = hold_leftover
  try:
    yield records, unraisables
  finally:
    logger.removeFilter(hold)
    sys.unraisablehook = previous_hook


def _replay(held) -> None:
  records, unraisables = held
  for record in records:
    logging.getLogger("absl").handle(record)
  for unraisable in unraisables:
    sys.unraisablehook(unraisable)


class CheckpointError(RuntimeError):
  """No usable checkpoint could be restored although some exist, or one could not be saved."""


class DiskFullError(CheckpointError):
  """A save ran out of disk space; what it wrote is removed, older checkpoints are intact."""


class Checkpointer:
  """Thin wrapper over `orbax.checkpoint.CheckpointManager` for one train-state pytree.

  Args:
    directory: where step folders go (`<workdir>/checkpoints`).
    max_to_keep: number of newest checkpoints kept.
    remove_unfinished: remove the `<step>.orbax-checkpoint-tmp` folders of saves that
      never completed (killed, or out of disk space). Only for the run that writes here:
      a reader would delete a save in flight.
  """

  def __init__(self, directory: str, max_to_keep: int = 3, remove_unfinished: bool = False):
    self.directory = pathlib.Path(directory).absolute()
    if remove_unfinished and jax.process_index() == 0 and self.directory.is_dir():
      for unfinished in sorted(self.directory.glob(f"*{_UNFINISHED_MARK}*")):
        shutil.rmtree(unfinished, ignore_errors=True)
        print(f"removed {unfinished}: a checkpoint save that did not complete", flush=True)
      self._finish_interrupted_saves()
    # One unnamed item, fixed here: left to orbax, the first step folder it reads decides
    # the layout, and an emptied folder would make it refuse every later (intact) one.
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=False),
        item_handlers=ocp.StandardCheckpointHandler())
    # Partial restores read through their own read-only manager: a manager binds
    # its item to one kind of restore (standard or pytree).
    self._partial_manager = None

  def save(self, step: int, state: Any, force: bool = False,
           record: Optional[Dict[str, Any]] = None) -> bool:
    """Saves `state` as step `step`, blocking, with its checksums (and `record`, JSON) inside.

    Those are written beside the step folder first and moved in once orbax has saved it;
    after a kill in between, the next writing run moves them in (a reader finds the step
    without checksums and uses the one before).

    Raises:
      DiskFullError (one line) when the disk or quota is full; the unfinished step is
      removed, so the newest checkpoint left is a complete one.
    """
    with _held_orbax_reports() as held:
      try:
        self._write_pending(step, state, record)
        saved = self._manager.save(step, args=ocp.args.StandardSave(state), force=force)
        self._manager.wait_until_finished()
        if saved:
          self._write_beside(step)
        elif jax.process_index() == 0:
          self._pending_path(step).unlink(missing_ok=True)
      except Exception as error:  # orbax and tensorstore raise several types for ENOSPC
        if not is_disk_full(error):
          _replay(held)
          raise
        _quiet_failed_save_leftovers()
        # orbax's abandoned writes are finalised now, while held: left to the interpreter's
        # shutdown, each prints a traceback (its cleanup can no longer import).
        gc.collect()
        raise self._disk_full(step, state) from None
    _replay(held)
    return saved

  def _pending_path(self, step: int) -> pathlib.Path:
    return self.directory / f"{step}{_PENDING_SUFFIX}"

  def _write_pending(self, step: int, state: Any, record: Optional[Dict[str, Any]]) -> None:
    """Writes `<step>.memjax_pending.json` (checksums, record) before orbax saves the step: its
    folder appears complete at once, and a kill before `_write_beside` leaves these beside it."""
    sums = state_checksums(state)  # on every process: a collective
    if jax.process_index() != 0:
      return
    record_text = None if record is None else json.dumps(record, sort_keys=True) + "\n"
    if record_text is not None:
      sums[RECORD_FILE] = hashlib.sha256(record_text.encode()).hexdigest()
    pending = self._pending_path(step)
    partial = pending.with_suffix(".tmp")
    partial.write_text(json.dumps({"checksums": sums, "record": record_text}) + "\n")
    os.replace(partial, pending)

  def _write_beside(self, step: int) -> None:
    """Moves the pending checksums and record of `step` into its folder (the record first: a
    record without checksums is ignored, checksums without their record are corrupt)."""
    if jax.process_index() != 0:
      return
    pending = self._pending_path(step)
    content = json.loads(pending.read_text())
    folder = self.step_path(step)
    for name, text in ((RECORD_FILE, content["record"]),
                       (CHECKSUM_FILE, json.dumps(content["checksums"], sort_keys=True) + "\n")):
      if text is not None:
        partial = (folder / name).with_suffix(".tmp")
        partial.write_text(text)
        os.replace(partial, folder / name)
    pending.unlink()

  def _finish_interrupted_saves(self) -> None:
    """For the writing run, on process 0: completes the steps whose save was killed between
    orbax's rename and `_write_beside`, and removes pending files no complete step needs."""
    for pending in sorted(self.directory.glob(f"*{_PENDING_SUFFIX}")):
      step = pending.name[:-len(_PENDING_SUFFIX)]
      folder = self.directory / step
      if step.isdigit() and (folder / "default").is_dir() and not (
          folder / CHECKSUM_FILE).exists():
        try:
          self._write_beside(int(step))
          continue
        except (OSError, ValueError, KeyError):  # a pending file cut short: the step is corrupt
          pass
      pending.unlink(missing_ok=True)

  def _disk_full(self, step: int, state: Any) -> DiskFullError:
    """Removes what the failed save of `step` wrote; the error saying how much space to free."""
    folder = self.step_path(step)
    if jax.process_index() == 0:
      for unfinished in [folder, *self.directory.glob(f"{step}{_UNFINISHED_MARK}*")]:
        shutil.rmtree(unfinished, ignore_errors=True)
      for pending in (self._pending_path(step), self._pending_path(step).with_suffix(".tmp")):
        pending.unlink(missing_ok=True)
    self._manager.reload()
    complete = self.all_steps()
    if complete:
      needed = _disk_usage(self.step_path(complete[-1]))
      resume = f"resume from checkpoint {complete[-1]}"
    else:
      needed = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state))
      resume = "start afresh"
    # "More" than is free now: a save needed more than that, and the last one is kept meanwhile.
    free = shutil.disk_usage(self.directory).free
    return DiskFullError(
        f"no space left on the disk of {self.directory.parent} to save checkpoint {step} (one "
        f"takes about {_readable_size(needed)}, {_readable_size(free)} is free now): free at "
        f"least {_readable_size(needed)} more and relaunch to {resume}")

  def _damage(self, step: int) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """`(saved checksums, None)` for a step folder that looks whole, else `(None, what is
    wrong)`: checked before orbax reads it, so a wreck costs no orbax traceback."""
    folder = self.step_path(step)
    if not folder.is_dir() or not any(folder.iterdir()):
      return None, "the folder is empty"
    if not (folder / "default").is_dir():
      return None, "its default/ folder (the arrays) is missing"
    try:
      saved = json.loads((folder / CHECKSUM_FILE).read_text())
    except FileNotFoundError:
      return None, f"{CHECKSUM_FILE} is missing (memjax writes it with every checkpoint)"
    except (OSError, ValueError):
      return None, f"{CHECKSUM_FILE} is unreadable"
    if not isinstance(saved, dict):
      return None, f"{CHECKSUM_FILE} is unreadable"
    record_path = folder / RECORD_FILE
    if RECORD_FILE in saved or record_path.exists():
      try:
        if saved.get(RECORD_FILE) != _file_hash(record_path):
          return None, f"{RECORD_FILE} does not match its checksum"
      except OSError:
        return None, f"{RECORD_FILE} is missing"
    return saved, None

  @staticmethod
  def _checksum_mismatch(saved: Dict[str, Any], state: Any) -> Optional[str]:
    """Names the first restored leaf whose checksum differs from (or is absent in) `saved`."""
    for name, sums in state_checksums(state).items():
      if name not in saved:
        return f"{CHECKSUM_FILE} has no checksum for the array {name}"
      if saved[name] != sums:
        return f"the array {name} does not match its checksum"
    return None

  def record(self, step: int) -> Optional[Dict[str, Any]]:
    """The record saved with `step` (None: saved without one, e.g. by an older memjax).

    Raises:
      CheckpointError when it does not match its checksum (it did when the step restored).
    """
    saved, problem = self._damage(step)
    if problem is not None:
      raise CheckpointError(f"checkpoint {self.step_path(step)} changed since it was "
                            f"restored: {problem}")
    path = self.step_path(step) / RECORD_FILE
    return json.loads(path.read_text()) if RECORD_FILE in saved else None

  def all_steps(self):
    return sorted(self._manager.all_steps())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def step_path(self, step: int) -> pathlib.Path:
    return self.directory / str(step)

  def restore_latest(self, template: Any, partial: bool = False,
                     set_aside_unreadable: bool = False) -> Tuple[Optional[Any], Optional[int]]:
    """Restores the newest checkpoint that loads and checks out, falling back to older ones.

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
            self.directory, options=ocp.CheckpointManagerOptions(read_only=True),
            item_handlers=ocp.PyTreeCheckpointHandler())
      manager = self._partial_manager
    else:
      args = ocp.args.StandardRestore(abstract)
    failures, warnings = [], []
    for step in reversed(steps):
      saved, problem = self._damage(step)
      if problem is None:
        try:
          state = manager.restore(step, args=args)
          problem = self._checksum_mismatch(saved, state)
        except Exception as error:  # orbax raises many types for damaged files.
          _quiet_failed_restore_leftovers()
          first_line = str(error).splitlines()[0].split(" See full TensorStore details")[0]
          problem = f"{type(error).__name__}: {first_line[:200]}"
      if problem is not None:
        failures.append(step)
        warnings.append(f"WARNING: checkpoint {self.step_path(step)} is corrupt, unreadable or "
                        f"saved by code with another state structure ({problem})")
        if not set_aside_unreadable:  # else said once it is known where the folder goes
          print(f"{warnings[-1]}; trying the previous one", flush=True)
        continue
      if failures and set_aside_unreadable:
        self._set_aside(failures, warnings)
      return state, step
    if failures:
      if set_aside_unreadable:
        print("\n".join(warnings), flush=True)
      raise CheckpointError(
          f"no readable checkpoint in {self.directory}: every one failed to restore "
          f"(steps {failures}, warnings above); move them away to start afresh, or use a "
          "new --workdir")
    return None, None

  def restore(self, step: int, template: Any) -> Optional[Any]:
    """The state saved at `step` (structure, shapes and dtypes of `template`), or None when it
    does not load or does not match its checksums."""
    saved, problem = self._damage(step)
    if problem is not None:
      return None
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    try:
      state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception:  # orbax raises many types for damaged files.
      _quiet_failed_restore_leftovers()
      return None
    return None if self._checksum_mismatch(saved, state) is not None else state

  def _set_aside(self, steps: List[int], warnings: List[str]) -> None:
    """Moves step folders to `unreadable_checkpoints/` beside `directory` and reloads orbax;
    prints each step's warning, with where its folder went, as one line."""
    if jax.process_index() == 0:
      target = self.directory.parent / "unreadable_checkpoints"
      target.mkdir(exist_ok=True)
      for step, warning in zip(steps, warnings):
        destination = target / str(step)
        suffix = 0
        while destination.exists():  # the same step may go bad twice
          suffix += 1
          destination = target / f"{step}.{suffix}"
        shutil.move(str(self.step_path(step)), str(destination))
        print(f"{warning}; moved unreadable checkpoint to {destination}, resuming from an "
              "older one", flush=True)
    if jax.process_count() > 1:  # the others must not list the folders before they are moved
      ocp.multihost.sync_global_processes("memjax_set_aside_unreadable_checkpoints")
    self._manager.reload()

  def close(self):
    self._manager.close()
    if self._partial_manager is not None:
      self._partial_manager.close()
