"""Temporal memory linkage of the DNC (Graves et al. 2016, Methods, "Temporal memory linkage").

The link matrix L_t[i, j] is the degree to which slot i was written right
after slot j; the precedence weighting p_t is where the last write went:

    p_0 = 0,   p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t
    L_0 = 0,   L_t[i, j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i, j] + w^w_t[i] p_{t-1}[j]
    L_t[i, i] = 0                                        (no self-links)

A read head then moves forwards or backwards in write order:

    f^i_t = L_t w^{r,i}_{t-1}          forward weighting
    b^i_t = L_t^T w^{r,i}_{t-1}        backward weighting

With several write heads each has its own link matrix and precedence (as in
DeepMind's `dnc/addressing.py`). Functions act on unbatched arrays of one
write head; `update_linkage` maps over heads; cores vmap over batch.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp


class TemporalLinkageState(NamedTuple):
  """Link matrices and precedence weightings; leading dims are batch (if any).

  Attributes:
    link: `[..., num_write_heads, memory_size, memory_size]` L_t, zero diagonal.
    precedence: `[..., num_write_heads, memory_size]` p_t, sums to at most 1.
  """
  link: jax.Array
  precedence: jax.Array


def zero_linkage(batch_dims, num_write_heads: int, memory_size: int) -> TemporalLinkageState:
  """L_0 = 0, p_0 = 0 with leading `batch_dims`."""
  shape = tuple(batch_dims) + (num_write_heads, memory_size)
  return TemporalLinkageState(link=jnp.zeros(shape + (memory_size,), jnp.float32),
                              precedence=jnp.zeros(shape, jnp.float32))


def update_precedence(precedence: jax.Array, write_weights: jax.Array) -> jax.Array:
  """p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t.

  Args:
    precedence: `[memory_size]` p_{t-1}.
    write_weights: `[memory_size]` w^w_t.

  Returns:
    `[memory_size]` p_t.
  """
  return (1.0 - jnp.sum(write_weights, axis=-1, keepdims=True)) * precedence + write_weights


def update_link(link: jax.Array, precedence: jax.Array, write_weights: jax.Array) -> jax.Array:
  """L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p_{t-1}[j], then L_t[i, i] = 0.

  Args:
    link: `[memory_size, memory_size]` L_{t-1}.
    precedence: `[memory_size]` p_{t-1} (the precedence *before* this write).
    write_weights: `[memory_size]` w^w_t.

  Returns:
    `[memory_size, memory_size]` L_t with a zero diagonal.
  """
  write_i = write_weights[:, None]
  write_j = write_weights[None, :]
  updated = (1.0 - write_i - write_j) * link + write_i * precedence[None, :]
  off_diagonal = 1.0 - jnp.eye(link.shape[-1], dtype=updated.dtype)
  return updated * off_diagonal


def _update_one_head(link, precedence, write_weights):
  return (update_link(link, precedence, write_weights),
          update_precedence(precedence, write_weights))


def update_linkage(state: TemporalLinkageState, write_weights: jax.Array) -> TemporalLinkageState:
  """One write step for every write head's link matrix and precedence.

  Args:
    state: unbatched `TemporalLinkageState` (link `[num_write_heads, N, N]`,
      precedence `[num_write_heads, N]`).
    write_weights: `[num_write_heads, N]` w^w_t.

  Returns:
    The updated `TemporalLinkageState`.
  """
  link, precedence = jax.vmap(_update_one_head)(state.link, state.precedence, write_weights)
  return TemporalLinkageState(link=link, precedence=precedence)


def forward_weights(link: jax.Array, read_weights: jax.Array) -> jax.Array:
  """f^i = L w^{r,i}: each read head moves one write later.

  Args:
    link: `[memory_size, memory_size]` L_t.
    read_weights: `[num_read_heads, memory_size]` w^r_{t-1}.

  Returns:
    `[num_read_heads, memory_size]` forward weightings.
  """
  return read_weights @ link.T


def backward_weights(link: jax.Array, read_weights: jax.Array) -> jax.Array:
  """b^i = L^T w^{r,i}: each read head moves one write earlier.

  Args:
    link: `[memory_size, memory_size]` L_t.
    read_weights: `[num_read_heads, memory_size]` w^r_{t-1}.

  Returns:
    `[num_read_heads, memory_size]` backward weightings.
  """
  return read_weights @ link


def directional_weights(link: jax.Array, read_weights: jax.Array):
  """Forward and backward weightings through every write head's link matrix.

  Args:
    link: `[num_write_heads, memory_size, memory_size]`.
    read_weights: `[num_read_heads, memory_size]` w^r_{t-1}.

  Returns:
    `(forward, backward)`, each `[num_read_heads, num_write_heads, memory_size]`.
  """
  forward = jax.vmap(forward_weights, in_axes=(0, None), out_axes=1)(link, read_weights)
  backward = jax.vmap(backward_weights, in_axes=(0, None), out_axes=1)(link, read_weights)
  return forward, backward
