"""Priority sort (Graves et al. 2014, sec. 4.5): output the highest-priority vectors, sorted."""
import dataclasses

import jax
import jax.numpy as jnp

from memjax.tasks.base import AlgorithmicTask, SequenceBatch, gather_steps, random_bits


@dataclasses.dataclass(frozen=True)
class PrioritySortTask(AlgorithmicTask):
  """L bit vectors, each with a priority uniform in [-1, 1] on an extra
  channel, then a delimiter; the target is the `num_outputs` (at most L)
  highest-priority vectors in descending order of priority (paper: L = 20, 16 out).

      t:      0 .. L-1             | L         | L+1 .. L+P
      input:  bits, priority       | delimiter | 0
      target: 0                    | 0         | sorted bits

  The length parameter is L; T = 2 * pad_length + 1 holds any P <= L.
  """
  num_bits: int = 8
  min_length: int = 20
  max_length: int = 20
  num_outputs: int = 16

  name = "priority_sort"

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits

  def padded_length(self, max_length: int) -> int:
    return 2 * max_length + 1

  def _build(self, key, lengths, pad_length) -> SequenceBatch:
    batch = lengths.shape[0]
    bits_key, priority_key = jax.random.split(key)
    bits = random_bits(bits_key, (batch, pad_length, self.num_bits))
    priorities = jax.random.uniform(priority_key, (batch, pad_length), minval=-1.0, maxval=1.0)
    length = lengths[:, None]
    valid = jnp.arange(pad_length)[None, :] < length
    # Padding sorts last; argsort of -priority gives descending order.
    order = jnp.argsort(jnp.where(valid, -priorities, jnp.inf), axis=1)
    sorted_bits = jnp.take_along_axis(bits, order[:, :, None], axis=1)
    num_outputs = jnp.minimum(length, self.num_outputs)
    time = jnp.arange(self.padded_length(pad_length))[None, :]
    is_input = time < length
    is_output = (time > length) & (time <= length + num_outputs)
    index = jnp.broadcast_to(time, is_input.shape)
    input_bits = gather_steps(bits, index) * is_input[..., None]
    priority_channel = gather_steps(priorities[..., None], index) * is_input[..., None]
    delimiter = (time == length).astype(jnp.float32)[..., None]
    return SequenceBatch(
        inputs=jnp.concatenate([input_bits, priority_channel, delimiter], axis=-1),
        targets=gather_steps(sorted_bits, time - length - 1) * is_output[..., None],
        mask=is_output.astype(jnp.float32),
        lengths=lengths)
