"""Transformer-XL segment-level recurrence: the per-layer memory and its update.

Dai et al. 2019, eq. in sec. 3.2, for layer n and segment tau + 1:

    h~^{n-1}_{tau+1} = [SG(m^{n-1}_tau) o h^{n-1}_{tau+1}]
    m^{n-1}_{tau+1}  = the last mem_len rows of [m^{n-1}_tau o h^{n-1}_{tau+1}]

where h^{n-1} is the *input* of layer n (the embeddings for n = 1), `o` is
concatenation along time and SG is stop-gradient, so no gradient flows into
earlier segments. The memory has a fixed size (jit needs static shapes);
`valid` marks slots that hold a real state, so the first segment of a
document, and every segment after a reset, attends to no stale memory.
"""
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp


class XLMemory(NamedTuple):
  """Per-layer memory; leading dim is batch.

  Attributes:
    hidden: m `[batch, num_layers, mem_len, d_model]`, layer n's past inputs, oldest first.
    valid: `[batch, mem_len]` bool, True where the slot holds a real state.
  """
  hidden: jax.Array
  valid: jax.Array


def empty_memory(batch_size: int, num_layers: int, mem_len: int, d_model: int,
                 dtype=jnp.float32) -> XLMemory:
  """All-invalid memory of fixed size (what a new document starts with)."""
  return XLMemory(hidden=jnp.zeros((batch_size, num_layers, mem_len, d_model), dtype),
                  valid=jnp.zeros((batch_size, mem_len), bool))


def push(memory: XLMemory, layer_inputs: jax.Array,
         valid: Optional[jax.Array] = None) -> Tuple[XLMemory, XLMemory]:
  """m_{tau+1} = last mem_len of [m_tau o SG(h_{tau+1})]; also returns what fell out.

  Args:
    memory: `XLMemory` with `hidden [batch, layers, mem_len, d_model]`.
    layer_inputs: h `[batch, layers, qlen, d_model]`, every layer's input this segment.
    valid: optional `[batch, qlen]` bool for the new states (default all True).

  Returns:
    `(new_memory, evicted)`: `evicted` is an `XLMemory` holding the oldest `qlen`
    rows of the concatenation (those that fall out of a full memory; the
    Compressive Transformer compresses them), `[batch, layers, qlen, d_model]`.
  """
  mem_len = memory.hidden.shape[2]
  qlen = layer_inputs.shape[2]
  if valid is None:
    valid = jnp.ones(layer_inputs.shape[:1] + (qlen,), bool)
  hidden = jnp.concatenate([memory.hidden, jax.lax.stop_gradient(layer_inputs)], axis=2)
  slots = jnp.concatenate([memory.valid, valid], axis=1)
  kept = XLMemory(hidden=hidden[:, :, qlen:], valid=slots[:, qlen:])
  evicted = XLMemory(hidden=hidden[:, :, :qlen], valid=slots[:, :qlen])
  assert kept.hidden.shape[2] == mem_len
  return kept, evicted


def reset(memory: XLMemory, resets: jax.Array) -> XLMemory:
  """Empties example b's memory where `resets[b]` (a new document starts): `[batch]` bool."""
  return memory._replace(valid=memory.valid & ~resets[:, None])


def key_mask(causal: jax.Array, memory_valid: jax.Array) -> jax.Array:
  """Combines a `[qlen, mlen + qlen]` causal mask with `[batch, mlen]` slot validity.

  Returns `[batch, qlen, mlen + qlen]` bool.
  """
  batch_size = memory_valid.shape[0]
  qlen = causal.shape[0]
  keys_valid = jnp.concatenate([memory_valid, jnp.ones((batch_size, qlen), bool)], axis=1)
  return causal[None] & keys_valid[:, None, :]
