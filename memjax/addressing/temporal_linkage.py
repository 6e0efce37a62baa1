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

`update_and_follow_links` is one DNC step's linkage (update, then both directions) as one
op whose backward pass is written out. Inside a `lax.scan` over time, autodiff of the
separate ops keeps four `[N, N]` arrays per time step (L_{t-1}, L_t, the decay
1 - w_i - w_j and a transpose), each written to a stacked residual; this op keeps L_{t-1}
alone and recomputes L_t from it in the backward pass.
"""
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from memjax.addressing.reductions import block_sum


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


def _link_step(link, precedence, write_weights, read_weights):
  """One write head: (L_t, p_t, f, b) from (L_{t-1}, p_{t-1}, w^w_t, w^r_{t-1})."""
  new_link = update_link(link, precedence, write_weights)
  # f = L w^r as products summed along L's rows (contiguous), which fuses with the link
  # update; a matmul by L^T would transpose L first. b = L^T w^r = w^r L as a matmul, which
  # reads L as stored (summed down L's columns instead, it was a slower kernel).
  forward = block_sum(new_link[None] * read_weights[:, None, :])                # [R, N]
  backward = read_weights @ new_link                                            # [R, N]
  return new_link, update_precedence(precedence, write_weights), forward, backward


@jax.custom_vjp
def _link_step_one_head(link, precedence, write_weights, read_weights):
  return _link_step(link, precedence, write_weights, read_weights)


def _link_step_fwd(link, precedence, write_weights, read_weights):
  return (_link_step(link, precedence, write_weights, read_weights),
          (link, precedence, write_weights, read_weights))


def _link_step_bwd(residuals, cotangents):
  """With m = 1 - I, K_ij = 1 - w_i - w_j, L = m o (K o L' + w p^T) and
  G = m o (dL + df^T w^r + (w^r)^T db) (the outer products summed over read heads):

      dL'  = G o K
      dw_k = sum_j G_kj (p_j - L'_kj) - sum_i G_ik L'_ik + dp_t[k] - sum_j dp_t[j] p_j
      dp_j = sum_i G_ij w_i + (1 - sum w) dp_t[j]
      dw^r = df L + db L^T
  """
  link, precedence, write_weights, read_weights = residuals
  d_link, d_precedence, d_forward, d_backward = cotangents
  new_link = update_link(link, precedence, write_weights)
  d_read = d_forward @ new_link + block_sum(d_backward[:, None, :] * new_link[None], axis=-1)
  off_diagonal = 1.0 - jnp.eye(link.shape[-1], dtype=link.dtype)
  g = off_diagonal * (d_link + block_sum(d_forward[:, :, None] * read_weights[:, None, :], axis=0)
                      + block_sum(read_weights[:, :, None] * d_backward[:, None, :], axis=0))
  write_i, write_j = write_weights[:, None], write_weights[None, :]
  d_previous_link = g * (1.0 - write_i - write_j)
  d_write = (block_sum(g * (precedence[None, :] - link)) - block_sum(g * link, axis=-2)
             + d_precedence - jnp.sum(d_precedence * precedence))
  d_previous_precedence = (write_weights @ g
                           + (1.0 - jnp.sum(write_weights)) * d_precedence)
  return d_previous_link, d_previous_precedence, d_write, d_read


_link_step_one_head.defvjp(_link_step_fwd, _link_step_bwd)


def update_and_follow_links(state: TemporalLinkageState, write_weights: jax.Array,
                            read_weights: jax.Array
                            ) -> Tuple[TemporalLinkageState, jax.Array, jax.Array]:
  """`update_linkage` then `directional_weights` on the new links, as one op (the same values;
  the backward pass keeps L_{t-1} alone, module docstring).

  Args:
    state: unbatched `TemporalLinkageState` at t - 1 (link `[num_write_heads, N, N]`,
      precedence `[num_write_heads, N]`).
    write_weights: `[num_write_heads, N]` w^w_t.
    read_weights: `[num_read_heads, N]` w^r_{t-1}.

  Returns:
    `(state_t, forward, backward)`, forward and backward `[num_read_heads, num_write_heads, N]`.
  """
  link, precedence, forward, backward = jax.vmap(
      _link_step_one_head, in_axes=(0, 0, 0, None), out_axes=(0, 0, 1, 1))(
          state.link, state.precedence, write_weights, read_weights)
  return TemporalLinkageState(link=link, precedence=precedence), forward, backward
