"""Soft attention over a set of memory slots (memory networks, key-value memories).

End-to-end memory networks (Sukhbaatar et al. 2015, eq. 1-2):
    p_i = softmax_i(u . m_i),   o = sum_i p_i c_i
Key-value memory networks (Miller et al. 2016) use the same read with keys
k_i in place of m_i and values v_i in place of c_i.
"""
from typing import Optional

import jax
import jax.numpy as jnp


def attention_weights(query: jax.Array, keys: jax.Array,
                      mask: Optional[jax.Array] = None) -> jax.Array:
  """p_i = softmax_i(q . k_i) over the slots where `mask` is True.

  Args:
    query: `[dim]` query u.
    keys: `[num_slots, dim]` memory keys m_i.
    mask: optional `[num_slots]` bool; False slots (padding, empty memory) get
      exactly zero weight. If no slot is valid, all weights are zero.

  Returns:
    `[num_slots]` weights summing to one over valid slots.
  """
  logits = keys @ query
  if mask is None:
    return jax.nn.softmax(logits, axis=-1)
  logits = jnp.where(mask, logits, -jnp.inf)
  # Stable softmax that returns zeros (not NaN) when every slot is masked.
  max_logit = jnp.max(jnp.where(mask, logits, -1e30), axis=-1, keepdims=True)
  exp = jnp.where(mask, jnp.exp(logits - jax.lax.stop_gradient(max_logit)), 0.0)
  return exp / jnp.maximum(jnp.sum(exp, axis=-1, keepdims=True), 1e-30)


def attention_read(weights: jax.Array, values: jax.Array) -> jax.Array:
  """o = sum_i p_i c_i.

  Args:
    weights: `[num_slots]` attention weights p.
    values: `[num_slots, dim]` memory values c_i.

  Returns:
    `[dim]` read vector o.
  """
  return weights @ values
