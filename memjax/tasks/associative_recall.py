"""Associative recall (Graves et al. 2014, sec. 4.3): given one item, return the item that followed it."""
import dataclasses

import jax
import jax.numpy as jnp

from memjax.tasks.base import AlgorithmicTask, SequenceBatch, random_bits


@dataclasses.dataclass(frozen=True)
class AssociativeRecallTask(AlgorithmicTask):
  """A list of K items (each `item_length` bit vectors, preceded by an item
  delimiter), then a query delimiter and a copy of item q; the target is item q+1.

  The length parameter is the number of items K (paper: 2..6). With
  S = item_length + 1 steps per item, the layout is

      t:      0 .. S*K-1                  | S*K         | S*K+1 .. S*K+I | S*K+I+1 .. S*K+2I
      input:  [delim, item_k bits...]*K   | query delim | item_q bits    | 0
      target: 0                           | 0           | 0              | item_{q+1} bits

  T = S * pad_length + 1 + 2 * item_length.
  """
  num_bits: int = 6
  item_length: int = 3
  min_length: int = 2
  max_length: int = 6

  name = "associative_recall"
  min_allowed_length = 2  # a query needs a following item

  @property
  def input_size(self) -> int:
    return self.num_bits + 2

  @property
  def output_size(self) -> int:
    return self.num_bits

  def padded_length(self, max_length: int) -> int:
    return (self.item_length + 1) * max_length + 1 + 2 * self.item_length

  def _build(self, key, lengths, pad_length) -> SequenceBatch:
    batch = lengths.shape[0]
    bits_key, query_key = jax.random.split(key)
    items = random_bits(bits_key, (batch, pad_length, self.item_length, self.num_bits))
    # Query q uniform in [0, K-2], so that item q+1 exists.
    query = jnp.floor(jax.random.uniform(query_key, (batch,)) * (lengths - 1)).astype(jnp.int32)
    step = self.item_length + 1
    time = jnp.arange(self.padded_length(pad_length))[None, :]
    num_items = lengths[:, None]
    query_start = step * num_items  # the query delimiter's step

    def item_bits(item_index, position):
      """Bits of item `item_index[b, t]` at `position[b, t]`, shape [batch, time, bits]."""
      item_index = jnp.clip(item_index, 0, pad_length - 1)
      position = jnp.clip(position, 0, self.item_length - 1)
      return items[jnp.arange(batch)[:, None], item_index, position]

    in_list = time < query_start
    list_position = time % step  # 0 = item delimiter
    list_bits = item_bits(time // step, list_position - 1) * (in_list & (list_position > 0))[..., None]
    in_query = (time > query_start) & (time <= query_start + self.item_length)
    query_bits = item_bits(query[:, None], time - query_start - 1) * in_query[..., None]
    in_answer = ((time > query_start + self.item_length)
                 & (time <= query_start + 2 * self.item_length))
    answer_bits = item_bits(query[:, None] + 1, time - query_start - self.item_length - 1)
    item_delimiter = (in_list & (list_position == 0)).astype(jnp.float32)[..., None]
    query_delimiter = (time == query_start).astype(jnp.float32)[..., None]
    return SequenceBatch(
        inputs=jnp.concatenate([list_bits + query_bits, item_delimiter, query_delimiter], -1),
        targets=answer_bits * in_answer[..., None],
        mask=in_answer.astype(jnp.float32),
        lengths=lengths)
