"""One NTM time step's memory access as one op: address the write heads, erase/add, address
the read heads on the new memory, read (Graves et al. 2014, eq. 2-9).

    w^w_t = address(M_{t-1}, w^w_{t-1}, raw^w)               eq. 5-9 (addressing/heads.py)
    M_t   = M_{t-1} o prod_h (1 - w^w_h e_h^T) + sum_h w^w_h a_h^T   eq. 3-4 (read_write.py)
    w^r_t = address(M_t, w^r_{t-1}, raw^r)                   eq. 5-9
    r_t   = w^r_t M_t                                        eq. 2

The values are those of the four ops called in turn (the same functions). The backward
pass is written out (`jax.custom_vjp`) for what a `lax.scan` over time keeps: autodiff of
the four ops keeps M_{t-1} for the write addressing, M_t for the read addressing and the
read, and the erase/add's keep-product, each a `[batch, word, slots]` array written to a
stacked residual every time step and read back in the backward scan. This op keeps
M_{t-1} alone (and the heads' `[heads, slots]` intermediates) and recomputes M_t from it
in the backward pass, one elementwise pass over memory instead of three stored copies:

    dr    -> dM_t += w^r dr^T,              dw^r += dr M_t^T
    dw^r  -> (dM_t, dw^r_{t-1}, d raw^r)    addressing/heads.py's backward on M_t
    dM_t  -> dM_{t-1} = dM_t o keep, de, da, dw^w   (`_erase_and_add_backward`)
    dw^w  -> (dM_{t-1}, dw^w_{t-1}, d raw^w)   the same backward on M_{t-1}

Memory comes in and goes out as M^T, `[..., word_size, num_slots]`, the NTM's layout
(cores/ntm.py): the slots axis is the contiguous one.
"""
import functools
import operator

import jax
import jax.numpy as jnp

from memjax.addressing.heads import address_heads_backward, address_heads_forward
from memjax.addressing.reductions import block_sum
from memjax.memory.read_write import erase_and_add_transposed, read_transposed


def _access(memory_t, write_previous, read_previous, write_raw, read_raw, erase, add):
  write_weights, write_residuals = address_heads_forward(memory_t, write_previous, write_raw)
  new_memory_t = erase_and_add_transposed(memory_t, write_weights, erase, add)
  read_weights, read_residuals = address_heads_forward(new_memory_t, read_previous, read_raw)
  reads = read_transposed(new_memory_t, read_weights)
  return (new_memory_t, write_weights, read_weights, reads), (write_residuals, read_residuals)


@jax.custom_vjp
def write_then_read(memory_t: jax.Array, write_previous: jax.Array, read_previous: jax.Array,
                    write_raw: jax.Array, read_raw: jax.Array, erase: jax.Array,
                    add: jax.Array):
  """An NTM step's memory access, equations in the module docstring.

  Args:
    memory_t: `[..., word_size, num_slots]` M_{t-1}^T.
    write_previous: `[..., num_write_heads, num_slots]` w^w_{t-1}.
    read_previous: `[..., num_read_heads, num_slots]` w^r_{t-1}.
    write_raw / read_raw: `[..., heads, raw_head_size]` unsquashed head parameters
      (`addressing.heads.raw_head_size`).
    erase: `[..., num_write_heads, word_size]` erase vectors in [0, 1].
    add: `[..., num_write_heads, word_size]` add vectors.

  Returns:
    (M_t^T `[..., word_size, num_slots]`, w^w_t `[..., num_write_heads, num_slots]`,
    w^r_t `[..., num_read_heads, num_slots]`, r_t `[..., num_read_heads, word_size]`).
  """
  return _access(memory_t, write_previous, read_previous, write_raw, read_raw, erase, add)[0]


def _write_then_read_fwd(memory_t, write_previous, read_previous, write_raw, read_raw, erase,
                         add):
  outputs, (write_residuals, read_residuals) = _access(
      memory_t, write_previous, read_previous, write_raw, read_raw, erase, add)
  # M_t is dropped from the read residuals (the backward pass recomputes it).
  _, *read_rest = read_residuals
  return outputs, (write_residuals, tuple(read_rest), erase, add)


def _erase_and_add_backward(memory_t, weights, erase, add, d_new_memory_t):
  """(dM^T, dw, de, da) of M' = M o prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T, for dM'^T.

  With keep_h = 1 - w_h e_h^T and G_h = dM' o M o prod_{g != h} keep_g:

      dM = dM' o prod_h keep_h
      dw_h(i) = -sum_j G_h(i, j) e_h(j) + sum_j dM'(i, j) a_h(j)
      de_h(j) = -sum_i G_h(i, j) w_h(i),   da_h(j) = sum_i dM'(i, j) w_h(i)

  what autodiff of `erase_and_add_transposed` computes, with the sums over slots in blocks
  (addressing/reductions.py) so that each fuses with the product it sums.
  """
  num_heads = weights.shape[-2]
  keeps = [1.0 - erase[..., h, :, None] * weights[..., h, None, :] for h in range(num_heads)]
  d_memory_t = d_new_memory_t * functools.reduce(operator.mul, keeps)
  d_weights, d_erase, d_add = [], [], []
  for h in range(num_heads):
    d_keep = functools.reduce(operator.mul, [keep for g, keep in enumerate(keeps) if g != h],
                              d_new_memory_t * memory_t)                   # G_h^T
    w = weights[..., h, None, :]
    d_weights.append(block_sum(d_new_memory_t * add[..., h, :, None]
                               - d_keep * erase[..., h, :, None], axis=-2))
    d_erase.append(-block_sum(d_keep * w))
    d_add.append(block_sum(d_new_memory_t * w))
  # Cotangents in the primals' dtypes (erase and add may be float32 while memory is wider).
  stack = lambda parts, like: jnp.stack(parts, axis=-2).astype(like.dtype)
  return (d_memory_t.astype(memory_t.dtype), stack(d_weights, weights), stack(d_erase, erase),
          stack(d_add, add))


def _write_then_read_bwd(residuals, cotangents):
  write_residuals, read_rest, erase, add = residuals
  d_memory_out, d_write_out, d_read_out, d_reads = cotangents
  memory_t = write_residuals[0]
  write_weights = write_residuals[3][..., 3, :]                  # w from the packed residual
  new_memory_t = erase_and_add_transposed(memory_t, write_weights, erase, add)
  read_weights = read_rest[2][..., 3, :]
  _, read_vjp = jax.vjp(read_transposed, new_memory_t, read_weights)
  d_new_memory_t, d_read_weights = read_vjp(d_reads)
  d_new_memory_address, d_read_previous, d_read_raw = address_heads_backward(
      (new_memory_t, *read_rest), d_read_out + d_read_weights)
  d_memory_t, d_write_weights, d_erase, d_add = _erase_and_add_backward(
      memory_t, write_weights, erase, add,
      d_memory_out + d_new_memory_t + d_new_memory_address)
  d_memory_address, d_write_previous, d_write_raw = address_heads_backward(
      write_residuals, d_write_out + d_write_weights)
  return (d_memory_t + d_memory_address, d_write_previous, d_read_previous, d_write_raw,
          d_read_raw, d_erase, d_add)


write_then_read.defvjp(_write_then_read_fwd, _write_then_read_bwd)
