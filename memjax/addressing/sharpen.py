"""Sharpening (Graves et al. 2014, eq. 9)."""
import jax
import jax.numpy as jnp


# Keeps log(w) finite where a weight is exactly 0.
_EPSILON = 1e-12


def sharpen(weights: jax.Array, gamma: jax.Array) -> jax.Array:
  """w(i) = w~(i)^gamma / sum_j w~(j)^gamma, gamma >= 1.

  Counteracts the blurring of the shift convolution.

  Args:
    weights: `[num_slots]` shifted weighting w~.
    gamma: scalar sharpening exponent >= 1.

  Returns:
    `[num_slots]` final weighting, sums to one.
  """
  # As softmax(gamma log w~): the direct ratio underflows to 0/0 once every
  # w~(i)^gamma is below float32's range (large gamma, blurred weights).
  return jax.nn.softmax(gamma * jnp.log(weights + _EPSILON), axis=-1)
