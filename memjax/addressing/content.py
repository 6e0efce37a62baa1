"""Content-based addressing (Graves et al. 2014, eq. 5-6)."""
import jax
import jax.numpy as jnp

# Keeps the cosine similarity finite for an all-zero key or memory row (the
# constant memory initialisation starts every row near zero).
_EPSILON = 1e-6


def cosine_similarity(memory: jax.Array, key: jax.Array) -> jax.Array:
  """K[u, v] = u . v / (||u|| ||v|| + eps) between every memory row and a key.

  Args:
    memory: `[num_slots, word_size]` memory matrix M.
    key: `[word_size]` key vector k.

  Returns:
    `[num_slots]` similarities in [-1, 1].
  """
  dot = memory @ key
  norms = jnp.linalg.norm(memory, axis=-1) * jnp.linalg.norm(key)
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
