"""The Memorizing Transformer (Wu et al., ICLR 2022): kNN attention over a large memory.

One layer (`memory_layer`) keeps, per head, a FIFO memory of the (key, value)
pairs of earlier segments, `[memory_size, d_head]` each, and each query also
attends to its top-k keys there (sec. 3):

    q^ = q / ||q||,  k^ = k / ||k||                        normalised (sec. 3.2)
    s_i = g q^ . k^_i for the k memory keys of largest s_i  top-k (exact or approximate)
    A_mem = sum_i softmax(s)_i v_i                          [qlen, d_head]
    A = sigmoid(b_g) A_mem + (1 - sigmoid(b_g)) A_dot       b_g: learned per head

where A_dot is the layer's local causal attention within the segment
(Transformer-XL's relative attention, local.py), g a learned per-head scale
(exp of a parameter initialised to log `scale_init`, by default log sqrt(d_head);
normalised dot products lie in [-1, 1], so without it the top-k softmax would
stay flat: for one of k retrieved keys to take most of the weight, g must exceed
about log(k) / (1 - cos), cos its neighbours' similarity) and A,
heads concatenated, goes through W_o and the rest of XL's layer. After the
segment its normalised keys and values are appended under stop-gradient (the
memory is not differentiable, as in the paper) and the oldest pairs fall out
when more than `memory_size` are held. A document boundary (`resets`) empties
the memory, as XL's memory is emptied; slots not yet filled are never retrieved,
and a query with an empty memory retrieves A_mem = 0.

`top_k = "exact"` uses `jax.lax.top_k`; `"approx"` uses `jax.lax.approx_max_k`
(the accelerator's approximate search; on CPU it is exact). Scores are computed
for every memory slot, `[batch, heads, qlen, memory_size]`.
"""
import math
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.transformer.local import LocalSegmentModel, reset_rows
from memjax.transformer.model import XLLayer

TOP_K_METHODS = ("exact", "approx")
_MASK_VALUE = -1e30         # scores of empty slots; never retrieved while a real one remains
_APPROX_RECALL_TARGET = 0.95  # approx_max_k's default
_NORM_EPSILON = 1e-12        # only keeps a zero vector finite: small q are normalised exactly


class KNNMemory(NamedTuple):
  """The kNN memory of the memory layer, oldest pairs first.

  Attributes:
    keys: normalised k^ `[batch, heads, memory_size, d_head]`.
    values: v `[batch, heads, memory_size, d_head]`.
    valid: `[batch, memory_size]` bool, True where a slot holds a pair.
  """
  keys: jax.Array
  values: jax.Array
  valid: jax.Array


def l2_normalise(x: jax.Array) -> jax.Array:
  """x / ||x|| over the last axis."""
  return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + _NORM_EPSILON)


def knn_attention(queries: jax.Array, memory: KNNMemory, scale: jax.Array, num_neighbours: int,
                  method: str = "exact") -> jax.Array:
  """A_mem: softmax over the top-k memory keys of each normalised query.

  Args:
    queries: q^ `[batch, heads, qlen, d_head]`, normalised.
    memory: `KNNMemory` with `memory_size >= num_neighbours` slots.
    scale: g `[heads]`.
    num_neighbours: k.
    method: "exact" (`jax.lax.top_k`) or "approx" (`jax.lax.approx_max_k`).

  Returns:
    `[batch, heads, qlen, d_head]`; 0 for a query whose memory is empty.
  """
  scores = jnp.einsum("bhqd,bhmd->bhqm", queries, memory.keys) * scale[:, None, None]
  scores = jnp.where(memory.valid[:, None, None, :], scores, _MASK_VALUE)
  if method == "approx":
    top_scores, indices = jax.lax.approx_max_k(scores, num_neighbours,
                                               recall_target=_APPROX_RECALL_TARGET)
  else:
    top_scores, indices = jax.lax.top_k(scores, num_neighbours)
  found = top_scores > _MASK_VALUE / 2                          # [batch, heads, qlen, k]
  weights = jax.nn.softmax(jnp.where(found, top_scores, _MASK_VALUE), axis=-1) * found
  # values [b, h, M, d] indexed by [b, h, q, k] -> [b, h, q, k, d], per (batch, head).
  neighbours = jax.vmap(jax.vmap(lambda values, index: values[index]))(memory.values, indices)
  return jnp.einsum("bhqk,bhqkd->bhqd", weights, neighbours)


def push(memory: KNNMemory, keys: jax.Array, values: jax.Array) -> KNNMemory:
  """FIFO write: the last memory_size pairs of [memory o SG(segment)].

  keys, values `[batch, heads, qlen, d_head]` (keys normalised).
  """
  size = memory.valid.shape[1]
  keys, values = jax.lax.stop_gradient(keys), jax.lax.stop_gradient(values)
  valid = jnp.ones(keys.shape[:1] + keys.shape[2:3], bool)
  return KNNMemory(keys=jnp.concatenate([memory.keys, keys], axis=2)[:, :, -size:],
                   values=jnp.concatenate([memory.values, values], axis=2)[:, :, -size:],
                   valid=jnp.concatenate([memory.valid, valid], axis=1)[:, -size:])


class MemorizingState(NamedTuple):
  """Memorizing Transformer carry: `memory`, the memory layer's `KNNMemory`."""
  memory: KNNMemory


class KNNLayer(XLLayer):
  """XL's layer whose attention output mixes local attention with kNN retrieval."""
  num_neighbours: int = 32
  top_k: str = "exact"
  scale_init: float = 0.0  # g at initialisation (0: sqrt(d_head))

  def setup(self):
    super().setup()
    self.memory_gate = self.param("memory_gate", nn.initializers.zeros, (self.num_heads,))  # b_g
    log_scale = (math.log(self.scale_init) if self.scale_init > 0
                 else 0.5 * math.log(self.head_dim))
    self.log_scale = self.param("log_scale", nn.initializers.constant(log_scale),
                                (self.num_heads,))                                         # log g

  def __call__(self, inputs: jax.Array, memory: KNNMemory, encodings: jax.Array,
               mask: jax.Array) -> Tuple[jax.Array, KNNMemory]:
    """inputs `[batch, qlen, d_model]`, mask `[batch, qlen, qlen]` -> (h^n, updated memory)."""
    mixed, memory = self.attend_with_memory(inputs, memory, encodings, mask)
    return self.finish(inputs, mixed), memory

  def attend_with_memory(self, inputs: jax.Array, memory: KNNMemory, encodings: jax.Array,
                         mask: jax.Array) -> Tuple[jax.Array, KNNMemory]:
    """A, heads concatenated `[batch, qlen, heads * d_head]`, and the memory after the write."""
    attention = self.attention
    queries = attention.project_queries(inputs)                 # [batch, heads, qlen, d_head]
    keys, values = attention.project_keys_values(inputs)
    local, _ = attention.attend(queries, keys, values, attention.project_positions(encodings),
                                mask)                            # [batch, qlen, heads * d_head]
    retrieved = knn_attention(l2_normalise(queries), memory, jnp.exp(self.log_scale),
                              self.num_neighbours, self.top_k)
    gate = jax.nn.sigmoid(self.memory_gate)[:, None, None]
    local = jnp.swapaxes(local.reshape(local.shape[:2] + (self.num_heads, -1)), 1, 2)
    mixed = jnp.swapaxes(gate * retrieved + (1.0 - gate) * local, 1, 2)
    return mixed.reshape(mixed.shape[:2] + (-1,)), push(memory, l2_normalise(keys), values)


class MemorizingTransformer(LocalSegmentModel):
  """A local Transformer with one kNN-augmented layer (Wu et al. 2022).

  Attributes (besides `LocalSegmentModel`'s):
    memory_size: (key, value) pairs held per head (FIFO).
    num_neighbours: k, the top-k retrieved per query (<= memory_size).
    memory_layer: index of the kNN layer (negative counts from the top; -1: the last).
    top_k: "exact" | "approx".
    scale_init: the retrieval scale g at initialisation (0: sqrt(d_head)).
  """
  memory_size: int = 256
  num_neighbours: int = 32
  memory_layer: int = -1
  top_k: str = "exact"
  scale_init: float = 0.0

  @property
  def memory_index(self) -> int:
    return self.memory_layer % self.num_layers

  def setup(self):
    if not 1 <= self.num_neighbours <= self.memory_size:
      raise ValueError(f"model.num_neighbours={self.num_neighbours} must be in [1, "
                       f"model.memory_size={self.memory_size}]")
    if not -self.num_layers <= self.memory_layer < self.num_layers:
      raise ValueError(f"model.memory_layer={self.memory_layer} is not a layer of "
                       f"model.num_layers={self.num_layers}")
    if self.top_k not in TOP_K_METHODS:
      raise ValueError(f"model.top_k={self.top_k!r} is not one of {TOP_K_METHODS}")
    if not (math.isfinite(self.scale_init) and self.scale_init >= 0):
      raise ValueError(f"model.scale_init={self.scale_init} must be >= 0 (0: sqrt(d_head))")
    self.setup_shared()
    fields = (self.d_model, self.num_heads, self.head_size, self.d_ff, self.dropout,
              self.deterministic)
    self.layers = [KNNLayer(*fields, self.num_neighbours, self.top_k, self.scale_init,
                            name=f"layer_{n}")
                   if n == self.memory_index else XLLayer(*fields, name=f"layer_{n}")
                   for n in range(self.num_layers)]

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> MemorizingState:
    """An empty memory for `(batch, segment_length)`."""
    del rng
    shape = (input_shape[0], self.num_heads, self.memory_size, self.head_size)
    return MemorizingState(memory=KNNMemory(keys=jnp.zeros(shape, jnp.float32),
                                            values=jnp.zeros(shape, jnp.float32),
                                            valid=jnp.zeros(shape[:1] + shape[2:3], bool)))

  def __call__(self, carry: MemorizingState, tokens: jax.Array,
               resets: Optional[jax.Array] = None) -> Tuple[MemorizingState, jax.Array]:
    """One segment: tokens `[batch, qlen]` -> (carry, logits `[batch, qlen, vocab_size]`).

    `resets` `[batch]` bool empties that example's memory first (a new document).
    """
    batch_size, qlen = tokens.shape
    carry = reset_rows(resets, self.initialize_carry(None, (batch_size, qlen)), carry)
    encodings = self.encodings(qlen)
    mask = self.causal_mask(batch_size, qlen)
    no_cache = jnp.zeros((batch_size, 0, self.d_model), jnp.float32)
    hidden = self.drop(self.embed(tokens))
    memory = carry.memory
    for n, layer in enumerate(self.layers):
      if n == self.memory_index:
        hidden, memory = layer(hidden, memory, encodings, mask)
      else:
        hidden, _ = layer(hidden, no_cache, encodings, mask)
    return MemorizingState(memory=memory), self.readout(self.drop(hidden))
