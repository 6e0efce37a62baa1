"""Circular shift convolution (Graves et al. 2014, eq. 8): where the NTM's heads move."""
import jax
import jax.numpy as jnp


def shift_offsets(shift_range: int) -> range:
  """The integer offsets -shift_range..shift_range that a shift weighting covers."""
  return range(-shift_range, shift_range + 1)


def circular_shift(weights: jax.Array, shift_weights: jax.Array) -> jax.Array:
  """w~(i) = sum_j w(j) s((i - j) mod N), written as a sum of rolls.

  `shift_weights[k]` is the probability of moving the focus by offset
  `d = k - shift_range` slots: substituting d = i - j gives
  w~(i) = sum_d s(d) w(i - d), and `jnp.roll(w, d)[i] == w[(i - d) mod N]`, so
  a weighting focused on slot j with s(+1) = 1 moves to slot j + 1. Rolls cost
  O(N (2 shift_range + 1)); the equivalent N x N circulant matrix costs O(N^2).

  Args:
    weights: `[num_slots]` gated weighting w^g.
    shift_weights: `[2 * shift_range + 1]` distribution s over offsets
      -shift_range..shift_range (odd length, centre = no move).

  Returns:
    `[num_slots]` shifted weighting w~.
  """
  num_offsets = shift_weights.shape[-1]
  if num_offsets % 2 != 1:
    raise ValueError(
        f"shift_weights must have odd length 2*shift_range+1, got shape {shift_weights.shape}")
  shift_range = num_offsets // 2
  if num_offsets > weights.shape[-1]:
    raise ValueError(
        f"shift range {shift_range} needs at least {num_offsets} memory slots, "
        f"got weights of shape {weights.shape}")
  # A Python loop over the (static, small) offsets, not over time or batch.
  # An elementwise sum (fuses into one kernel) rather than a stack and a matmul.
  return sum(shift_weights[..., k] * jnp.roll(weights, d, axis=-1)
             for k, d in enumerate(shift_offsets(shift_range)))
