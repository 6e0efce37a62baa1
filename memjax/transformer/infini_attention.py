"""Infini-attention (Munkhdalai et al. 2024, "Leave No Context Behind"): a compressive memory.

Every layer keeps, per head, an associative matrix M `[d_key, d_value]` and a
normaliser z `[d_key]`, whatever the context length. For segment s with
Q, K, V `[qlen, d_head]` (the layer's own projections) and sigma = ELU + 1:

    retrieval (eq. 3):  A_mem = sigma(Q) M_{s-1} / (sigma(Q) z_{s-1})          [qlen, d_value]
    linear update (eq. 4):
                        M_s = M_{s-1} + sigma(K)^T V
    delta update (eq. 5):
                        M_s = M_{s-1} + sigma(K)^T (V - sigma(K) M_{s-1} / (sigma(K) z_{s-1}))
    normaliser:         z_s = z_{s-1} + sum_t sigma(K_t)
    gate (eq. 6):       A = sigmoid(beta) A_mem + (1 - sigmoid(beta)) A_dot

with A_dot the local causal softmax attention within the segment (Transformer-XL's
relative attention, local.py), beta a learned scalar per head (initialised to 0:
an even mix), and A, heads concatenated, going through W_o and the rest of the
layer as in XL. The segment is read from the memory of the earlier segments
before it is written. An empty memory (z = 0) reads 0 (`_EPSILON`).

Gradients flow through M and z across segments: the `long_range` family
backpropagates through all of an example's segments (the paper's training);
in `char_lm` through the `train.segments_per_step` segments of a step (the carry
entering a step holds no gradient).
"""
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.linear_memory import elu_feature_map
from memjax.transformer.local import LocalSegmentModel, reset_rows
from memjax.transformer.model import XLLayer

UPDATE_RULES = ("linear", "delta")
_EPSILON = 1e-6  # sigma(Q) z = 0 for an empty memory: it then reads 0 instead of 0 / 0


def retrieve(memory: jax.Array, normaliser: jax.Array, query_features: jax.Array) -> jax.Array:
  """A_mem = sigma(Q) M / (sigma(Q) z) (eq. 3).

  Args:
    memory: M `[..., d_key, d_value]`.
    normaliser: z `[..., d_key]`.
    query_features: sigma(Q) `[..., qlen, d_key]`.

  Returns:
    `[..., qlen, d_value]`.
  """
  numerator = query_features @ memory
  denominator = jnp.einsum("...qk,...k->...q", query_features, normaliser)[..., None]
  return numerator / (denominator + _EPSILON)


def linear_update(memory: jax.Array, normaliser: jax.Array, key_features: jax.Array,
                  values: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """M_s = M + sigma(K)^T V (eq. 4), z_s = z + sum_t sigma(K_t).

  Args:
    memory: M `[..., d_key, d_value]`; normaliser z `[..., d_key]`.
    key_features: sigma(K) `[..., qlen, d_key]`; values V `[..., qlen, d_value]`.
  """
  return (memory + jnp.swapaxes(key_features, -1, -2) @ values,
          normaliser + jnp.sum(key_features, axis=-2))


def delta_update(memory: jax.Array, normaliser: jax.Array, key_features: jax.Array,
                 values: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """M_s = M + sigma(K)^T (V - sigma(K) M / (sigma(K) z)) (eq. 5), z_s as `linear_update`.

  Only the part of V not already retrieved by its own key is written, so a
  (key, value) binding stored twice does not grow.
  """
  new_values = values - retrieve(memory, normaliser, key_features)
  return (memory + jnp.swapaxes(key_features, -1, -2) @ new_values,
          normaliser + jnp.sum(key_features, axis=-2))


class InfiniState(NamedTuple):
  """Infini-attention carry.

  Attributes:
    memory: M `[batch, layers, heads, d_key, d_value]`.
    normaliser: z `[batch, layers, heads, d_key]`.
  """
  memory: jax.Array
  normaliser: jax.Array


class InfiniLayer(XLLayer):
  """XL's layer whose attention output mixes local attention with the compressive memory."""
  update_rule: str = "delta"

  def setup(self):
    super().setup()
    self.memory_gate = self.param("memory_gate", nn.initializers.zeros, (self.num_heads,))  # beta

  def __call__(self, inputs: jax.Array, memory: jax.Array, normaliser: jax.Array,
               encodings: jax.Array, mask: jax.Array):
    """One layer over one segment.

    Args:
      inputs: `[batch, qlen, d_model]`.
      memory: M_{s-1} `[batch, heads, d_key, d_value]`; normaliser z_{s-1} `[batch, heads, d_key]`.
      encodings: R `[qlen + 1, d_model]`; mask `[batch, qlen, qlen]` causal.

    Returns:
      (h^n `[batch, qlen, d_model]`, M_s, z_s).
    """
    mixed, memory, normaliser = self.attend_with_memory(inputs, memory, normaliser, encodings,
                                                        mask)
    return self.finish(inputs, mixed), memory, normaliser

  def attend_with_memory(self, inputs: jax.Array, memory: jax.Array, normaliser: jax.Array,
                         encodings: jax.Array, mask: jax.Array):
    """A (eq. 6), heads concatenated `[batch, qlen, heads * d_value]`, and M_s, z_s."""
    attention = self.attention
    queries = attention.project_queries(inputs)                 # [batch, heads, qlen, d_head]
    keys, values = attention.project_keys_values(inputs)
    local, _ = attention.attend(queries, keys, values, attention.project_positions(encodings),
                                mask)                            # [batch, qlen, heads * d_head]
    from_memory = retrieve(memory, normaliser, elu_feature_map(queries))
    gate = jax.nn.sigmoid(self.memory_gate)[:, None, None]
    local = jnp.swapaxes(local.reshape(local.shape[:2] + (self.num_heads, -1)), 1, 2)
    mixed = gate * from_memory + (1.0 - gate) * local           # [batch, heads, qlen, d_head]
    update = delta_update if self.update_rule == "delta" else linear_update
    memory, normaliser = update(memory, normaliser, elu_feature_map(keys), values)
    mixed = jnp.swapaxes(mixed, 1, 2)
    return mixed.reshape(mixed.shape[:2] + (-1,)), memory, normaliser


class InfiniTransformer(LocalSegmentModel):
  """A Transformer whose every layer has Infini-attention; constant memory per head.

  Attributes (besides `LocalSegmentModel`'s):
    update_rule: "delta" (eq. 5, the paper's better one) or "linear" (eq. 4).
  """
  update_rule: str = "delta"

  def setup(self):
    if self.update_rule not in UPDATE_RULES:
      raise ValueError(f"model.update_rule={self.update_rule!r} is not one of {UPDATE_RULES}")
    self.setup_shared()
    self.layers = [InfiniLayer(self.d_model, self.num_heads, self.head_size, self.d_ff,
                               self.dropout, self.deterministic, self.update_rule,
                               name=f"layer_{n}") for n in range(self.num_layers)]

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> InfiniState:
    """Empty memories for `input_shape = (batch, segment_length)`."""
    del rng  # the empty memory is deterministic
    shape = (input_shape[0], self.num_layers, self.num_heads, self.head_size, self.head_size)
    return InfiniState(memory=jnp.zeros(shape, jnp.float32),
                       normaliser=jnp.zeros(shape[:-1], jnp.float32))

  def __call__(self, carry: InfiniState, tokens: jax.Array,
               resets: Optional[jax.Array] = None) -> Tuple[InfiniState, jax.Array]:
    """One segment: tokens `[batch, qlen]` -> (carry, logits `[batch, qlen, vocab_size]`).

    `resets` `[batch]` bool empties that example's memory first (a new document).
    """
    batch_size, qlen = tokens.shape
    carry = reset_rows(resets, self.initialize_carry(None, (batch_size, qlen)), carry)
    encodings = self.encodings(qlen)
    mask = self.causal_mask(batch_size, qlen)
    hidden = self.drop(self.embed(tokens))
    memories, normalisers = [], []
    for n, layer in enumerate(self.layers):
      hidden, memory, normaliser = layer(hidden, carry.memory[:, n], carry.normaliser[:, n],
                                         encodings, mask)
      memories.append(memory)
      normalisers.append(normaliser)
    carry = InfiniState(memory=jnp.stack(memories, axis=1),
                        normaliser=jnp.stack(normalisers, axis=1))
    return carry, self.readout(self.drop(hidden))
