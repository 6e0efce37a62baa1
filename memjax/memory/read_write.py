"""Reading from and writing to an N x M memory (Graves et al. 2014, eq. 2-4)."""
import functools
import operator

import jax


def read(memory: jax.Array, weights: jax.Array) -> jax.Array:
  """r = sum_i w(i) M(i) (NTM eq. 2).

  Args:
    memory: `[num_slots, word_size]` memory M.
    weights: `[num_heads, num_slots]` (or `[num_slots]`) read weightings.

  Returns:
    `[num_heads, word_size]` (or `[word_size]`) read vectors.
  """
  return weights @ memory


def erase_and_add(memory: jax.Array, weights: jax.Array, erase: jax.Array,
                  add: jax.Array) -> jax.Array:
  """M' = M o prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T (NTM eq. 3-4).

  With several write heads the erases multiply and the adds sum, so the order
  of heads does not matter, as the paper notes.

  Args:
    memory: `[num_slots, word_size]` memory M_{t-1}.
    weights: `[num_heads, num_slots]` write weightings w (or `[num_slots]` for one head).
    erase: `[num_heads, word_size]` erase vectors e in [0, 1].
    add: `[num_heads, word_size]` add vectors a.

  Returns:
    `[num_slots, word_size]` memory M_t.
  """
  if weights.ndim == 1:
    weights, erase, add = weights[None], erase[None], add[None]
  # What each head keeps of each cell, multiplied over the (few, static) heads
  # one by one: the gradient of jnp.prod would need a cumulative product.
  keep = functools.reduce(
      operator.mul, [1.0 - weights[h, :, None] * erase[h, None, :] for h in range(weights.shape[0])])
  return memory * keep + weights.T @ add
