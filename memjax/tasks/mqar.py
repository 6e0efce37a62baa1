"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology: Measuring and Improving
Recall in Efficient Language Models", sec. 3).

A sequence of `P` key/value pairs, filler, then every key once more in a random
order; at each queried key the model must output that key's value. Unlike the
single query of associative recall, one sequence asks for all `P` values, so the
task measures how many associations a memory holds at once: a state of `S`
floats cannot recall more pairs than it can store, which is why Zoology plots
accuracy against state size.

With `T = seg_len * num_segments` tokens and pair count `P` (per example):

    t:      0  1  2  3 ... 2P-1 | 2P .. T-2P-1 | T-2P  T-2P+1 ...  T-2   T-1
    input:  k1 v1 k2 v2 ...  vP | FILL ...     | k_q1  v_q1    ...  k_qP  v_qP
    target: (unscored)                         | v_q1  -       ...  v_qP  -

`q` is a random permutation of the pairs; only the query keys' positions are
scored (mask 1), so accuracy is the fraction of the `P` queries answered, chance
`1 / num_values`. Unlike Zoology's generator, which scatters the queries after
the pairs, here they all come at the end of the sequence, so every recall reaches
back over at least `T - 4P` filler tokens: segment models must carry the pairs
across segments rather than attend to them in the same window. Queries are fed
their value after the key (teacher forcing), as a language model reads them.

Token ids: 0 = FILL, keys 1..K, values K+1..K+V. Keys within a sequence are
distinct. `P` is drawn per example in `[min_pairs, num_pairs]` inside one
padded length, so every pair count trains and evaluates through one compiled
program. Pure and jit-able: a batch depends on its PRNG key alone.
"""
import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from memjax.tasks.long_range import TokenBatch

FILL_TOKEN = 0


@dataclasses.dataclass(frozen=True)
class MQARTask:
  """Attributes (config block `task`):
    seg_len: tokens per segment (the models' training window).
    num_segments: segments per sequence; `T = seg_len * num_segments >= 4 * num_pairs`.
    num_pairs: key/value pairs per sequence (the largest, when `min_pairs` is set).
    min_pairs: training draws the pair count uniformly in [min_pairs, num_pairs]
      (0: always `num_pairs`); evaluation always uses `num_pairs`.
    num_keys: distinct keys (>= num_pairs).
    num_values: distinct values (chance accuracy 1 / num_values).
  """
  seg_len: int = 32
  num_segments: int = 4
  num_pairs: int = 8
  min_pairs: int = 0
  num_keys: int = 64
  num_values: int = 64

  name = "mqar"

  def __post_init__(self):
    for field in ("seg_len", "num_segments", "num_pairs", "num_keys"):
      if int(getattr(self, field)) < 1:
        raise ValueError(f"task.{field}={getattr(self, field)} must be >= 1")
    if self.num_values < 2:
      raise ValueError(f"task.num_values={self.num_values} must be >= 2")
    if self.num_pairs > self.num_keys:
      raise ValueError(f"task.num_pairs={self.num_pairs} must be <= task.num_keys="
                       f"{self.num_keys} (keys in a sequence are distinct)")
    if not 0 <= self.min_pairs <= self.num_pairs:
      raise ValueError(f"task.min_pairs={self.min_pairs} must be in [0, task.num_pairs="
                       f"{self.num_pairs}] (0: always num_pairs)")
    if 4 * self.num_pairs > self.length:
      raise ValueError(f"task.num_pairs={self.num_pairs} pairs and their queries need "
                       f"{4 * self.num_pairs} tokens; task.seg_len * task.num_segments = "
                       f"{self.length}")

  @property
  def vocab_size(self) -> int:
    return 1 + self.num_keys + self.num_values

  @property
  def length(self) -> int:
    return self.seg_len * self.num_segments

  @property
  def chance(self) -> float:
    return 1.0 / self.num_values

  def sample(self, key: jax.Array, batch_size: int) -> TokenBatch:
    """`batch_size` training sequences, pair counts uniform in [min_pairs, num_pairs]."""
    count_key, content_key = jax.random.split(key)
    low = self.min_pairs or self.num_pairs
    num_pairs = jax.random.randint(count_key, (batch_size,), low, self.num_pairs + 1)
    return self.build(content_key, num_pairs)

  def evaluation_batch(self, key: jax.Array, batch_size: int,
                       num_pairs: Optional[int] = None) -> TokenBatch:
    """`batch_size` sequences of `num_pairs` (default `task.num_pairs`) pairs each."""
    num_pairs = self.num_pairs if num_pairs is None else num_pairs
    return self.build(key, jnp.full((batch_size,), num_pairs, jnp.int32))

  def build(self, key: jax.Array, num_pairs: jax.Array) -> TokenBatch:
    """Sequences with `num_pairs[b]` pairs (`[batch]` int, may be traced, each in
    [1, task.num_pairs])."""
    batch_size, most = num_pairs.shape[0], self.num_pairs
    key_key, value_key, order_key = jax.random.split(key, 3)
    keys = jax.vmap(lambda k: jax.random.permutation(k, self.num_keys)[:most])(
        jax.random.split(key_key, batch_size)) + 1
    values = jax.random.randint(value_key, (batch_size, most), 0, self.num_values) + 1 + \
        self.num_keys
    # A random order of each example's first P pairs: sorting uniforms, with the unused
    # slots pushed past the end.
    used = jnp.arange(most)[None, :] < num_pairs[:, None]
    order = jnp.argsort(jnp.where(used, jax.random.uniform(order_key, (batch_size, most)), 2.0),
                        axis=1)

    time = jnp.arange(self.length)[None, :]
    pairs_end = 2 * num_pairs[:, None]
    queries_start = self.length - 2 * num_pairs[:, None]
    in_pairs = time < pairs_end
    in_queries = time >= queries_start
    pair_index = jnp.where(in_pairs, time // 2, 0)
    query_offset = jnp.where(in_queries, time - queries_start, 0)
    query_index = jnp.take_along_axis(order, query_offset // 2, axis=1)
    index = jnp.where(in_queries, query_index, pair_index)
    is_key = jnp.where(in_queries, query_offset % 2 == 0, time % 2 == 0)
    pair_tokens = jnp.where(is_key, jnp.take_along_axis(keys, index, axis=1),
                            jnp.take_along_axis(values, index, axis=1))
    tokens = jnp.where(in_pairs | in_queries, pair_tokens, FILL_TOKEN)
    scored = in_queries & is_key
    targets = jnp.where(scored, jnp.take_along_axis(values, index, axis=1), 0)
    return TokenBatch(inputs=tokens.astype(jnp.int32), targets=targets.astype(jnp.int32),
                      mask=scored.astype(jnp.float32))
