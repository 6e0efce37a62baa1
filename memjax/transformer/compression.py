"""Compressive Transformer memory compression (Rae et al. 2019, sec. 3.1-3.2).

The states that fall out of the Transformer-XL memory, old_mem
`[batch, n, d_model]`, are compressed by rate c into `[batch, n / c, d_model]`
by f_c, one of

    max_pool    max over each window of c consecutive states
    mean_pool   mean over each window of c consecutive states
    conv        1D convolution, kernel size c and stride c (learned): W [c, d, d], b [d]
    most_used   the n / c states that received most attention, in their order (of a
                block holding m < n real states, the m / c most attended real ones)

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


def _most_used_count(valid: jax.Array, rate: int) -> jax.Array:
  """`[batch, 1]`: how many states most_used keeps, floor(#real / rate) (`most_used` and
  `compressed_validity` must agree on it)."""
  return jnp.sum(valid, axis=1, keepdims=True) // rate


def most_used(states: jax.Array, usage: jax.Array, rate: int,
              valid: Optional[jax.Array] = None) -> jax.Array:
  """The floor(#real / rate) real states with the largest `usage` (`[batch, n]`), in time order.

  Rae et al. compress the m states that fall out of the memory into m / c; a
  fixed-size block of n evicted slots may hold fewer real states (`valid`,
  `[batch, n]` bool; all real when omitted), e.g. the first eviction after a
  reset. The kept states fill the last slots of `[batch, n / rate, d]`, in time
  order; the slots before them are filler, marked invalid by
  `compressed_validity(valid, rate, "most_used")`.
  """
  length = states.shape[1]
  keep = _windows(states, rate).shape[1]
  if valid is None:
    valid = jnp.ones(usage.shape, bool)
  # Real states rank first (masked slots get no attention, so they would tie at 0).
  _, ranked = jax.lax.top_k(jnp.where(valid, usage, -jnp.inf), keep)
  chosen = jnp.arange(keep)[None, :] < _most_used_count(valid, rate)
  # Sorting keys: filler (negative) before the chosen states' time indices.
  indices = jnp.sort(jnp.where(chosen, ranked, ranked - length), axis=-1) % length
  return jnp.take_along_axis(states, indices[..., None], axis=1)


def compressed_validity(valid: jax.Array, rate: int, function: str = "max_pool") -> jax.Array:
  """Which compressed slots hold real states: `[batch, n] -> [batch, n / rate]` bool.

  Pooling and conv: slot k summarises evicted states k c .. k c + c - 1, and is
  valid when every one of them is. most_used: the last floor(#real / rate)
  slots (`most_used`), so both kinds keep #real / rate slots from a block whose
  real states are its latest, as an XL memory's are (it fills in time order and
  a reset empties all of it). A window rule would instead judge most_used's
  slots by positions they do not summarise.
  """
  batch_size, length = valid.shape
  if length % rate:
    raise ValueError(f"model.compression_rate={rate} must divide the segment length {length}")
  if function == "most_used":
    keep = length // rate
    return jnp.arange(keep)[None, :] >= keep - _most_used_count(valid, rate)
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
  def __call__(self, states: jax.Array, usage: Optional[jax.Array] = None,
               valid: Optional[jax.Array] = None) -> jax.Array:
    """`states [batch, n, d]`; most_used reads `usage [batch, n]` and `valid [batch, n]`."""
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
      return most_used(states, usage, self.rate, valid)
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
