"""Evaluation paths for Transformer-XL: cached projections, KV-cache decoding, sliding vanilla.

At evaluation time the weights are fixed, so instead of the hidden states
m^{n-1} (which `TransformerXL.__call__` re-projects to W_{k,E} m and W_v m every
segment) the memory can hold each layer's projected keys and values,

    K^n = [K^n_mem o W_{k,E} h^{n-1}],   V^n = [V^n_mem o W_v h^{n-1}],

and the position keys r = W_{k,R} R depend only on klen, so they are computed
once per (parameters, klen) by `position_keys`. Per segment of qlen tokens this
saves 2 (mlen + qlen) d_model^2 (keys, values) + 2 klen d_model^2 (positions)
multiply-adds per layer, the dominant cost when mem_len >> qlen. The results
equal `TransformerXL.__call__` up to float rounding (tests/test_transformer_xl.py).

With qlen = 1 the same step is token-by-token decoding with a key/value cache.

The functions taking `model` first are meant as `method=` of `model.apply`:

    keys = model.apply(params, klen, method=position_keys)
    cache, logits = model.apply(params, cache, tokens, keys, method=cached_step)
"""
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from memjax.transformer import xl_memory
from memjax.transformer.model import TransformerXL, XLState


class CachedMemory(NamedTuple):
  """Projected per-layer memory; leading dim is batch.

  Attributes:
    keys: W_{k,E} m `[batch, layers, mem_len, heads, head_dim]`.
    values: W_v m `[batch, layers, mem_len, heads, head_dim]`.
    valid: `[batch, mem_len]` bool.
  """
  keys: jax.Array
  values: jax.Array
  valid: jax.Array


def _head_dim(model: TransformerXL) -> int:
  return model.head_dim or model.d_model // model.num_heads


def empty_cached_memory(model: TransformerXL, batch_size: int,
                        mem_len: Optional[int] = None) -> CachedMemory:
  """All-invalid `CachedMemory` of `mem_len` slots (default `model.mem_len`)."""
  mem_len = model.mem_len if mem_len is None else mem_len
  shape = (batch_size, model.num_layers, mem_len, model.num_heads, _head_dim(model))
  return CachedMemory(keys=jnp.zeros(shape), values=jnp.zeros(shape),
                      valid=jnp.zeros((batch_size, mem_len), bool))


def position_keys(model: TransformerXL, klen: int) -> jax.Array:
  """r^n = W^n_{k,R} R for every layer: `[layers, klen, heads, head_dim]` (a `method=`)."""
  encodings = model.encodings(klen)
  return jnp.stack([layer.attention.project_positions(encodings) for layer in model.layers])


def project_memory(model: TransformerXL, state: XLState) -> CachedMemory:
  """The `CachedMemory` equivalent of a hidden-state `XLState` (a `method=`)."""
  keys, values = [], []
  for n, layer in enumerate(model.layers):
    layer_keys, layer_values = layer.attention.project_keys_values(state.memory.hidden[:, n])
    keys.append(layer_keys)
    values.append(layer_values)
  return CachedMemory(keys=jnp.stack(keys, 1), values=jnp.stack(values, 1),
                      valid=state.memory.valid)


def cached_step(model: TransformerXL, cache: CachedMemory, tokens: jax.Array,
                layer_position_keys: jax.Array,
                resets: Optional[jax.Array] = None) -> Tuple[CachedMemory, jax.Array]:
  """One segment with projected memory (a `method=`); equals `TransformerXL.__call__`.

  Args:
    model: the bound `TransformerXL`.
    cache: `CachedMemory` with mem_len slots.
    tokens: `[batch, qlen]`.
    layer_position_keys: `position_keys(model, mem_len + qlen)`, `[layers, klen, heads, head_dim]`.
    resets: optional `[batch]` bool, empties that example's memory first.

  Returns:
    (new cache, logits `[batch, qlen, vocab_size]`).
  """
  valid = cache.valid if resets is None else cache.valid & ~resets[:, None]
  qlen = tokens.shape[1]
  mem_len = valid.shape[1]
  if layer_position_keys.shape[1] != mem_len + qlen:
    raise ValueError(f"position keys cover klen={layer_position_keys.shape[1]}, but the cache "
                     f"has {mem_len} slots and the segment {qlen} tokens")
  mask = model.attention_mask(qlen, valid)
  hidden = model.embed(tokens)
  new_keys, new_values = [], []
  for n, layer in enumerate(model.layers):
    segment_keys, segment_values = layer.attention.project_keys_values(hidden)
    new_keys.append(segment_keys)
    new_values.append(segment_values)
    keys = jnp.concatenate([jax.lax.stop_gradient(cache.keys[:, n]), segment_keys], axis=1)
    values = jnp.concatenate([jax.lax.stop_gradient(cache.values[:, n]), segment_values], axis=1)
    attended, _ = layer.attention.attend(layer.attention.project_queries(hidden), keys, values,
                                         layer_position_keys[n], mask)
    hidden = layer.finish(hidden, attended)
  keys = jnp.concatenate([cache.keys, jnp.stack(new_keys, 1)], axis=2)[:, :, qlen:]
  values = jnp.concatenate([cache.values, jnp.stack(new_values, 1)], axis=2)[:, :, qlen:]
  valid = jnp.concatenate([valid, jnp.ones((valid.shape[0], qlen), bool)], axis=1)[:, qlen:]
  return CachedMemory(keys=keys, values=values, valid=valid), model.readout(hidden)


def sliding_window_logits(model: TransformerXL, window: jax.Array) -> jax.Array:
  """Vanilla evaluation (Al-Rfou et al. 2018): full recompute of a window, last token's logits.

  A `method=` of a model with `mem_len = 0`; `window` `[batch, attention_length]`
  holds the tokens up to the one being predicted. Returns `[batch, vocab_size]`.
  Sliding it one token per prediction costs a full forward pass per token.
  """
  if model.mem_len:
    raise ValueError(f"sliding-window evaluation is the vanilla baseline; model.mem_len must "
                     f"be 0, got {model.mem_len}")
  memory = xl_memory.empty_memory(window.shape[0], model.num_layers, 0, model.d_model)
  hidden, _ = model.forward(model.embed(window), memory)
  return model.readout(hidden[:, -1])  # only the predicted token's logits
