"""Interpolation gate (Graves et al. 2014, eq. 7)."""
import jax


def interpolate(content_weights: jax.Array, previous_weights: jax.Array,
                gate: jax.Array) -> jax.Array:
  """w^g = g w^c + (1 - g) w_{t-1}.

  Args:
    content_weights: `[num_slots]` content weighting w^c_t.
    previous_weights: `[num_slots]` the head's weighting at the previous step.
    gate: scalar g in [0, 1]; 1 keeps only content, 0 only the previous weighting.

  Returns:
    `[num_slots]` gated weighting w^g_t.
  """
  return gate * content_weights + (1.0 - gate) * previous_weights
