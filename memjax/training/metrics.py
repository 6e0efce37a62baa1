"""Metrics: TensorBoard event files (tensorboardX), a readable log and `results.json`."""
import json
import pathlib
import time
from typing import Any, Dict, Mapping, Optional

import numpy as np


def to_python(value: Any) -> Any:
  if isinstance(value, Mapping):
    return {str(k): to_python(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_python(v) for v in value]
  array = np.asarray(value) if hasattr(value, "shape") or isinstance(value, np.generic) else None
  if array is not None:
    return array.tolist()
  return value


class MetricWriter:
  """Writes scalars to `<workdir>/tensorboard` and lines to `<workdir>/log.txt`.

  Only the writer with `enabled=True` writes (process 0 on multi-host runs).
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.workdir = pathlib.Path(workdir)
    self.enabled = enabled
    self._summary = None
    self._log = None
    if enabled:
      from tensorboardX import SummaryWriter  # Lazy: protobuf import is slow-ish.
      self._summary = SummaryWriter(str(self.workdir / "tensorboard"))
      self._log = open(self.workdir / "log.txt", "a", buffering=1)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    for name, value in scalars.items():
      value = np.asarray(value)
      if value.size == 1:  # a scalar, or the one seed of a single-seed run (no /seed0 tag)
        self._summary.add_scalar(name, float(value.reshape(())), step)
      else:  # one value per seed
        for seed, seed_value in enumerate(value.reshape(-1)):
          self._summary.add_scalar(f"{name}/seed{seed}", float(seed_value), step)
    self.log(f"step {step} " + json.dumps(to_python(dict(scalars))))

  def write_text(self, tag: str, markdown: str, step: int = 0) -> None:
    """A markdown text summary (TensorBoard's Text tab), e.g. the config or a results table."""
    if self.enabled:
      self._summary.add_text(tag, markdown, step)

  def write_hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float],
                    step: int = 0) -> None:
    """The config as hyperparameters (TensorBoard's HParams tab) with the run's final metrics,
    in this run's own event file (tensorboardX's `add_hparams` would open a sub-run)."""
    if not self.enabled:
      return
    from tensorboardX.summary import hparams as hparams_summary
    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
              for k, v in hparams.items() if v is not None}
    for summary in hparams_summary(values, dict(metrics)):
      self._summary.file_writer.add_summary(summary)
    for name, value in metrics.items():
      self._summary.add_scalar(name, float(value), step)

  def write_image(self, tag: str, png_path: str, step: int = 0) -> None:
    """A PNG file as an image summary (TensorBoard's Images tab)."""
    if not self.enabled:
      return
    import matplotlib.image  # lazy: only runs that draw plots pay for matplotlib
    image = matplotlib.image.imread(png_path)[..., :3]  # [height, width, RGB] floats in [0, 1]
    self._summary.add_image(tag, image, step, dataformats="HWC")

  def log(self, line: str) -> None:
    if self.enabled:
      self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

  def flush(self):
    if self.enabled:
      self._summary.flush()

  def close(self) -> None:
    if self.enabled:
      self._summary.close()
      self._log.close()


def write_results(workdir: str, results: Dict[str, Any], enabled: bool = True) -> Optional[str]:
  """Writes `<workdir>/results.json` (numpy and jax arrays become lists)."""
  if not enabled:
    return None
  path = pathlib.Path(workdir) / "results.json"
  path.write_text(json.dumps(to_python(results), indent=2, sort_keys=True) + "\n")
  return str(path)


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  minutes, seconds = divmod(seconds, 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
