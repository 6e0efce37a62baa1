"""Compressive Transformer memory compression (Rae et al. 2019, sec. 3.1-3.2).

The states that fall out of the Transformer-XL memory, old_mem
`[batch, n, d_model]`, are compressed by rate c into `[batch, n / c, d_model]`
by f_c, one of

    max_pool    max over each window of c consecutive states
    mean_pool   mean over each window of c consecutive states
    conv        1D convolution, kernel size c and stride c (learned): W [c, d, d], b [d]
    most_used   the n / c states that received most attention, in their order

and appended to the compressed memory. The compression function is trained
only by the attention-reconstruction loss (eq. 1)

    L^attn = sum_n || attn(h^n, old_mem^n) - attn(h^n, f_c^n(old_mem^n)) ||^2

computed with stop-gradient on h^n, old_mem^n and the attention weights
(`RelativeAttention.frozen_content_attention`), so it trains f_c only.
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

COMPRESSION_FUNCTIONS = ("max_pool", "mean_pool", "conv", "most_used")


def _windows(states: jax.Array, rate: int) -> jax.Array:
  """`[batch, n, d] -> [batch, n / rate, rate, d]`."""
  batch_size, length, width = states.shape
  if length % rate:
    raise ValueError(f"model.compression_rate={rate} must divide the number of states "
                     f"evicted per segment ({length}, the segment length)")
  return states.reshape(batch_size, length // rate, rate, width)


def max_pool(states: jax.Array, rate: int) -> jax.Array:
  """`[batch, n, d] -> [batch, n / rate, d]`, max over windows of `rate`."""
  return jnp.max(_windows(states, rate), axis=2)


def mean_pool(states: jax.Array, rate: int) -> jax.Array:
  """`[batch, n, d] -> [batch, n / rate, d]`, mean over windows of `rate`."""
  return jnp.mean(_windows(states, rate), axis=2)


def most_used(states: jax.Array, usage: jax.Array, rate: int) -> jax.Array:
  """Keeps the n / rate states with the largest `usage` (`[batch, n]`), in time order.

  Returns `[batch, n / rate, d]`.
  """
  keep = _windows(states, rate).shape[1]
  _, indices = jax.lax.top_k(usage, keep)
  indices = jnp.sort(indices, axis=-1)
  return jnp.take_along_axis(states, indices[..., None], axis=1)


def compressed_validity(valid: jax.Array, rate: int) -> jax.Array:
  """A compressed slot is valid when every state it summarises is: `[batch, n] -> [batch, n / rate]`."""
  batch_size, length = valid.shape
  if length % rate:
    raise ValueError(f"model.compression_rate={rate} must divide the segment length {length}")
  return jnp.all(valid.reshape(batch_size, length // rate, rate), axis=-1)


class Compressor(nn.Module):
  """f_c for one layer: `[batch, n, d_model] -> [batch, n / rate, d_model]`.

  Attributes:
    function: one of `COMPRESSION_FUNCTIONS`.
    rate: compression rate c.
  """
  function: str
  rate: int

  @nn.compact
  def __call__(self, states: jax.Array, usage: Optional[jax.Array] = None) -> jax.Array:
    if self.function not in COMPRESSION_FUNCTIONS:
      raise ValueError(f"model.compression_function={self.function!r} is not one of "
                       f"{COMPRESSION_FUNCTIONS}")
    if self.rate < 1:
      raise ValueError(f"model.compression_rate must be >= 1, got {self.rate}")
    if self.function == "max_pool":
      return max_pool(states, self.rate)
    if self.function == "mean_pool":
      return mean_pool(states, self.rate)
    if self.function == "most_used":
      if usage is None:
        raise ValueError("compression_function='most_used' needs the attention usage")
      return most_used(states, usage, self.rate)
    # A 1D convolution with kernel size = stride = c is one matmul per window of c
    # states; written as such because XLA's CPU convolution gradients are slow.
    width = states.shape[-1]
    kernel = self.param("conv_kernel", nn.initializers.lecun_normal(), (self.rate, width, width))
    bias = self.param("conv_bias", nn.initializers.zeros, (width,))
    return jnp.einsum("bwcd,cde->bwe", _windows(states, self.rate), kernel) + bias


def reconstruction_error(original: jax.Array, reconstructed: jax.Array,
                         weights: Optional[jax.Array] = None) -> jax.Array:
  """|| attn(h, old_mem) - attn(h, f_c(old_mem)) ||^2, averaged; arrays `[batch, qlen, width]`.

  `weights` (`[batch]`) zero out examples whose evicted states were not all real.
  """
  per_example = jnp.mean(jnp.square(original - reconstructed), axis=(1, 2))
  if weights is None:
    return jnp.mean(per_example)
  weights = weights.astype(per_example.dtype)
  return jnp.sum(per_example * weights) / jnp.maximum(jnp.sum(weights), 1.0)
