"""Repeat copy (Graves et al. 2014, sec. 4.2): copy a sequence a given number of times, then an end marker."""
import dataclasses

import jax
import jax.numpy as jnp

from memjax.tasks.base import AlgorithmicTask, SequenceBatch, gather_steps, random_bits


@dataclasses.dataclass(frozen=True)
class RepeatCopyTask(AlgorithmicTask):
  """Inputs: L bit vectors, then a delimiter channel and, at the same step,
  the repeat count n on its own channel (as n / max_repeats); targets: the sequence n times, then an end marker
  on an extra output channel.

      t:       0 .. L-1 | L                  | L+1 .. L+nL             | L+nL+1
      input:   bits     | n / max_repeats    | 0                       | 0
      target:  0        | 0                  | bits[(t-L-1) mod L]     | end marker

  T = pad_length + 2 + pad_length * max_repeats. Lengths L are drawn in
  [min_length, max_length], repeats n in [min_repeats, max_repeats].
  """
  num_bits: int = 8
  min_length: int = 1
  max_length: int = 10
  min_repeats: int = 1
  max_repeats: int = 10

  name = "repeat_copy"

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits + 1

  def padded_length(self, max_length: int) -> int:
    return max_length + 2 + max_length * self.max_repeats

  def _build(self, key, lengths, pad_length) -> SequenceBatch:
    if not 1 <= self.min_repeats <= self.max_repeats:
      raise ValueError(f"repeat_copy: need 1 <= task.min_repeats ({self.min_repeats}) <= "
                       f"task.max_repeats ({self.max_repeats})")
    batch = lengths.shape[0]
    bits_key, repeats_key = jax.random.split(key)
    bits = random_bits(bits_key, (batch, pad_length, self.num_bits))
    repeats = jax.random.randint(repeats_key, (batch,), self.min_repeats, self.max_repeats + 1)
    time = jnp.arange(self.padded_length(pad_length))[None, :]
    length, num_repeats = lengths[:, None], repeats[:, None]
    output_end = length + num_repeats * length  # last output step with bits
    is_input = time < length
    is_output_bits = (time > length) & (time <= output_end)
    is_end_marker = time == output_end + 1
    input_bits = gather_steps(bits, jnp.broadcast_to(time, is_input.shape)) * is_input[..., None]
    delimiter = (time == length).astype(jnp.float32)[..., None]
    repeat_channel = delimiter * (num_repeats / self.max_repeats)[..., None]
    output_index = jnp.mod(time - length - 1, length)
    target_bits = gather_steps(bits, output_index) * is_output_bits[..., None]
    return SequenceBatch(
        inputs=jnp.concatenate([input_bits, delimiter, repeat_channel], axis=-1),
        targets=jnp.concatenate([target_bits, is_end_marker[..., None].astype(jnp.float32)], -1),
        mask=(is_output_bits | is_end_marker).astype(jnp.float32),
        lengths=lengths)
