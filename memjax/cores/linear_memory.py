"""Fast-weight memories as cores: linear attention and the delta rule.

A softmax-free attention layer is a recurrent network whose state is a matrix
of fast weights (Katharopoulos et al. 2020, "Transformers are RNNs", sec. 3.4;
Schlag et al. 2021, "Linear Transformers Are Secretly Fast Weight Programmers").
Per head, with a feature map phi, query, key `[d_key]` and value `[d_value]`:

  Linear attention (Katharopoulos et al. 2020, eqs. 18-20; phi(x) = elu(x) + 1):

    M_t = M_{t-1} + phi(k_t) v_t^T                      M `[d_key, d_value]`
    z_t = z_{t-1} + phi(k_t)                            z `[d_key]`
    y_t = phi(q_t)^T M_t / (phi(q_t)^T z_t)             y `[d_value]`

  Delta rule (Schlag et al. 2021, eqs. 23-26, with their sum normalisation
  phi(x) / sum_j phi(x)_j, which keeps ||phi(k)||_1 = 1 so that a write with
  beta = 1 replaces the value stored under phi(k)):

    v-bar_t = M_{t-1}^T phi(k_t)                        the value now under phi(k_t)
    M_t     = M_{t-1} + beta_t phi(k_t) (v_t - v-bar_t)^T
    y_t     = M_t^T phi(q_t)

  This is `W' = W + beta (v - W phi(k)) phi(k)^T` of the paper with W = M^T:
  memjax keeps every associative memory as `[d_key, d_value]`, the layout
  Infini-attention (memjax/transformer/infini_attention.py) shares.

The pure step functions below take features (phi already applied) and work on
any leading dims. The cores stack `num_layers` post-LayerNorm blocks, each the
Transformer-XL layer with its softmax attention replaced by the fast-weight
memory (same W_q, W_k, W_v, W_o, feed-forward and LayerNorms, so at equal sizes
the parameters match XL's less its position terms):

    a^n = LayerNorm(h^{n-1} + W_o y^n),   h^n = LayerNorm(a^n + W_2 relu(W_1 a^n + b_1) + b_2)

with h^0 = sqrt(d_model) W_e x_t (x_t one step's input, e.g. a one-hot
character) and outputs W_out h^N. The carry holds every layer's memory, so
constant state per step whatever the sequence length.
"""
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.base import MemoryCore

_INIT_STDDEV = 0.02   # as Transformer-XL's released code, so the two compare at equal init
_EPSILON = 1e-6       # keeps phi(q)^T z > 0 when z is still zero (an empty memory reads 0)


def elu_feature_map(x: jax.Array) -> jax.Array:
  """phi(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020, eq. 7), elementwise."""
  return jax.nn.elu(x) + 1.0


def sum_normalise(features: jax.Array) -> jax.Array:
  """phi(x) / sum_j phi(x)_j over the last axis (Schlag et al. 2021, sec. 4.2)."""
  return features / jnp.sum(features, axis=-1, keepdims=True)


def linear_attention_step(memory: jax.Array, normaliser: jax.Array, query_features: jax.Array,
                          key_features: jax.Array,
                          value: jax.Array) -> Tuple[jax.Array, jax.Array, jax.Array]:
  """One step of causal linear attention.

  Args:
    memory: M_{t-1} `[..., d_key, d_value]`.
    normaliser: z_{t-1} `[..., d_key]`.
    query_features: phi(q_t) `[..., d_key]`.
    key_features: phi(k_t) `[..., d_key]`.
    value: v_t `[..., d_value]`.

  Returns:
    (M_t, z_t, y_t `[..., d_value]`); y_t reads the memory after the write, so a
    token attends to itself as in causal softmax attention.
  """
  memory = memory + key_features[..., :, None] * value[..., None, :]
  normaliser = normaliser + key_features
  numerator = jnp.einsum("...k,...kv->...v", query_features, memory)
  denominator = jnp.sum(query_features * normaliser, axis=-1, keepdims=True)
  return memory, normaliser, numerator / (denominator + _EPSILON)


def delta_rule_step(memory: jax.Array, query_features: jax.Array, key_features: jax.Array,
                    value: jax.Array, beta: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """One step of the delta-rule fast-weight memory.

  Args:
    memory: M_{t-1} `[..., d_key, d_value]`.
    query_features, key_features: phi(q_t), phi(k_t) `[..., d_key]` (sum-normalised).
    value: v_t `[..., d_value]`.
    beta: the write strength beta_t in (0, 1), `[...]`.

  Returns:
    (M_t, y_t = M_t^T phi(q_t) `[..., d_value]`).
  """
  old_value = jnp.einsum("...k,...kv->...v", key_features, memory)
  update = beta[..., None] * (value - old_value)
  memory = memory + key_features[..., :, None] * update[..., None, :]
  return memory, jnp.einsum("...k,...kv->...v", query_features, memory)


class LinearAttentionState(NamedTuple):
  """Linear-attention carry.

  Attributes:
    memory: M `[batch, layers, heads, d_key, d_value]`.
    normaliser: z `[batch, layers, heads, d_key]`.
  """
  memory: jax.Array
  normaliser: jax.Array


class DeltaRuleState(NamedTuple):
  """Delta-rule carry: `memory` M `[batch, layers, heads, d_key, d_value]`."""
  memory: jax.Array


class _FastWeightBlock(nn.Module):
  """The projections and feed-forward block of one layer (the memory step is the caller's)."""
  d_model: int
  num_heads: int
  head_dim: int
  d_ff: int
  with_beta: bool

  def setup(self):
    init = nn.initializers.normal(_INIT_STDDEV)
    width = self.num_heads * self.head_dim
    self.query = nn.Dense(width, use_bias=False, kernel_init=init)   # W_q
    self.key = nn.Dense(width, use_bias=False, kernel_init=init)     # W_k
    self.value = nn.Dense(width, use_bias=False, kernel_init=init)   # W_v
    if self.with_beta:
      self.beta = nn.Dense(self.num_heads, kernel_init=init)         # w_beta, one per head
    self.attention_output = nn.Dense(self.d_model, use_bias=False, kernel_init=init)  # W_o
    self.attention_norm = nn.LayerNorm()
    self.ff_hidden = nn.Dense(self.d_ff, kernel_init=init)
    self.ff_output = nn.Dense(self.d_model, kernel_init=init)
    self.ff_norm = nn.LayerNorm()

  def _heads(self, x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[:-1] + (self.num_heads, self.head_dim))

  def project(self, hidden: jax.Array):
    """h `[batch, d_model]` -> q, k, v `[batch, heads, head_dim]`, beta `[batch, heads]` or None."""
    beta = jax.nn.sigmoid(self.beta(hidden)) if self.with_beta else None
    return (self._heads(self.query(hidden)), self._heads(self.key(hidden)),
            self._heads(self.value(hidden)), beta)

  def finish(self, hidden: jax.Array, read: jax.Array) -> jax.Array:
    """read `[batch, heads, head_dim]` -> h^n `[batch, d_model]` (W_o, residuals, LayerNorms)."""
    attended = self.attention_output(read.reshape(read.shape[:-2] + (-1,)))
    hidden = self.attention_norm(hidden + attended)
    return self.ff_norm(hidden + self.ff_output(nn.relu(self.ff_hidden(hidden))))


class _FastWeightCore(MemoryCore):
  """Shared by both cores: embedding, `num_layers` fast-weight blocks, readout.

  Attributes:
    output_size: logits per step.
    d_model: model width.
    num_layers: N.
    num_heads: H.
    d_ff: feed-forward hidden width.
    head_dim: d_key = d_value per head (default d_model // num_heads).
  """
  output_size: int
  d_model: int = 128   # the defaults are configs/charlm_transformer_xl.py's sizes
  num_layers: int = 3
  num_heads: int = 4
  d_ff: int = 512
  head_dim: Optional[int] = None

  with_beta = False

  @property
  def _head_dim(self) -> int:
    return self.head_dim or self.d_model // self.num_heads

  def setup(self):
    init = nn.initializers.normal(_INIT_STDDEV)
    self.embedding = nn.Dense(self.d_model, use_bias=False, kernel_init=init)  # W_e
    self.blocks = [_FastWeightBlock(self.d_model, self.num_heads, self._head_dim, self.d_ff,
                                    self.with_beta, name=f"layer_{n}")
                   for n in range(self.num_layers)]
    self.readout = nn.Dense(self.output_size, kernel_init=init)

  def _memory_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
    batch = tuple(input_shape[:-1])
    return batch + (self.num_layers, self.num_heads, self._head_dim, self._head_dim)

  def _step(self, layer: int, block: _FastWeightBlock, carry, hidden: jax.Array):
    """(new per-layer memories, read `[batch, heads, head_dim]`)."""
    raise NotImplementedError

  def __call__(self, carry, inputs: jax.Array):
    """One step: inputs `[batch, input_size]` -> (carry, outputs `[batch, output_size]`)."""
    hidden = self.embedding(inputs) * (self.d_model ** 0.5)
    new_layers = []
    for n, block in enumerate(self.blocks):
      layer_state, read = self._step(n, block, carry, hidden)
      new_layers.append(layer_state)
      hidden = block.finish(hidden, read)
    # Layers stack after the batch dims: M at axis -4 of [..., layers, heads, d_key, d_value],
    # z at axis -3 of [..., layers, heads, d_key].
    stacked = [jnp.stack(leaves, axis=axis) for axis, leaves in zip((-4, -3), zip(*new_layers))]
    return type(carry)(*stacked), self.readout(hidden)


class LinearAttentionCore(_FastWeightCore):
  """Causal linear attention as a recurrent core (Katharopoulos et al. 2020), phi = elu + 1."""

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> LinearAttentionState:
    """Empty memory for inputs `[batch, input_size]`."""
    del rng  # the empty memory is deterministic
    shape = self._memory_shape(input_shape)
    return LinearAttentionState(memory=jnp.zeros(shape, jnp.float32),
                                normaliser=jnp.zeros(shape[:-1], jnp.float32))

  def _step(self, layer, block, carry, hidden):
    queries, keys, values, _ = block.project(hidden)
    memory, normaliser, read = linear_attention_step(
        carry.memory[..., layer, :, :, :], carry.normaliser[..., layer, :, :],
        elu_feature_map(queries), elu_feature_map(keys), values)
    return (memory, normaliser), read


class DeltaRuleCore(_FastWeightCore):
  """The delta-rule fast-weight programmer as a recurrent core (Schlag et al. 2021).

  phi = elu + 1, sum-normalised; beta_t = sigmoid(w_beta h_t), one per head.
  """
  with_beta = True

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> DeltaRuleState:
    """Empty memory for inputs `[batch, input_size]`."""
    del rng
    return DeltaRuleState(memory=jnp.zeros(self._memory_shape(input_shape), jnp.float32))

  def _step(self, layer, block, carry, hidden):
    queries, keys, values, beta = block.project(hidden)
    memory, read = delta_rule_step(carry.memory[..., layer, :, :, :],
                                   sum_normalise(elu_feature_map(queries)),
                                   sum_normalise(elu_feature_map(keys)), values, beta)
    return (memory,), read
