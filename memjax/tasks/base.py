"""What every algorithmic task shares: the batch type, length checks and the bit-error metric.

Tasks are pure JAX generators: `task.sample(key, batch_size)` is a function of
its PRNG key alone, jit-able and vectorised (no Python loops over batch or
time). Variable lengths live inside one fixed padded length and a `mask`, so
training compiles once for all lengths.
"""
import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp


class SequenceBatch(NamedTuple):
  """A batch of input/target sequences, batch-major.

  Attributes:
    inputs: `[batch, time, input_size]` float32.
    targets: `[batch, time, output_size]` float32 in {0, 1}.
    mask: `[batch, time]` float32, 1 where the target counts.
    lengths: `[batch]` int32, each example's length parameter (sequence
      length, number of items, ...).
  """
  inputs: jax.Array
  targets: jax.Array
  mask: jax.Array
  lengths: jax.Array


@dataclasses.dataclass(frozen=True)
class AlgorithmicTask:
  """Base class. Subclasses set `input_size`, `output_size`, `padded_length` and `_build`.

  Attributes:
    min_length: smallest length drawn in training.
    max_length: largest length drawn in training.
  """
  min_length: int = 1
  max_length: int = 20

  name = "task"
  min_allowed_length = 1

  @property
  def input_size(self) -> int:
    raise NotImplementedError

  @property
  def output_size(self) -> int:
    raise NotImplementedError

  def padded_length(self, max_length: int) -> int:
    """Number of time steps that holds any example of length <= max_length."""
    raise NotImplementedError

  def _build(self, key: jax.Array, lengths: jax.Array, pad_length: int) -> SequenceBatch:
    raise NotImplementedError

  def sample(self, key: jax.Array, batch_size: int, min_length: Optional[int] = None,
             max_length: Optional[int] = None, pad_length: Optional[int] = None) -> SequenceBatch:
    """Draws `batch_size` examples with lengths uniform in [min_length, max_length].

    Args:
      key: PRNG key; the batch is a pure function of it.
      batch_size: number of examples.
      min_length / max_length: length range (default: the task's training range).
      pad_length: the length the time axis is padded for (default max_length);
        evaluating several lengths with one pad_length compiles once.

    Returns:
      A `SequenceBatch` with `padded_length(pad_length)` time steps.
    """
    min_length = self.min_length if min_length is None else min_length
    max_length = self.max_length if max_length is None else max_length
    pad_length = max_length if pad_length is None else pad_length
    if not self.min_allowed_length <= min_length <= max_length:
      raise ValueError(f"{self.name}: need {self.min_allowed_length} <= task.min_length "
                       f"({min_length}) <= task.max_length ({max_length})")
    if max_length > pad_length:
      raise ValueError(f"{self.name}: length {max_length} is beyond the padded maximum "
                       f"{pad_length} (raise pad_length / eval.pad_length)")
    if batch_size < 1:
      raise ValueError(f"{self.name}: batch_size must be >= 1, got {batch_size}")
    length_key, content_key = jax.random.split(key)
    lengths = jax.random.randint(length_key, (batch_size,), min_length, max_length + 1)
    return self._build(content_key, lengths, pad_length)

  def build(self, key: jax.Array, lengths: jax.Array, pad_length: int) -> SequenceBatch:
    """A batch with given per-example `lengths` `[batch]` (may be traced), padded for `pad_length`.

    Evaluating many lengths through one `pad_length` compiles once; lengths
    above `pad_length` are the caller's error (checked when concrete).
    """
    if not isinstance(lengths, jax.core.Tracer):
      longest = int(jnp.max(lengths))
      if longest > pad_length:
        raise ValueError(f"{self.name}: length {longest} is beyond the padded maximum {pad_length}")
    return self._build(key, jnp.asarray(lengths, jnp.int32), pad_length)


def random_bits(key: jax.Array, shape) -> jax.Array:
  """Uniform {0, 1} float32 array."""
  return jax.random.bernoulli(key, 0.5, shape).astype(jnp.float32)


def gather_steps(sequence: jax.Array, index: jax.Array) -> jax.Array:
  """sequence `[batch, length, width]`, index `[batch, time]` -> `[batch, time, width]`.

  Out-of-range indices are clipped; callers mask those steps.
  """
  index = jnp.clip(index, 0, sequence.shape[1] - 1)
  return jnp.take_along_axis(sequence, index[:, :, None], axis=1)


def bits_error_per_sequence(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
  """Number of wrongly predicted bits in each sequence (thresholding sigmoid at 0.5).

  Args:
    logits: `[batch, time, width]`.
    targets: `[batch, time, width]` in {0, 1}.
    mask: `[batch, time]`.

  Returns:
    `[batch]` float32 bit errors (the NTM paper's "cost per sequence" in bits).
  """
  predictions = (logits > 0).astype(jnp.float32)
  wrong = jnp.abs(predictions - targets) * mask[..., None]
  return jnp.sum(wrong, axis=(1, 2))
