"""Dynamic memory allocation of the DNC (Graves et al. 2016, Methods, "Dynamic memory allocation").

Usage rises where the write heads wrote and falls where the read heads read
with their free gates open:

    psi_t = prod_{i=1}^{R} (1 - f_t^i w^{r,i}_{t-1})                      retention
    u_t   = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t            usage

Allocation writes to the least-used slots: with phi_t the slot indices sorted
by ascending usage (the "free list"),

    a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i=1}^{j-1} u_t[phi_t[i]].

Slots of equal usage keep their index order (a stable sort), so ties go to the
lowest index, deterministically, as `tf.nn.top_k` does in DeepMind's
`dnc/addressing.py`. The gradient flows through the sorted usage values, not
through the (piecewise-constant) permutation, as there.

Functions act on unbatched arrays (`usage: [memory_size]`); cores vmap over batch.
"""
import functools
import operator

import jax
import jax.numpy as jnp

from memjax.addressing.reductions import block_sum

# Usage is squashed into [eps, 1] before sorting so that a slot with usage
# exactly 0 or 1 still passes a gradient through the product of usages.
_EPSILON = 1e-6
# Up to this many slots, allocation compares slots pairwise instead of sorting them.
_PAIRWISE_MAX_SLOTS = 64


def _product_over_heads(factors: jax.Array) -> jax.Array:
  """prod_h factors[h] over the (few, static) heads on axis 0, one multiply at a time.

  Same value as `jnp.prod(factors, axis=0)`, whose gradient would need a
  cumulative product; this compiles to plain multiplies.
  """
  return functools.reduce(operator.mul, [factors[h] for h in range(factors.shape[0])])


def retention(free_gates: jax.Array, read_weights: jax.Array) -> jax.Array:
  """psi = prod_i (1 - f^i w^{r,i}): how much of each slot the read heads keep in use.

  Args:
    free_gates: `[num_read_heads]` free gates f^i in [0, 1].
    read_weights: `[num_read_heads, memory_size]` previous read weightings w^r_{t-1}.

  Returns:
    `[memory_size]` retention vector psi in [0, 1].
  """
  return _product_over_heads(1.0 - free_gates[:, None] * read_weights)


def usage_after_write(usage: jax.Array, write_weights: jax.Array) -> jax.Array:
  """u + w^w - u o w^w, with several write heads combined as w^w = 1 - prod_h (1 - w^{w,h}).

  Args:
    usage: `[memory_size]` previous usage u_{t-1} in [0, 1].
    write_weights: `[num_write_heads, memory_size]` previous write weightings w^w_{t-1}.

  Returns:
    `[memory_size]` usage after the writes, in [0, 1].
  """
  written = 1.0 - _product_over_heads(1.0 - write_weights)
  return usage + written - usage * written


def update_usage(usage: jax.Array, write_weights: jax.Array, free_gates: jax.Array,
                 read_weights: jax.Array) -> jax.Array:
  """u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t.

  Args:
    usage: `[memory_size]` u_{t-1}.
    write_weights: `[num_write_heads, memory_size]` w^w_{t-1}.
    free_gates: `[num_read_heads]` f_t.
    read_weights: `[num_read_heads, memory_size]` w^r_{t-1}.

  Returns:
    `[memory_size]` usage u_t in [0, 1].
  """
  return usage_after_write(usage, write_weights) * retention(free_gates, read_weights)


def _comes_before(usage: jax.Array, transpose: bool = False) -> jax.Array:
  """`[N, N]` before[j, i]: slot i comes before slot j in the free list (u_i < u_j, or equal
  and i < j: the stable order). With `transpose`, before[j, i] at [i, j], built as such (a
  transposed comparison reads along the contiguous axis; a transpose of one would not)."""
  index = jnp.arange(usage.shape[-1])
  rows, columns = (slice(None), None), (None, slice(None))
  earlier, later = (rows, columns) if transpose else (columns, rows)   # i's axis, j's axis
  return (usage[earlier] < usage[later]) | (
      (usage[earlier] == usage[later]) & (index[earlier] < index[later]))


def _unallocated_before(usage: jax.Array) -> jax.Array:
  """prod_{i -> j} u_i = exp(sum_{i -> j} log u_i) for every slot j."""
  return jnp.exp(block_sum(jnp.where(_comes_before(usage), jnp.log(usage)[None, :], 0.0)))


@jax.custom_vjp
def _allocation_without_sorting(usage: jax.Array) -> jax.Array:
  """The same weighting from pairwise comparisons: with i -> j when slot i comes before
  slot j in the free list (`_comes_before`),

      a_j = (1 - u_j) prod_{i -> j} u_i = (1 - u_j) exp(sum_{i -> j} log u_i)

  (u >= 1e-6 after squashing, so the logs are finite). O(N^2) elementwise work that fuses
  into a few kernels, where a sort is a comparator loop per row: on CPU the DNC's sort took
  55 us a call, twice per time step at batch 32 (11% of the step; docs/benchmarks.md).
  Gradients flow through the usage values, as through the sorted ones:

      da / du_i = -g_i prod_{k -> i} u_k + (1 / u_i) sum_{j: i -> j} g_j a_j

  written out, so that the backward pass keeps two `[N]` vectors per time step and makes
  one pass over the comparisons (autodiff keeps or recomputes the `[N, N]` comparisons
  and sums over their first axis).
  """
  return _allocation_fwd(usage)[0]


def _allocation_fwd(usage):
  unallocated_before = _unallocated_before(usage)
  return (1.0 - usage) * unallocated_before, (usage, unallocated_before)


def _allocation_bwd(residuals, d_allocation):
  usage, unallocated_before = residuals
  weighted = d_allocation * (1.0 - usage) * unallocated_before          # g_j a_j
  comes_after = _comes_before(usage, transpose=True)   # row i: the slots j that i comes before
  # A matrix-vector product, not a masked sum: XLA fuses the cotangent's whole producer
  # chain into a reduction that consumes it, recomputing it for every pair (3x slower
  # inside the DNC's backward scan); a dot's operands are computed once.
  d_later = comes_after.astype(weighted.dtype) @ weighted
  return (d_later / usage - d_allocation * unallocated_before,)


_allocation_without_sorting.defvjp(_allocation_fwd, _allocation_bwd)


def allocation_weights(usage: jax.Array) -> jax.Array:
  """a[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]], phi = argsort(u) (stable).

  Args:
    usage: `[memory_size]` usage u_t in [0, 1].

  Returns:
    `[memory_size]` allocation weighting a_t; sums to at most 1, and to
    1 - prod_i u[i] exactly.
  """
  usage = _EPSILON + (1.0 - _EPSILON) * usage
  if usage.shape[-1] <= _PAIRWISE_MAX_SLOTS:
    return _allocation_without_sorting(usage)
  free_list = jnp.argsort(usage, stable=True)
  sorted_usage = usage[free_list]
  # Exclusive cumulative product: prod_{i<j} sorted_usage[i].
  used_before = jnp.concatenate([jnp.ones_like(sorted_usage[:1]),
                                 jnp.cumprod(sorted_usage[:-1])])
  sorted_allocation = (1.0 - sorted_usage) * used_before
  return jnp.zeros_like(usage).at[free_list].set(sorted_allocation)


def write_allocation_weights(usage: jax.Array, write_gates: jax.Array) -> jax.Array:
  """Allocation weightings for several write heads, each seeing the slots the heads before it took.

  After head h allocates a^h with gate g^h, usage becomes
  u <- u + (1 - u) o g^h a^h for the next head (DeepMind's `dnc`; the paper
  describes a single write head).

  Args:
    usage: `[memory_size]` usage u_t.
    write_gates: `[num_write_heads]` the gates g^h in [0, 1] that scale each
      head's allocation (allocation gate times write gate).

  Returns:
    `[num_write_heads, memory_size]` allocation weightings.
  """
  weights = []
  # Python loop over the (static, small) number of write heads.
  for head in range(write_gates.shape[0]):
    allocation = allocation_weights(usage)
    weights.append(allocation)
    usage = usage + (1.0 - usage) * write_gates[head] * allocation
  return jnp.stack(weights, axis=0)
