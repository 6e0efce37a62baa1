"""Sparse temporal linkage (Rae et al. 2016, "Scaling memory-augmented neural networks with sparse
reads and writes", sec. 3.3 and supp. D): the DNC's link matrix with at most K entries a row.

The dense link (`temporal_linkage.py`) costs O(N^2) memory and time a step.
Here each row i of L keeps only its K largest entries, as `(values, indices)`
`[N, K]` pairs, and the update touches O(N K^2) numbers:

    L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j]          decay of the kept entries
              + w[i] p_{t-1}[j]   for j in top_{K+1}(p_{t-1})   new links
    L_t[i, i] = 0,  then each row keeps its K largest entries.

(The precedence p stays dense, O(N).) Reads follow the kept entries:

    f[i] = sum_k values[i, k] w^r[indices[i, k]]                      gather
    b[j] = sum_{i, k: indices[i, k] = j} values[i, k] w^r[i]          scatter-add

With K = N - 1 nothing is dropped and the result equals the dense linkage
exactly (tests check this); smaller K is the SDNC's approximation.
Functions act on one write head's unbatched arrays.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from memjax.addressing import temporal_linkage

# Candidates that must never be kept (self-links, duplicates of a kept column)
# get this value: every real link value is >= 0.
_NEVER_KEPT = -1.0


class SparseLinkageState(NamedTuple):
  """K-sparse link rows and dense precedence; leading dims are batch (if any).

  Attributes:
    values: `[..., num_write_heads, memory_size, K]` the kept L[i, j] >= 0.
    indices: `[..., num_write_heads, memory_size, K]` int32 column j of each kept entry
      (distinct within a row, never i).
    precedence: `[..., num_write_heads, memory_size]` p_t.
  """
  values: jax.Array
  indices: jax.Array
  precedence: jax.Array


def zero_sparse_linkage(batch_dims, num_write_heads: int, memory_size: int,
                        num_entries: int) -> SparseLinkageState:
  """L_0 = 0, p_0 = 0; row i's K placeholder columns are i+1..i+K (mod N), never i."""
  if not 1 <= num_entries <= memory_size - 1:
    raise ValueError(f"sparse linkage keeps K={num_entries} entries a row; need "
                     f"1 <= K <= memory_size - 1 = {memory_size - 1}")
  shape = tuple(batch_dims) + (num_write_heads, memory_size)
  rows = jnp.arange(memory_size)[:, None]
  indices = (rows + 1 + jnp.arange(num_entries)[None, :]) % memory_size
  return SparseLinkageState(
      values=jnp.zeros(shape + (num_entries,), jnp.float32),
      indices=jnp.broadcast_to(indices.astype(jnp.int32), shape + (num_entries,)),
      precedence=jnp.zeros(shape, jnp.float32))


def update_sparse_link(values: jax.Array, indices: jax.Array, precedence: jax.Array,
                       write_weights: jax.Array):
  """One write step of a K-sparse link matrix.

  Args:
    values: `[N, K]` kept link values of L_{t-1}.
    indices: `[N, K]` int32 their columns.
    precedence: `[N]` p_{t-1}.
    write_weights: `[N]` w^w_t.

  Returns:
    `(values, indices)` of L_t, each `[N, K]`.
  """
  size, num_entries = values.shape
  rows = jnp.arange(size)[:, None]
  decayed = (1.0 - write_weights[:, None] - write_weights[indices]) * values
  # New links w[i] p[j] for the K + 1 most recent columns j (one may be i itself).
  num_new = min(num_entries + 1, size)
  new_precedence, new_columns = jax.lax.top_k(precedence, num_new)
  new_indices = jnp.broadcast_to(new_columns[None, :].astype(indices.dtype), (size, num_new))
  new_values = write_weights[:, None] * new_precedence[None, :]
  # A new link to a column the row already keeps is added to that entry.
  match = indices[:, None, :] == new_indices[:, :, None]            # [N, new, kept]
  decayed = decayed + jnp.einsum("iab,ia->ib", match.astype(values.dtype), new_values)
  duplicate = jnp.any(match, axis=-1) | (new_indices == rows)
  new_values = jnp.where(duplicate, _NEVER_KEPT, new_values)
  candidates = jnp.concatenate([decayed, new_values], axis=-1)      # [N, K + new]
  candidate_indices = jnp.concatenate([indices, new_indices], axis=-1)
  kept_values, position = jax.lax.top_k(candidates, num_entries)
  return kept_values, jnp.take_along_axis(candidate_indices, position, axis=-1)


def update_sparse_linkage(state: SparseLinkageState,
                          write_weights: jax.Array) -> SparseLinkageState:
  """`update_sparse_link` and the dense precedence update for every write head.

  Args:
    state: unbatched `SparseLinkageState` (`[num_write_heads, N, K]`, `[num_write_heads, N]`).
    write_weights: `[num_write_heads, N]` w^w_t.

  Returns:
    The updated `SparseLinkageState`.
  """
  values, indices = jax.vmap(update_sparse_link)(state.values, state.indices, state.precedence,
                                                 write_weights)
  precedence = temporal_linkage.update_precedence(state.precedence, write_weights)
  return SparseLinkageState(values, indices, precedence)


def sparse_forward_weights(values: jax.Array, indices: jax.Array,
                           read_weights: jax.Array) -> jax.Array:
  """f[i] = sum_k values[i, k] w^r[indices[i, k]] (= L w^r).

  Args:
    values / indices: `[N, K]` one write head's sparse link.
    read_weights: `[num_read_heads, N]` w^r_{t-1}.

  Returns:
    `[num_read_heads, N]` forward weightings.
  """
  return jnp.sum(values[None] * read_weights[:, indices], axis=-1)


def sparse_backward_weights(values: jax.Array, indices: jax.Array,
                            read_weights: jax.Array) -> jax.Array:
  """b[j] = sum_{i,k: indices[i, k] = j} values[i, k] w^r[i] (= L^T w^r).

  Args:
    values / indices: `[N, K]` one write head's sparse link.
    read_weights: `[num_read_heads, N]` w^r_{t-1}.

  Returns:
    `[num_read_heads, N]` backward weightings.
  """
  contributions = values[None] * read_weights[:, :, None]           # [R, N, K]
  return jnp.zeros_like(read_weights).at[:, indices].add(contributions)


def to_dense(values: jax.Array, indices: jax.Array) -> jax.Array:
  """`[N, K]` sparse rows -> the `[N, N]` link matrix they stand for (tests, plots)."""
  size = values.shape[0]
  rows = jnp.broadcast_to(jnp.arange(size)[:, None], indices.shape)
  return jnp.zeros((size, size), values.dtype).at[rows, indices].add(values)
