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

from memjax.transformer.model import TransformerXL, XLState

# Vanilla queries per chunk: Transformer-XL's evaluation segment (Dai et al.'s enwik8 tgt_len).
_QUERY_CHUNK = 128


class CachedMemory(NamedTuple):
  """Projected per-layer memory; leading dim is batch.

  Attributes:
    keys: W_{k,E} m `[batch, layers, heads, mem_len, head_dim]` (head-major, as attention reads it).
    values: W_v m `[batch, layers, heads, mem_len, head_dim]`.
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
  shape = (batch_size, model.num_layers, model.num_heads, mem_len, _head_dim(model))
  return CachedMemory(keys=jnp.zeros(shape), values=jnp.zeros(shape),
                      valid=jnp.zeros((batch_size, mem_len), bool))


def position_keys(model: TransformerXL, klen: int) -> jax.Array:
  """r^n = W^n_{k,R} R for every layer: `[layers, heads, klen, head_dim]` (a `method=`)."""
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
    layer_position_keys: `position_keys(model, mem_len + qlen)`, `[layers, heads, klen, head_dim]`.
    resets: optional `[batch]` bool, empties that example's memory first.

  Returns:
    (new cache, logits `[batch, qlen, vocab_size]`).
  """
  valid = cache.valid if resets is None else cache.valid & ~resets[:, None]
  qlen = tokens.shape[1]
  mem_len = valid.shape[1]
  if layer_position_keys.shape[2] != mem_len + qlen:
    raise ValueError(f"position keys cover klen={layer_position_keys.shape[2]}, but the cache "
                     f"has {mem_len} slots and the segment {qlen} tokens")
  mask = model.attention_mask(qlen, valid)
  hidden = model.embed(tokens)
  kept_keys, kept_values = [], []
  for n, layer in enumerate(model.layers):
    segment_keys, segment_values = layer.attention.project_keys_values(hidden)
    keys = jnp.concatenate([jax.lax.stop_gradient(cache.keys[:, n]), segment_keys], axis=2)
    values = jnp.concatenate([jax.lax.stop_gradient(cache.values[:, n]), segment_values], axis=2)
    # The next cache is the last mem_len of the keys attended to now (no second concatenation).
    kept_keys.append(keys[:, :, qlen:])
    kept_values.append(values[:, :, qlen:])
    attended, _ = layer.attention.attend(layer.attention.project_queries(hidden), keys, values,
                                         layer_position_keys[n], mask)
    hidden = layer.finish(hidden, attended)
  keys, values = jnp.stack(kept_keys, 1), jnp.stack(kept_values, 1)
  valid = jnp.concatenate([valid, jnp.ones((valid.shape[0], qlen), bool)], axis=1)[:, qlen:]
  return CachedMemory(keys=keys, values=values, valid=valid), model.readout(hidden)


def sliding_window_logits(model: TransformerXL, window: jax.Array,
                          query_chunk: int = _QUERY_CHUNK) -> jax.Array:
  """Vanilla evaluation (Al-Rfou et al. 2018): full recompute of a window, last token's logits.

  A `method=` of a model with `mem_len = 0`; `window` `[batch, A]` holds the A
  tokens up to the one being predicted. Returns `[batch, vocab_size]`, equal to
  `model.forward` over the window (tests/test_transformer_xl.py). Sliding it one
  token per prediction costs a full forward pass of A tokens per token.

  Computed the way Transformer-XL evaluates a segment, so the two share every
  kernel: each layer projects the window's keys, values and position keys once
  (A rows), then its queries run in chunks of `query_chunk` (a `lax.map`), each
  chunk attending to all A keys under the causal mask. Score tensors stay
  `[batch, heads, query_chunk, A]` instead of `[batch, heads, A, A]`. The top
  layer computes only the last query, the one whose logits are read.

  Chunk queries at absolute positions c, ..., c + Q - 1 need distance rows
  c + Q - 1 down to c + Q - A for `rel_shift`: a slice, starting at A - Q - c, of
  the position keys for distances A - 1..0 followed by A - 1 zero rows
  (negative distances, always masked).
  """
  if model.mem_len:
    raise ValueError(f"sliding-window evaluation is the vanilla baseline; model.mem_len must "
                     f"be 0, got {model.mem_len}")
  if model.same_length:
    raise ValueError("model.same_length needs a memory; the sliding vanilla baseline has none")
  if query_chunk < 1:
    raise ValueError(f"query_chunk must be >= 1, got {query_chunk}")
  batch_size, length = window.shape
  chunk = min(query_chunk, length)
  encodings = model.encodings(length)
  hidden = model.embed(window)
  for n, layer in enumerate(model.layers):
    attention = layer.attention
    keys, values = attention.project_keys_values(hidden)
    table = jnp.pad(attention.project_positions(encodings), ((0, 0), (0, length - 1), (0, 0)))

    def block(start, size, inputs=hidden, layer=layer, keys=keys, values=values, table=table):
      """h^n for the `size` queries at absolute positions start, ...: `[batch, size, d_model]`."""
      queries = jax.lax.dynamic_slice_in_dim(inputs, start, size, axis=1)
      shifted = jax.lax.dynamic_slice_in_dim(table, length - size - start, length, axis=1)
      mask = jnp.arange(length)[None, :] <= start + jnp.arange(size)[:, None]
      attended, _ = layer.attention.attend(
          layer.attention.project_queries(queries), keys, values, shifted,
          jnp.broadcast_to(mask, (batch_size, size, length)))
      return layer.finish(queries, attended)

    if n == len(model.layers) - 1:
      hidden = block(length - 1, 1)
      break
    remainder = length % chunk
    starts = remainder + chunk * jnp.arange(length // chunk)
    chunks = jax.lax.map(lambda start: block(start, chunk), starts)  # [chunks, batch, Q, d]
    hidden = jnp.moveaxis(chunks, 0, 1).reshape(batch_size, length - remainder, -1)
    if remainder:
      hidden = jnp.concatenate([block(0, remainder), hidden], axis=1)
  return model.readout(hidden[:, -1])  # only the predicted token's logits
