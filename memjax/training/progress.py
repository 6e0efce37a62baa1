"""The loop's periodic work and bookkeeping, as small objects.

- `Periodic`: fires at multiples of `every` steps, as clu's `PeriodicAction` does. clu
  itself is not used: importing its `periodic_actions` or `metric_writers` imports
  TensorFlow (clu 0.0.12), which memjax does not install.
- `ProgressReport`: the progress line, with the rate and ETA of the last interval only
  (a cumulative average counts compilation: a 30-second run's first ETA said 25 minutes).
- `LoopRecord`: the host values a resumed run needs to carry on exactly as an unbroken one
  (evaluation history, when each seed reached a target, ...), as JSON beside the
  checkpoints, one entry per checkpointed step (out of the orbax pytree, so checkpoints
  stay readable when a family's record changes).
- `NonfiniteWatch`: the longest NaN/Inf streak since the host last looked; the loop looks
  every `log_every` steps, and a streak between two looks must still stop the run.
"""
import contextlib
import json
import os
import pathlib
import time
from typing import Any, Dict, Iterable, Optional, Tuple

import jax
import jax.numpy as jnp

from memjax.training import metrics as metrics_lib


class Periodic:
  """True at steps that are multiples of `every` (never for `every` = 0)."""

  def __init__(self, every: int):
    self.every = int(every)

  def __call__(self, step: int) -> bool:
    return bool(self.every) and step % self.every == 0


class ProgressReport:
  """Progress lines: rate and ETA over the interval since the previous line.

  Time spent in evaluations and checkpoint saves (`paused()`) is left out, so the
  rate is the training speed and an evaluation's compilation does not skew the ETA.

  Args:
    num_steps: the run's last step (for the ETA).
    unit: what a step is ("step", "epoch").
    first_step: the step the launch starts from.
  """

  def __init__(self, num_steps: int, unit: str, first_step: int):
    self.num_steps, self.unit = num_steps, unit
    self.start = time.time()
    self._previous: Optional[Tuple[int, float]] = None  # set once the first step has run
    self.first_step = first_step
    self.compile_seconds = 0.0
    self._paused_seconds = 0.0

  @contextlib.contextmanager
  def paused(self):
    """Leaves the time of the enclosed block out of the rate."""
    start = time.time()
    try:
      yield
    finally:
      self._paused_seconds += time.time() - start

  def first_step_done(self, step: int) -> str:
    """After the first step (blocked on): its time, mostly compilation, is left out of rates."""
    now = time.time()
    self.compile_seconds = now - self.start
    self._previous = (step, now)
    self._paused_seconds = 0.0
    return f"compiled; the first {self.unit} took {self.compile_seconds:.1f}s"

  def rate(self, step: int) -> float:
    """Steps per second since the previous line (or since the first step); resets the interval."""
    now = time.time()
    previous_step, previous_time = self._previous or (self.first_step, self.start)
    self._previous = (step, now)
    seconds, self._paused_seconds = now - previous_time - self._paused_seconds, 0.0
    return (step - previous_step) / max(seconds, 1e-9)

  def line(self, step: int, rate: float, elapsed: float, details: str) -> str:
    eta = (self.num_steps - step) / rate if rate > 0 else float("inf")
    eta_text = metrics_lib.format_duration(eta) if eta != float("inf") else "?"
    return (f"{self.unit} {step}/{self.num_steps} | {details} | {rate:.2f} {self.unit}s/s | "
            f"{elapsed:.0f}s | ETA {eta_text}")


class LoopRecord:
  """`<workdir>/loop_record.json`: {step: values} for the checkpointed steps.

  Args:
    workdir: the run's workdir.
    enabled: write (process 0); every process reads.
  """

  FILE_NAME = "loop_record.json"

  def __init__(self, workdir: pathlib.Path, enabled: bool = True):
    self.path = pathlib.Path(workdir) / self.FILE_NAME
    self.enabled = enabled

  def _read(self) -> Dict[str, Any]:
    if not self.path.exists():
      return {}
    try:
      return json.loads(self.path.read_text())
    except (OSError, ValueError) as error:  # a damaged record costs exactness, not the run
      print(f"WARNING: {self.path} is unreadable ({error}); resuming without it", flush=True)
      return {}

  def save(self, step: int, values: Dict[str, Any], keep_steps: Iterable[int] = ()) -> None:
    """Records `values` for `step`, dropping steps not in `keep_steps` (atomic replace)."""
    if not self.enabled:
      return
    keep = {str(s) for s in keep_steps} | {str(step)}
    record = {k: v for k, v in self._read().items() if k in keep}
    record[str(step)] = metrics_lib.to_python(values)
    temporary = self.path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, self.path)

  def load(self, step: Optional[int]) -> Optional[Dict[str, Any]]:
    """The values recorded for `step`, or None (no record: a run from before it existed)."""
    if step is None:
      return None
    return self._read().get(str(step))


class NonfiniteWatch:
  """Longest NaN/Inf streak over the steps since the last `look()`, one host sync per look.

  `add(streak, step)` takes each step's device-side streak counters (`[num_seeds]`)
  and the number of updates done, and keeps running values on the device: no
  wait, and no reference to the state's buffers, which the next (donating) step
  deletes. For streaks that reached `limit`, it keeps the first update of the
  earliest (the parameters before that update are the last ones known good).
  """

  _NEVER = 2**31 - 1

  def __init__(self, limit: int):
    self.limit = limit
    self._longest = None
    self._began = None

  def add(self, streak: jax.Array, step: jax.Array) -> None:
    longest = jnp.max(streak)
    began = jnp.min(jnp.where(streak >= self.limit, step - streak, self._NEVER))
    if self._longest is None:
      self._longest, self._began = longest, began
    else:
      self._longest = jnp.maximum(self._longest, longest)
      self._began = jnp.minimum(self._began, began)

  def look(self) -> Tuple[int, Optional[int]]:
    """(longest streak, first update of a streak that reached the limit or None); resets."""
    if self._longest is None:
      return 0, None
    longest, began = (int(x) for x in jax.device_get((self._longest, self._began)))
    self._longest = self._began = None
    return longest, (None if began == self._NEVER else began)
