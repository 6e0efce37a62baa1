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

With qlen = 1 the same step is token-by-token decoding with a key/value cache
(`generate` samples text that way; a compressive model with c > 1 in segments of c).

The Compressive Transformer gets the same treatment (`compressive_cached_step`):
both memories hold projected keys/values, and a compressed slot is projected
once, when f_c writes it, instead of every segment it stays. Its uncompressed
memory also keeps the hidden states, because f_c compresses hidden states
(not keys) when they leave it.

The functions taking `model` first are meant as `method=` of `model.apply`:

    keys = model.apply(params, klen, method=position_keys)
    cache, logits = model.apply(params, cache, tokens, keys, method=cached_step)
"""
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from memjax.transformer import compression, xl_memory
from memjax.transformer.model import (CompressiveState, CompressiveTransformer, TransformerXL,
                                      XLState)

# Vanilla queries per chunk: Transformer-XL's evaluation segment (Dai et al.'s enwik8 tgt_len).
_QUERY_CHUNK = 128


class CachedMemory(NamedTuple):
  """Projected per-layer memory; leading dim is batch.

  Attributes:
    keys: per layer, W_{k,E} m `[batch, heads, mem_len, head_dim]` (head-major, as
      attention reads it), a tuple of `layers` arrays.
    values: per layer, W_v m `[batch, heads, mem_len, head_dim]`, a tuple.
    valid: `[batch, mem_len]` bool.

  One array per layer rather than one stacked `[batch, layers, ...]` array:
  XLA copies a slice of a stacked array before a matmul reads it, and restacks
  the new memory after the step, two copies of the whole cache per segment.
  """
  keys: Tuple[jax.Array, ...]
  values: Tuple[jax.Array, ...]
  valid: jax.Array


def _head_dim(model: TransformerXL) -> int:
  return model.head_dim or model.d_model // model.num_heads


def empty_cached_memory(model: TransformerXL, batch_size: int,
                        mem_len: Optional[int] = None) -> CachedMemory:
  """All-invalid `CachedMemory` of `mem_len` slots (default `model.mem_len`)."""
  mem_len = model.mem_len if mem_len is None else mem_len
  shape = (batch_size, model.num_heads, mem_len, _head_dim(model))
  return CachedMemory(keys=tuple(jnp.zeros(shape) for _ in range(model.num_layers)),
                      values=tuple(jnp.zeros(shape) for _ in range(model.num_layers)),
                      valid=jnp.zeros((batch_size, mem_len), bool))


def position_keys(model: TransformerXL, klen: int) -> Tuple[jax.Array, ...]:
  """r^n = W^n_{k,R} R for every layer n, each `[heads, klen + 1, head_dim]` (a `method=`).

  Rows are distances klen-1..0 and the spare row for -1 (`relative_attention.rel_shift`).
  A tuple with one array per layer, for the reason given in `CachedMemory`.
  """
  encodings = model.encodings(klen)
  return tuple(layer.attention.project_positions(encodings) for layer in model.layers)


def project_memory(model: TransformerXL, state: XLState) -> CachedMemory:
  """The `CachedMemory` equivalent of a hidden-state `XLState` (a `method=`)."""
  keys, values = [], []
  for n, layer in enumerate(model.layers):
    layer_keys, layer_values = layer.attention.project_keys_values(state.memory.hidden[:, n])
    keys.append(layer_keys)
    values.append(layer_values)
  return CachedMemory(keys=tuple(keys), values=tuple(values), valid=state.memory.valid)


def _check_position_keys(model: TransformerXL, layer_position_keys: Tuple[jax.Array, ...],
                         klen: int) -> None:
  if len(layer_position_keys) != model.num_layers:
    raise ValueError(f"position keys for {len(layer_position_keys)} layers, but the model has "
                     f"{model.num_layers}; use position_keys(model, {klen})")
  if layer_position_keys[0].shape[1] != klen + 1:
    raise ValueError(f"position keys cover klen={layer_position_keys[0].shape[1] - 1}, but the "
                     f"memories and the segment make {klen} keys; use position_keys(model, {klen})")


def _check_deterministic(model: TransformerXL) -> None:
  # The cached paths never apply dropout; a training-mode model would silently differ.
  if not model.deterministic:
    raise ValueError("cached evaluation runs without dropout; use the model with "
                     "deterministic=True (the default), not its training clone")


def _append(old: jax.Array, new: jax.Array, length: int) -> jax.Array:
  """The last `length` entries of `[old o new]` (`[batch, heads, n, head_dim]`) along axis 2."""
  blocks = jnp.concatenate([old, new], axis=2)
  return blocks[:, :, blocks.shape[2] - length:]


def _layer_over_cache(layer, hidden: jax.Array, keys: jax.Array, values: jax.Array,
                      position_keys: jax.Array, mask: jax.Array,
                      older: Tuple[Tuple[jax.Array, ...], Tuple[jax.Array, ...]] = ((), ())):
  """One layer's segment over `[older o cached memory o segment]`.

  Args:
    layer: the bound `XLLayer`.
    hidden: its input `[batch, qlen, d_model]`.
    keys, values: the cached memory `[batch, heads, mem_len, head_dim]`.
    position_keys: `[heads, klen + 1, head_dim]`.
    mask: `[batch, qlen, klen]`.
    older: (key blocks, value blocks) attended before the memory (the compressed memory).

  Returns:
    (h^n `[batch, qlen, d_model]`, next cache keys, values (the last mem_len of
    `[memory o segment]`), attention probabilities `[batch, heads, qlen, klen]`).
  """
  attention = layer.attention
  segment_keys, segment_values = attention.project_keys_values(hidden)
  keys, values = jax.lax.stop_gradient(keys), jax.lax.stop_gradient(values)
  older_keys, older_values = jax.tree_util.tree_map(jax.lax.stop_gradient, older)
  # The blocks stay separate: no concatenated copy of the cache for attention.
  attended, probabilities = attention.attend(
      attention.project_queries(hidden), tuple(older_keys) + (keys, segment_keys),
      tuple(older_values) + (values, segment_values), position_keys, mask)
  mem_len = keys.shape[2]
  return (layer.finish(hidden, attended), _append(keys, segment_keys, mem_len),
          _append(values, segment_values, mem_len), probabilities)


def cached_step(model: TransformerXL, cache: CachedMemory, tokens: jax.Array,
                layer_position_keys: Tuple[jax.Array, ...],
                resets: Optional[jax.Array] = None) -> Tuple[CachedMemory, jax.Array]:
  """One segment with projected memory (a `method=`); equals `TransformerXL.__call__`.

  Args:
    model: the bound `TransformerXL`.
    cache: `CachedMemory` with mem_len slots.
    tokens: `[batch, qlen]`.
    layer_position_keys: `position_keys(model, mem_len + qlen)`, per layer
      `[heads, klen + 1, head_dim]`.
    resets: optional `[batch]` bool, empties that example's memory first.

  Returns:
    (new cache, logits `[batch, qlen, vocab_size]`).
  """
  valid = cache.valid if resets is None else cache.valid & ~resets[:, None]
  qlen = tokens.shape[1]
  mem_len = valid.shape[1]
  _check_deterministic(model)
  _check_position_keys(model, layer_position_keys, mem_len + qlen)
  mask = model.attention_mask(qlen, valid)
  hidden = model.embed(tokens)
  kept_keys, kept_values = [], []
  for n, layer in enumerate(model.layers):
    hidden, layer_keys, layer_values, _ = _layer_over_cache(
        layer, hidden, cache.keys[n], cache.values[n], layer_position_keys[n], mask)
    kept_keys.append(layer_keys)
    kept_values.append(layer_values)
  valid = jnp.concatenate([valid, jnp.ones((valid.shape[0], qlen), bool)], axis=1)[:, qlen:]
  return (CachedMemory(keys=tuple(kept_keys), values=tuple(kept_values), valid=valid),
          model.readout(hidden))


class CachedCompressiveMemory(NamedTuple):
  """Projected memories of a `CompressiveTransformer`; leading dim is batch.

  Attributes:
    memory: `CachedMemory` of the mem_len uncompressed slots.
    memory_hidden: their hidden states `[batch, layers, mem_len, d_model]`,
      which f_c compresses when they are evicted.
    compressed: `CachedMemory` of the compressed_mem_len compressed slots.
  """
  memory: CachedMemory
  memory_hidden: jax.Array
  compressed: CachedMemory


def empty_cached_compressive_memory(model: CompressiveTransformer, batch_size: int,
                                    mem_len: Optional[int] = None) -> CachedCompressiveMemory:
  """All-invalid `CachedCompressiveMemory` (`mem_len` defaults to `model.mem_len`)."""
  memory = empty_cached_memory(model, batch_size, mem_len)
  hidden = jnp.zeros((batch_size, model.num_layers, memory.valid.shape[1], model.d_model))
  return CachedCompressiveMemory(memory=memory, memory_hidden=hidden,
                                 compressed=empty_cached_memory(model, batch_size,
                                                                model.compressed_mem_len))


def project_compressive_memory(model: CompressiveTransformer,
                               state: CompressiveState) -> CachedCompressiveMemory:
  """The `CachedCompressiveMemory` equivalent of a `CompressiveState` (a `method=`)."""
  return CachedCompressiveMemory(
      memory=project_memory(model, XLState(memory=state.memory)),
      memory_hidden=state.memory.hidden,
      compressed=project_memory(model, XLState(memory=state.compressed)))


def compressive_cached_step(model: CompressiveTransformer, cache: CachedCompressiveMemory,
                            tokens: jax.Array, layer_position_keys: Tuple[jax.Array, ...],
                            resets: Optional[jax.Array] = None
                            ) -> Tuple[CachedCompressiveMemory, jax.Array]:
  """One segment with projected memories (a `method=`); equals `CompressiveTransformer.__call__`.

  Keys are `[cm o m o h]` as there. After the layers, m <- last mem_len of
  `[m o h]`; the evicted hidden states e go through each layer's f_c and only
  the compressed slots `f_c(e)` `[batch, qlen / c, d_model]` are projected,
  cm <- last compressed_mem_len of `[cm o (W_{k,E}, W_v) f_c(e)]`. The
  reconstruction loss (training only) is not computed.

  Args:
    model: the bound `CompressiveTransformer`.
    cache: `CachedCompressiveMemory`.
    tokens: `[batch, qlen]`; c must divide qlen when there is a compressed memory.
    layer_position_keys: `position_keys(model, compressed_mem_len + mem_len + qlen)`.
    resets: optional `[batch]` bool, empties that example's memories first.

  Returns:
    (new cache, logits `[batch, qlen, vocab_size]`).
  """
  _check_deterministic(model)
  memory_valid, compressed_valid = cache.memory.valid, cache.compressed.valid
  if resets is not None:
    memory_valid = memory_valid & ~resets[:, None]
    compressed_valid = compressed_valid & ~resets[:, None]
  qlen = tokens.shape[1]
  mem_len, num_compressed = memory_valid.shape[1], compressed_valid.shape[1]
  if num_compressed and qlen % model.compression_rate:
    raise ValueError(f"model.compression_rate={model.compression_rate} must divide the "
                     f"segment length {qlen}")
  _check_position_keys(model, layer_position_keys, num_compressed + mem_len + qlen)
  mask = model.attention_mask(qlen, jnp.concatenate([compressed_valid, memory_valid], axis=1))
  hidden = model.embed(tokens)
  layer_inputs, usages, kept_keys, kept_values = [], [], [], []
  for n, layer in enumerate(model.layers):
    layer_inputs.append(hidden)
    hidden, layer_keys, layer_values, probabilities = _layer_over_cache(
        layer, hidden, cache.memory.keys[n], cache.memory.values[n], layer_position_keys[n],
        mask, older=((cache.compressed.keys[n],), (cache.compressed.values[n],)))
    kept_keys.append(layer_keys)
    kept_values.append(layer_values)
    # As in __call__: attention each state of [m o h] received (only most_used reads it).
    usages.append(jnp.sum(probabilities, axis=(1, 2))[:, num_compressed:])
  previous = xl_memory.XLMemory(hidden=cache.memory_hidden, valid=memory_valid)
  kept, evicted = xl_memory.push(previous, jnp.stack(layer_inputs, axis=1))
  memory = CachedMemory(keys=tuple(kept_keys), values=tuple(kept_values), valid=kept.valid)
  compressed = cache.compressed._replace(valid=compressed_valid)
  if num_compressed:
    new_valid = compression.compressed_validity(evicted.valid, model.compression_rate,
                                                model.compression_function)
    keys, values = [], []
    for n, layer in enumerate(model.layers):
      squeezed = model.compressors[n](evicted.hidden[:, n], usages[n][:, :qlen], evicted.valid)
      new_keys, new_values = layer.attention.project_keys_values(squeezed)
      keys.append(_append(compressed.keys[n], new_keys, num_compressed))
      values.append(_append(compressed.values[n], new_values, num_compressed))
    valid = jnp.concatenate([compressed_valid, new_valid], axis=1)[:, -num_compressed:]
    compressed = CachedMemory(keys=tuple(keys), values=tuple(values), valid=valid)
  return (CachedCompressiveMemory(memory=memory, memory_hidden=kept.hidden,
                                  compressed=compressed),
          model.readout(hidden))


def generate(model: TransformerXL, params, prompt: jax.Array, rng: jax.Array, num_tokens: int,
             temperature: float = 1.0) -> jax.Array:
  """Samples `num_tokens` tokens after `prompt` with the key/value cache, inside `lax.scan`.

  A plain function (jit it with `model`, `num_tokens`, `temperature` bound).
  Token t+1 ~ softmax(logits_t / temperature); temperature 0 takes the argmax.

  Transformer-XL (and a Compressive Transformer with c = 1 or no compressed
  memory): the prompt and every sampled token go through `cached_step` (or
  `compressive_cached_step`) with qlen = 1, so each new token attends the last
  `mem_len` tokens (plus the compressed memory), as in XL's evaluation.

  Compressive Transformer with compression rate c > 1: f_c squeezes c evicted
  states into one slot, so the memories advance in segments of c tokens. The
  text is cut into segments of c; a token at offset k of its segment runs the
  whole segment `[x_0 .. x_k, (stale) ...]` from the memories at the segment's
  start and reads the logits at k (causal attention: the stale tokens after k
  cannot reach them), and the memories are kept only once the segment is
  complete. The samples are thereby those of the model evaluated with segment
  length c, at c times the cost of a qlen = 1 step per token.

  Args:
    model: `TransformerXL` or `CompressiveTransformer`.
    params: `{"params": ...}`.
    prompt: `[batch, P]` token ids, P >= 1.
    rng: PRNG key for the sampling.
    num_tokens: tokens to sample.
    temperature: >= 0.

  Returns:
    `[batch, num_tokens]` sampled ids.
  """
  if prompt.ndim != 2 or prompt.shape[1] < 1:
    raise ValueError(f"generate: prompt must be [batch, P] with P >= 1, got {prompt.shape}")
  if temperature < 0:
    raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
  batch_size = prompt.shape[0]
  if isinstance(model, CompressiveTransformer):
    segment = model.compression_rate if model.compressed_mem_len else 1
    cache = empty_cached_compressive_memory(model, batch_size)
    klen = model.compressed_mem_len + model.mem_len + segment
    method = compressive_cached_step
  else:
    segment, method = 1, cached_step
    cache, klen = empty_cached_memory(model, batch_size), model.mem_len + 1
  keys = model.apply(params, klen, method=position_keys)

  def feed(carry, token):
    """Token at `offset` of the current segment -> (carry after it, logits after it `[batch, V]`)."""
    cache, window, offset = carry
    window = jax.lax.dynamic_update_slice_in_dim(window, token[:, None], offset, axis=1)
    new_cache, logits = model.apply(params, cache, window, keys, method=method)
    if segment == 1:
      return (new_cache, window, offset), logits[:, 0]
    complete = offset == segment - 1
    cache = jax.tree_util.tree_map(lambda new, old: jnp.where(complete, new, old), new_cache, cache)
    logits = jax.lax.dynamic_index_in_dim(logits, offset, axis=1, keepdims=False)
    return (cache, window, (offset + 1) % segment), logits

  def draw(logits, key):
    if temperature == 0:
      return jnp.argmax(logits, axis=-1)
    return jax.random.categorical(key, logits / temperature, axis=-1)

  start = (cache, jnp.zeros((batch_size, segment), prompt.dtype), jnp.zeros((), jnp.int32))
  carry, prompt_logits = jax.lax.scan(feed, start, prompt.T)

  def sample(state, key):
    carry, logits = state
    token = draw(logits, key).astype(prompt.dtype)
    return feed(carry, token), token

  _, tokens = jax.lax.scan(sample, (carry, prompt_logits[-1]), jax.random.split(rng, num_tokens))
  return tokens.T


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
  c + Q - 1 down to c + Q - A, and one spare, for `rel_shift`: a slice of A + 1
  rows, starting at A - Q - c, of the position keys for distances A - 1..-1
  followed by A - 1 zero rows (negative distances, always masked).
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
    # Position rows for distances A-1..0, -1, then zeros (negative distances, always masked).
    table = jnp.pad(attention.project_positions(encodings), ((0, 0), (0, length - 1), (0, 0)))

    def block(start, size, inputs=hidden, layer=layer, keys=keys, values=values, table=table):
      """h^n for the `size` queries at absolute positions start, ...: `[batch, size, d_model]`."""
      queries = jax.lax.dynamic_slice_in_dim(inputs, start, size, axis=1)
      shifted = jax.lax.dynamic_slice_in_dim(table, length - size - start, length + 1, axis=1)
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
