"""A long-range recall task for segment-level memory: the answer lies segments back.

Each example is `num_segments * seg_len` tokens. The first segment opens with
`num_pairs` key/value pairs, then noise fills everything up to the last two
positions, which hold the query marker and one of the keys:

    t:      0  1  2  3 ... 2P-1 | 2P .. T-3 | T-2    T-1
    input:  k1 v1 k2 v2 ...  vP | noise     | QUERY  k_q
    target: (unscored)                             v_q  (at t = T-1)

Only the last position is scored. v_q lies at least
`(num_segments - 1) * seg_len - 2 * num_pairs + 1` tokens before the query, so a
model that sees only the current segment (`mem_len = 0`) is at chance,
1 / num_values, while Transformer-XL with a memory reaching back that far can
attend to it. With `num_pairs = 1` the key is redundant and the task is a
plain long-range copy; more pairs need key matching (an induction step).

Training gaps (`train_gap`): "longest" trains on the layout above, the gap
evaluation measures. "mixed" opens each training example's pairs at the start
of a segment drawn uniformly among the first `num_segments - 1`, so the answer
lies 1 to `num_segments - 1` segments back: a memory that must learn to carry
a value through several writes (the Recurrent Memory Transformer) first learns
it over one, as the curriculum over segment counts of Bulatov et al. (2022)
does, within one compiled sequence length. "any" draws among all `num_segments`,
so some examples hold the pairs in the query's own segment, where local
attention sees them and the model learns what a value looks like before it must
keep one: the kNN memory of the Memorizing Transformer, whose memory passes no
gradient back to the keys it stores, retrieves with what local attention
learned; the RMT's write tokens learn what to write. Evaluation always uses
the longest gap.

Token ids: 0 = QUERY, keys 1..K, values K+1..K+V, noise K+V+1..K+V+N.
Pure and jit-able: `sample(key, batch_size)` depends on its PRNG key only.
"""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

QUERY_TOKEN = 0
TRAIN_GAPS = ("longest", "mixed", "any")


class TokenBatch(NamedTuple):
  """Token sequences, batch-major.

  Attributes:
    inputs: `[batch, time]` int32.
    targets: `[batch, time]` int32 (the token to predict at each step).
    mask: `[batch, time]` float32, 1 where the target is scored.
  """
  inputs: jax.Array
  targets: jax.Array
  mask: jax.Array


@dataclasses.dataclass(frozen=True)
class LongRangeRecallTask:
  """Attributes: see the module docstring (config block `task`)."""
  seg_len: int = 16
  num_segments: int = 3
  num_pairs: int = 1
  num_keys: int = 8
  num_values: int = 8
  num_noise: int = 16
  train_gap: str = "longest"

  name = "long_range"

  def __post_init__(self):
    if self.num_segments < 2:
      raise ValueError(f"task.num_segments={self.num_segments} must be >= 2 for the answer to "
                       "lie in an earlier segment")
    if not 1 <= self.num_pairs <= self.num_keys:
      raise ValueError(f"task.num_pairs={self.num_pairs} must be in [1, task.num_keys="
                       f"{self.num_keys}] (keys are distinct)")
    if 2 * self.num_pairs > self.seg_len:
      raise ValueError(f"task.num_pairs={self.num_pairs} pairs do not fit in the first "
                       f"segment (task.seg_len={self.seg_len})")
    if self.num_values < 2 or self.num_noise < 1:
      raise ValueError("task.num_values must be >= 2 and task.num_noise >= 1")
    if self.train_gap not in TRAIN_GAPS:
      raise ValueError(f"task.train_gap={self.train_gap!r} must be 'longest' (the pairs open "
                       "the first segment), 'mixed' (a random earlier segment) or 'any' (a "
                       "random segment, the query's own included)")
    if self.train_gap == "any" and 2 * self.num_pairs + 2 > self.seg_len:
      raise ValueError(f"task.train_gap='any': task.num_pairs={self.num_pairs} pairs and the "
                       f"query do not fit in one segment (task.seg_len={self.seg_len})")

  @property
  def vocab_size(self) -> int:
    return 1 + self.num_keys + self.num_values + self.num_noise

  @property
  def length(self) -> int:
    return self.seg_len * self.num_segments

  @property
  def chance(self) -> float:
    return 1.0 / self.num_values

  @property
  def min_distance(self) -> int:
    """Fewest tokens between the answer's value and the scored position."""
    return self.length - 1 - (2 * self.num_pairs - 1)

  def sample(self, key: jax.Array, batch_size: int) -> TokenBatch:
    """`batch_size` training examples of `length` tokens (gaps as `train_gap`)."""
    return self._sample(key, batch_size, self.train_gap)

  def _sample(self, key: jax.Array, batch_size: int, train_gap: str) -> TokenBatch:
    # Five keys, not four and a fold_in: with JAX's partitionable threefry (the default),
    # fold_in(key, i) is split(key, n)[i], so a gap drawn from fold_in(key, 1) would repeat
    # the values' bits and tie each value to a gap. split(key, 5)[:4] is split(key, 4), so
    # the "longest" layout draws what it drew before.
    key_key, value_key, noise_key, query_key, gap_key = jax.random.split(key, 5)
    keys = jax.vmap(lambda k: jax.random.permutation(k, self.num_keys)[:self.num_pairs])(
        jax.random.split(key_key, batch_size)) + 1
    values = jax.random.randint(value_key, (batch_size, self.num_pairs), 0,
                                self.num_values) + 1 + self.num_keys
    noise_start = 1 + self.num_keys + self.num_values
    tokens = jax.random.randint(noise_key, (batch_size, self.length), noise_start,
                                noise_start + self.num_noise)
    pairs = jnp.stack([keys, values], axis=-1).reshape(batch_size, 2 * self.num_pairs)
    batch_index = jnp.arange(batch_size)
    if train_gap != "longest":  # the pairs open segment s, s uniform in [0, last]
      last = self.num_segments - (2 if train_gap == "mixed" else 1)
      segment = jax.random.randint(gap_key, (batch_size,), 0, last + 1)
      positions = segment[:, None] * self.seg_len + jnp.arange(2 * self.num_pairs)
      tokens = tokens.at[batch_index[:, None], positions].set(pairs)
    else:
      tokens = tokens.at[:, :2 * self.num_pairs].set(pairs)
    query = jax.random.randint(query_key, (batch_size,), 0, self.num_pairs)
    tokens = tokens.at[:, -2].set(QUERY_TOKEN)
    tokens = tokens.at[:, -1].set(keys[batch_index, query])
    targets = jnp.zeros_like(tokens).at[:, -1].set(values[batch_index, query])
    mask = jnp.zeros(tokens.shape, jnp.float32).at[:, -1].set(1.0)
    return TokenBatch(inputs=tokens.astype(jnp.int32), targets=targets.astype(jnp.int32),
                      mask=mask)

  def evaluation_batch(self, key: jax.Array, batch_size: int) -> TokenBatch:
    """Evaluation examples: the longest gap (pairs in the first segment), whatever
    `train_gap`; with "longest" they come from the training distribution."""
    return self._sample(key, batch_size, "longest")
