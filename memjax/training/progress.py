"""Training-loop bookkeeping that the checkpointed state does not hold.

`LoopRecord`: the host-side values a resumed run needs to carry on exactly as
an uninterrupted one (when each seed reached the target error, the last
screening step, the evaluation history), written as JSON beside the
checkpoints, one entry per checkpointed step, before that step's checkpoint.
A run resumed from step s reads the entry of step s. Keeping them out of the
orbax pytree keeps old checkpoints readable.

`NonfiniteWatch`: the longest NaN/Inf streak since the last host check. The
trainers look at the host only every `log_every` steps, and a streak that
starts and ends between two looks must still stop the run.
"""
import json
import os
import pathlib
from typing import Any, Dict, Iterable, Optional

import jax
import jax.numpy as jnp

from memjax.training import metrics as metrics_lib


class LoopRecord:
  """`<checkpoints>/../loop_record.json`: {step: values} for the checkpointed steps.

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
  """Longest NaN/Inf streak over the steps since the last `longest()`, one host sync per look.

  `add(streak)` takes each step's device-side streak counter (any shape, e.g.
  one per seed) and keeps a running maximum on the device: no wait, and no
  reference to the state's buffers, which the next (donating) step deletes.
  """

  def __init__(self):
    self._longest = None

  def add(self, streak: jax.Array) -> None:
    streak = jnp.max(streak)
    self._longest = streak if self._longest is None else jnp.maximum(self._longest, streak)

  def longest(self) -> int:
    if self._longest is None:
      return 0
    value, self._longest = int(jax.device_get(self._longest)), None
    return value
