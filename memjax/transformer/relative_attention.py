"""Transformer-XL relative multi-head attention (Dai et al. 2019, sec. 3.3).

For query i (absolute position mlen + i of the current segment) and key j of
the concatenation `[memory; segment]` (klen = mlen + qlen keys), with the
relative distance i - j measured in the concatenation (d = mlen + i - j),

    A^rel_{i,j} = q_i^T k_j          (a) content
                + q_i^T r_{d}        (b) content-dependent position
                + u^T k_j            (c) global content bias
                + v^T r_{d}          (d) global position bias
              = (q_i + u)^T k_j + (q_i + v)^T r_d

with q = W_q h, k = W_{k,E} h~, r_d = W_{k,R} R_d, R the sinusoid of the
distance d, and u, v learned `[heads, head_dim]` vectors shared by all positions.

The (b)+(d) term is computed for every (query, distance) pair in one matmul
against the position rows ordered by decreasing distance (klen-1, ..., 0, and
one spare row for distance -1), and then the *rel-shift* trick (`rel_shift`)
moves row i left by qlen - 1 - i so that column j holds distance mlen + i - j,
an O(qlen klen) reshuffle instead of an O(qlen klen d) gather. The spare row
makes the matmul write the `[qlen, klen + 1]` array the trick reads, so the
shift is a contiguous slice XLA fuses into the score sum instead of a pad and
a copy (its values only reach masked, future keys).
"""
import functools
from typing import List, Optional, Sequence, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

# Masked scores get this instead of -inf, so a softmax over a fully masked row
# (never produced by our masks) would stay finite.
_MASK_VALUE = -1e30
_SINUSOID_BASE = 10000.0


def relative_distances(klen: int, clamp_len: Optional[int] = None,
                       spare_row: bool = False) -> jax.Array:
  """Distances `klen-1, ..., 1, 0` as float32 `[klen]`, clamped at `clamp_len` if given.

  `clamp_len` (Dai et al., released code) makes all distances beyond it share
  one encoding, so evaluation with a longer memory than training sees no unseen
  distance. `spare_row` appends distance -1 (`[klen + 1]`), the row `rel_shift`
  needs past distance 0; its scores only land on masked keys.
  """
  distances = jnp.arange(klen - 1, -2 if spare_row else -1, -1, dtype=jnp.float32)
  if clamp_len is not None and clamp_len >= 0:
    distances = jnp.minimum(distances, float(clamp_len))
  return distances


def sinusoid_encoding(distances: jax.Array, d_model: int) -> jax.Array:
  """R: `[n] -> [n, d_model]`, `[sin(d w_k), cos(d w_k)]` with w_k = 10000^(-2k/d_model)."""
  if d_model % 2:
    raise ValueError(f"model.d_model must be even for sinusoid encodings, got {d_model}")
  inverse_frequency = 1.0 / (_SINUSOID_BASE ** (jnp.arange(0, d_model, 2, dtype=jnp.float32)
                                                / d_model))
  angles = distances[:, None] * inverse_frequency[None, :]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def rel_shift(scores: jax.Array, klen: Optional[int] = None) -> jax.Array:
  """The rel-shift trick: `out[..., i, j] = scores[..., i, j + qlen - 1 - i]`.

  Args:
    scores: `[..., qlen, klen]`, column c holding distance klen - 1 - c, or
      `[..., qlen, klen + 1]` with a spare last column (distance -1) when
      `klen` is given.
    klen: number of keys; default `scores.shape[-1]` (no spare column).

  Returns:
    `[..., qlen, klen]` whose column j holds distance mlen + i - j for query i
    (mlen = klen - qlen). Entries with j > mlen + i (future keys) are garbage
    and must be masked by the caller.

  With a spare column (appended here as zeros when the caller has none), row i
  of the `[qlen, klen + 1]` array starts at flat index i (klen + 1); out[i, j]
  is then the flat element i klen + j + qlen - 1, i.e. `out` is one contiguous
  slice of the flattened array (no index arithmetic per element).
  """
  *batch_dims, qlen, width = scores.shape
  klen = width if klen is None else klen
  if width == klen:
    scores = jnp.pad(scores, [(0, 0)] * len(batch_dims) + [(0, 0), (0, 1)])
  elif width != klen + 1:
    raise ValueError(f"rel_shift: scores have {width} columns, expected klen={klen} or "
                     f"klen + 1 (spare column)")
  flat = scores.reshape(*batch_dims, qlen * (klen + 1))
  return jax.lax.slice_in_dim(flat, qlen - 1, qlen - 1 + qlen * klen,
                              axis=-1).reshape(*batch_dims, qlen, klen)


def causal_mask(qlen: int, mlen: int, same_length: bool = False,
                mem_len: Optional[int] = None) -> jax.Array:
  """Which keys each query may attend: `[qlen, mlen + qlen]` bool.

  Query i sees key j iff j <= mlen + i (memory and the past of its segment).
  With `same_length` (the released code's evaluation option) every query sees
  the same number of keys, the last `mem_len` positions up to and including
  itself, so the first and last query of a segment see equally long contexts.
  """
  klen = mlen + qlen
  query = jnp.arange(qlen)[:, None]
  key = jnp.arange(klen)[None, :]
  allowed = key <= query + mlen
  if same_length:
    mem_len = mlen if mem_len is None else mem_len
    if mem_len < 1:
      raise ValueError("model.same_length needs model.mem_len >= 1: with no memory each "
                       "query would see no key")
    mask_len = klen - mem_len
    shift = qlen - mask_len if mask_len > 0 else qlen
    allowed &= key > query - shift
  return allowed


def relative_scores(queries: jax.Array, keys: jax.Array, position_keys: jax.Array,
                    content_bias: jax.Array, position_bias: jax.Array,
                    scale: float = 1.0) -> jax.Array:
  """A^rel (terms a+b+c+d) times `scale`, with the rel-shift: `[batch, heads, qlen, klen]`.

  Arrays are head-major, so every product is a batched matmul over (batch, head)
  with no transposes (XLA's CPU matmuls run ~1.5x faster than with heads inside).
  `scale` multiplies the `[qlen, head_dim]` queries rather than the
  `[qlen, klen]` scores.

  Args:
    queries: q `[batch, heads, qlen, head_dim]`.
    keys: k `[batch, heads, klen, head_dim]`.
    position_keys: r = W_{k,R} R `[heads, klen, head_dim]`, rows for distances
      klen-1..0, optionally followed by the spare row for distance -1
      (`[heads, klen + 1, head_dim]`, see `relative_distances`), which saves a copy.
    content_bias: u `[heads, head_dim]`.
    position_bias: v `[heads, head_dim]`.
  """
  (scores,) = relative_score_blocks(queries, (keys,), position_keys, content_bias,
                                    position_bias, scale)
  return scores


def relative_score_blocks(queries: jax.Array, key_blocks: Sequence[jax.Array],
                          position_keys: jax.Array, content_bias: jax.Array,
                          position_bias: jax.Array, scale: float = 1.0) -> List[jax.Array]:
  """`relative_scores` for keys given as blocks along the key axis (e.g. memory, segment).

  Returns one `[batch, heads, qlen, klen_b]` array per block of
  `[batch, heads, klen_b, head_dim]` keys; concatenated they are
  `relative_scores` of the concatenated keys, without that copy.
  """
  klen = sum(block.shape[2] for block in key_blocks)
  # r broadcast over batch: the same (batch, head) matmul as the content term.
  # Written as "bhqd,hkd", XLA computes the transpose [h, k, q] and then copies
  # it (measured 1.5x slower at klen = 3800).
  position_keys = jnp.broadcast_to(position_keys, queries.shape[:1] + position_keys.shape)
  position = rel_shift(jnp.einsum("bhqd,bhkd->bhqk", (queries + position_bias[:, None]) * scale,
                                  position_keys), klen)
  content_queries = (queries + content_bias[:, None]) * scale
  blocks, start = [], 0
  for keys in key_blocks:
    end = start + keys.shape[2]
    blocks.append(jnp.einsum("bhqd,bhkd->bhqk", content_queries, keys)
                  + position[..., start:end])
    start = end
  return blocks


def masked_softmax(scores: jax.Array, mask: jax.Array) -> jax.Array:
  """Softmax over the last axis where `mask` (broadcastable to `scores`) is True."""
  return jax.nn.softmax(jnp.where(mask, scores, _MASK_VALUE), axis=-1)


class RelativeAttention(nn.Module):
  """Multi-head relative attention with memory; post-projection output `[batch, qlen, d_model]`.

  Attributes:
    num_heads: H.
    head_dim: d_head; the projections are `d_model -> H * d_head`.
  """
  num_heads: int
  head_dim: int

  def setup(self):
    width = self.num_heads * self.head_dim
    init = nn.initializers.normal(0.02)
    self.query = nn.Dense(width, use_bias=False, kernel_init=init)        # W_q
    self.key = nn.Dense(width, use_bias=False, kernel_init=init)          # W_{k,E}
    self.value = nn.Dense(width, use_bias=False, kernel_init=init)        # W_v
    self.position = nn.Dense(width, use_bias=False, kernel_init=init)     # W_{k,R}
    self.content_bias = self.param("content_bias", nn.initializers.zeros,
                                   (self.num_heads, self.head_dim))       # u
    self.position_bias = self.param("position_bias", nn.initializers.zeros,
                                    (self.num_heads, self.head_dim))      # v

  def _heads(self, x: jax.Array) -> jax.Array:
    """`[..., length, heads * head_dim]` -> head-major `[..., heads, length, head_dim]`."""
    x = x.reshape(x.shape[:-1] + (self.num_heads, self.head_dim))
    return jnp.swapaxes(x, -3, -2)

  def project_queries(self, inputs: jax.Array) -> jax.Array:
    """h `[batch, qlen, d_model]` -> q `[batch, heads, qlen, head_dim]`."""
    return self._heads(self.query(inputs))

  def project_keys_values(self, inputs: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """h~ `[batch, klen, d_model]` -> (k, v), each `[batch, heads, klen, head_dim]`."""
    return self._heads(self.key(inputs)), self._heads(self.value(inputs))

  def project_positions(self, encodings: jax.Array) -> jax.Array:
    """R `[klen, d_model]` -> r = W_{k,R} R `[heads, klen, head_dim]`."""
    return self._heads(self.position(encodings))

  def attend(self, queries: jax.Array, keys: Union[jax.Array, Sequence[jax.Array]],
             values: Union[jax.Array, Sequence[jax.Array]], position_keys: jax.Array,
             mask: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """softmax(A^rel / sqrt(d_head)) v, heads concatenated (before W_o).

    Args:
      queries: `[batch, heads, qlen, head_dim]`.
      keys, values: `[batch, heads, klen, head_dim]`, or tuples of blocks that
        concatenate to that along the key axis (e.g. `(memory, segment)`):
        the softmax then runs over all blocks without copying them into one
        array, which the cached evaluation path uses (`fast_eval.cached_step`).
      position_keys: `[heads, klen (+ 1 spare), head_dim]`.
      mask: `[batch, qlen, klen]` bool.

    Returns:
      (`[batch, qlen, heads * head_dim]`, probabilities `[batch, heads, qlen, klen]`).
    """
    key_blocks = tuple(keys) if isinstance(keys, (tuple, list)) else (keys,)
    value_blocks = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    if len(key_blocks) != len(value_blocks):
      raise ValueError(f"attend: {len(key_blocks)} key blocks but {len(value_blocks)} value blocks")
    block_scores = relative_score_blocks(queries, key_blocks, position_keys, self.content_bias,
                                         self.position_bias, scale=self.head_dim ** -0.5)
    starts = [0]
    for block in key_blocks:
      starts.append(starts[-1] + block.shape[2])
    # Empty blocks (e.g. a memory of 0 slots) would make an empty max.
    nonempty = [n for n, block in enumerate(key_blocks) if block.shape[2]]
    value_blocks = [value_blocks[n] for n in nonempty]
    block_scores = [jnp.where(mask[:, None, :, starts[n]:starts[n + 1]], block_scores[n],
                              _MASK_VALUE) for n in nonempty]
    # softmax(s) v = (exp(s - max s) v) / sum exp(s - max s): dividing the
    # [qlen, head_dim] product instead of the [qlen, klen] weights saves a pass
    # over the scores. `probabilities` is only computed where a caller uses it.
    top = functools.reduce(jnp.maximum, [jnp.max(scores, axis=-1, keepdims=True)
                                         for scores in block_scores])
    top = jax.lax.stop_gradient(top)
    weights = [jnp.exp(scores - top) for scores in block_scores]
    normaliser = sum(jnp.sum(w, axis=-1, keepdims=True) for w in weights)
    attended = sum(jnp.einsum("bhqk,bhkd->bhqd", w, block)
                   for w, block in zip(weights, value_blocks)) / normaliser
    attended = jnp.swapaxes(attended, 1, 2)
    probabilities = (weights[0] if len(weights) == 1
                     else jnp.concatenate(weights, axis=-1)) / normaliser
    return attended.reshape(attended.shape[:2] + (-1,)), probabilities

  def __call__(self, inputs: jax.Array, memory: jax.Array, encodings: jax.Array,
               mask: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """Attention of the segment over `[memory; segment]`.

    Args:
      inputs: h `[batch, qlen, d_model]`, this layer's input for the segment.
      memory: `[batch, mlen, d_model]`, the previous segments' inputs to this layer
        (already under stop_gradient).
      encodings: R `[mlen + qlen (+ 1 spare), d_model]` (see `relative_distances`).
      mask: `[batch, qlen, mlen + qlen]` bool.

    Returns:
      (`[batch, qlen, heads * head_dim]`, probabilities `[batch, heads, qlen, klen]`).
    """
    extended = jnp.concatenate([memory, inputs], axis=1)
    keys, values = self.project_keys_values(extended)
    return self.attend(self.project_queries(inputs), keys, values,
                       self.project_positions(encodings), mask)

  def frozen_content_attention(self, inputs: jax.Array, memory: jax.Array,
                               memory_mask: Optional[jax.Array] = None) -> jax.Array:
    """Content-only attention softmax(q k^T / sqrt(d_head)) v with stop-gradient weights.

    The Compressive Transformer's attention-reconstruction loss (Rae et al.
    2019, eq. 1) compares this over the old memory and over its compression;
    the stop-gradient on W_q, W_k, W_v keeps that loss from training the model.

    Args:
      inputs: `[batch, qlen, d_model]`.
      memory: `[batch, n, d_model]`.
      memory_mask: optional `[batch, n]` bool.

    Returns:
      `[batch, qlen, heads * head_dim]`.
    """
    params = jax.lax.stop_gradient(self.variables["params"])
    queries = self._heads(inputs @ params["query"]["kernel"])
    keys = self._heads(memory @ params["key"]["kernel"])
    values = self._heads(memory @ params["value"]["kernel"])
    scores = jnp.einsum("bhqd,bhkd->bhqk", queries, keys) * (self.head_dim ** -0.5)
    if memory_mask is None:
      memory_mask = jnp.ones(memory.shape[:2], bool)
    probabilities = masked_softmax(scores, memory_mask[:, None, None, :])
    attended = jnp.einsum("bhqk,bhkd->bqhd", probabilities, values)
    return attended.reshape(attended.shape[:2] + (-1,))
