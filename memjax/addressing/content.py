"""Content-based addressing (Graves et al. 2014, eq. 5-6)."""
import jax
import jax.numpy as jnp

# Keeps the cosine similarity finite for an all-zero key or memory row (the
# constant memory initialisation starts every row near zero).
_EPSILON = 1e-6
# A vector whose squared norm is below this counts as zero: norm 0, no gradient.
# d||x||/dx = x / ||x|| is NaN at x = 0 (the DNC's memory starts at zero), and
# infinite once the squares underflow (|x_i| < ~1e-19 in float32) while x is
# not zero. Such a vector's cosine is ~0 anyway (at most 1e-15 ||k|| / _EPSILON).
_TINY_SQUARED_NORM = 1e-30


def vector_norm(x: jax.Array, axis: int = -1) -> jax.Array:
  """||x|| over `axis` (the last by default), with a finite gradient everywhere (zero for
  ||x||^2 < 1e-30).

  Summed in float32 at least, so a bfloat16 or float16 vector's squares do not underflow.
  """
  wide = x.astype(jnp.promote_types(x.dtype, jnp.float32))
  squared = jnp.sum(wide * wide, axis=axis)
  is_tiny = squared < _TINY_SQUARED_NORM
  # The square root of a stand-in (1) for tiny vectors keeps the gradient of the branch
  # not taken finite; other vectors get sqrt(sum(x * x)), which is what jnp.linalg.norm
  # computes, so results are bit for bit those of jnp.linalg.norm wherever that one was
  # finite, from one reduction over x rather than two.
  return jnp.where(is_tiny, 0.0, jnp.sqrt(jnp.where(is_tiny, 1.0, squared))).astype(x.dtype)


def cosine_similarity(memory: jax.Array, key: jax.Array) -> jax.Array:
  """K[u, v] = u . v / (||u|| ||v|| + eps) between every memory row and a key.

  Finite, with finite gradients, for zero and tiny keys or rows (`vector_norm`).

  Args:
    memory: `[num_slots, word_size]` memory matrix M.
    key: `[word_size]` key vector k.

  Returns:
    `[num_slots]` similarities in [-1, 1].
  """
  dot = memory @ key
  norms = vector_norm(memory) * vector_norm(key)
  return dot / (norms + _EPSILON)


def content_weights(memory: jax.Array, key: jax.Array, strength: jax.Array) -> jax.Array:
  """w^c(i) = softmax_i(beta K[k, M(i)]) (NTM eq. 5).

  Args:
    memory: `[num_slots, word_size]` memory matrix M.
    key: `[word_size]` key vector k.
    strength: scalar key strength beta >= 0; larger beta focuses the weighting.

  Returns:
    `[num_slots]` weighting that sums to one.
  """
  return jax.nn.softmax(strength * cosine_similarity(memory, key), axis=-1)


def content_weights_transposed(memory_t: jax.Array, keys: jax.Array,
                               strengths: jax.Array) -> jax.Array:
  """`content_weights` for several keys at once on M^T (memory stored word-major, slots
  contiguous, as the NTM and the DNC keep it). Same values.

  Args:
    memory_t: `[word_size, num_slots]` M^T.
    keys: `[num_keys, word_size]` keys k.
    strengths: `[num_keys]` key strengths beta >= 0.

  Returns:
    `[num_keys, num_slots]` weightings, each summing to one.
  """
  dot = keys @ memory_t                                                     # [K, N]
  norms = vector_norm(keys)[:, None] * vector_norm(memory_t, axis=-2)[None, :]
  return jax.nn.softmax(strengths[:, None] * (dot / (norms + _EPSILON)), axis=-1)
