"""Reading from and writing to an N x M memory (Graves et al. 2014, eq. 2-4)."""
import functools
import operator

import jax
import jax.numpy as jnp


def read(memory: jax.Array, weights: jax.Array) -> jax.Array:
  """r = sum_i w(i) M(i) (NTM eq. 2).

  Args:
    memory: `[..., num_slots, word_size]` memory M.
    weights: `[..., num_heads, num_slots]` (or `[num_slots]` with unbatched memory) read
      weightings.

  Returns:
    `[..., num_heads, word_size]` (or `[word_size]`) read vectors.
  """
  return weights @ memory


def erase_and_add(memory: jax.Array, weights: jax.Array, erase: jax.Array,
                  add: jax.Array) -> jax.Array:
  """M' = M o prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T (NTM eq. 3-4).

  With several write heads the erases multiply and the adds sum, so the order
  of heads does not matter, as the paper notes.

  Args:
    memory: `[..., num_slots, word_size]` memory M_{t-1}.
    weights: `[..., num_heads, num_slots]` write weightings w (or `[..., num_slots]` for
      one head).
    erase: `[..., num_heads, word_size]` erase vectors e in [0, 1] (`[..., word_size]`).
    add: `[..., num_heads, word_size]` add vectors a (`[..., word_size]`).

  Returns:
    `[..., num_slots, word_size]` memory M_t.
  """
  if weights.ndim == memory.ndim - 1:
    weights, erase, add = weights[..., None, :], erase[..., None, :], add[..., None, :]
  return _erase_then_add(memory, weights, erase, add,
                         lambda w, v: w[..., :, None] * v[..., None, :])   # w v^T


def _erase_then_add(memory, weights, erase, add, outer):
  """memory o prod_h (1 - outer(w_h, e_h)) + sum_h outer(w_h, a_h), `outer` in memory's
  layout.

  Outer products as broadcasts, one head at a time over the (few, static) heads: the whole
  update is one elementwise kernel (a matmul w^T a would be a separate one with a
  contraction of length num_heads), and the product of keeps has a plain gradient
  (jnp.prod's would need a cumulative product).
  """
  heads = range(weights.shape[-2])
  keep = functools.reduce(operator.mul,
                          [1.0 - outer(weights[..., h, :], erase[..., h, :]) for h in heads])
  added = functools.reduce(operator.add,
                           [outer(weights[..., h, :], add[..., h, :]) for h in heads])
  return memory * keep + added


# The same two on M^T, `[..., word_size, num_slots]`: the NTM keeps its memory this way round
# so that slots, the long axis, are contiguous and every elementwise pass over memory
# vectorises along them (with `[slots, word]` and a 20-wide word, XLA's CPU loops run 3-5x
# slower: docs/benchmarks.md).

def read_transposed(memory_t: jax.Array, weights: jax.Array) -> jax.Array:
  """`read` on M^T: `memory_t` `[..., word_size, num_slots]`, weights `[..., num_heads,
  num_slots]`; returns `[..., num_heads, word_size]`."""
  return jnp.einsum("...hn,...mn->...hm", weights, memory_t)


def erase_and_add_transposed(memory_t: jax.Array, weights: jax.Array, erase: jax.Array,
                             add: jax.Array) -> jax.Array:
  """`erase_and_add` on M^T: M^T' = M^T o prod_h (1 - e_h w_h^T) + sum_h a_h w_h^T.

  Args:
    memory_t: `[..., word_size, num_slots]`.
    weights: `[..., num_heads, num_slots]`; erase, add: `[..., num_heads, word_size]`.

  Returns:
    `[..., word_size, num_slots]` M_t^T, elementwise the same arithmetic as `erase_and_add`.
  """
  return _erase_then_add(memory_t, weights, erase, add,
                         lambda w, v: v[..., :, None] * w[..., None, :])   # v w^T
