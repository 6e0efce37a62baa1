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
                      mask: Optional[jax.Array] = None,
                      num_null_slots: Optional[jax.Array] = None) -> jax.Array:
  """p_i = softmax_i(q . k_i) over the slots where `mask` is True.

  With `num_null_slots` = n0, the softmax also counts n0 slots of score 0
  that are read as zero vectors (an attention sink):
      p_i = exp(q . k_i) / (sum_{j valid} exp(q . k_j) + n0),
  so the weights sum to less than one when no memory matches. This is what
  the MemN2N authors' code computes, where empty memory slots hold all-nil
  sentences (m_i = c_i = 0) and stay in the softmax.

  Args:
    query: `[dim]` query u.
    keys: `[num_slots, dim]` memory keys m_i.
    mask: optional `[num_slots]` bool; False slots (padding, empty memory) get
      exactly zero weight. If no slot is valid, all weights are zero.
    num_null_slots: optional scalar count n0 >= 0 (needs `mask`).

  Returns:
    `[num_slots]` weights summing to one over valid slots (at most one with
    `num_null_slots`).
  """
  logits = keys @ query
  if mask is None:
    if num_null_slots is not None:
      raise ValueError("attention_weights: num_null_slots needs a mask")
    return jax.nn.softmax(logits, axis=-1)
  logits = jnp.where(mask, logits, -jnp.inf)
  # Stable softmax that returns zeros (not NaN) when every slot is masked.
  max_logit = jnp.max(jnp.where(mask, logits, -1e30), axis=-1, keepdims=True)
  if num_null_slots is not None:
    max_logit = jnp.maximum(max_logit, 0.0)  # the null slots' score
  max_logit = jax.lax.stop_gradient(max_logit)
  exp = jnp.where(mask, jnp.exp(logits - max_logit), 0.0)
  total = jnp.sum(exp, axis=-1, keepdims=True)
  if num_null_slots is not None:
    total = total + num_null_slots * jnp.exp(-max_logit)
  return exp / jnp.maximum(total, 1e-30)


def attention_read(weights: jax.Array, values: jax.Array) -> jax.Array:
  """o = sum_i p_i c_i.

  Args:
    weights: `[num_slots]` attention weights p.
    values: `[num_slots, dim]` memory values c_i.

  Returns:
    `[dim]` read vector o.
  """
  return weights @ values
