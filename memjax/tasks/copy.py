"""Copy (Graves et al. 2014, sec. 4.1): read a random binary sequence, then write it back."""
import dataclasses

import jax.numpy as jnp

from memjax.tasks.base import AlgorithmicTask, SequenceBatch, gather_steps, random_bits


@dataclasses.dataclass(frozen=True)
class CopyTask(AlgorithmicTask):
  """Inputs: L vectors of `num_bits` bits, then a delimiter on its own channel;
  targets: the same L vectors, at steps L+1..2L.

  Time layout for length L (padded to T = 2 * pad_length + 1):

      t:       0 .. L-1 | L         | L+1 .. 2L     | padding
      input:   bits     | delimiter | 0             | 0
      target:  0        | 0         | bits[t-L-1]   | 0 (mask 0)
  """
  num_bits: int = 8

  name = "copy"

  @property
  def input_size(self) -> int:
    return self.num_bits + 1

  @property
  def output_size(self) -> int:
    return self.num_bits

  def padded_length(self, max_length: int) -> int:
    return 2 * max_length + 1

  def _build(self, key, lengths, pad_length) -> SequenceBatch:
    batch = lengths.shape[0]
    bits = random_bits(key, (batch, pad_length, self.num_bits))
    time = jnp.arange(self.padded_length(pad_length))[None, :]
    length = lengths[:, None]
    is_input = time < length
    is_output = (time > length) & (time <= 2 * length)
    input_bits = gather_steps(bits, jnp.broadcast_to(time, is_input.shape)) * is_input[..., None]
    delimiter = (time == length).astype(jnp.float32)[..., None]
    targets = gather_steps(bits, time - length - 1) * is_output[..., None]
    return SequenceBatch(
        inputs=jnp.concatenate([input_bits, delimiter], axis=-1),
        targets=targets,
        mask=is_output.astype(jnp.float32),
        lengths=lengths)
