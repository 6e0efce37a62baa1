"""Transformer-XL, the Compressive Transformer and the vanilla baseline as memory cores.

All three follow `memjax.cores.base`'s contract at *segment* granularity:

    carry = model.initialize_carry(rng, (batch, segment_length))
    carry, logits = model(carry, tokens)     # tokens [batch, qlen] int, logits [batch, qlen, vocab]

so `memjax.cores.dynamic_unroll` can scan a `[batch, num_segments, qlen]` stream
and the memory is carried like any other core state.

Each layer n (Dai et al. 2019, sec. 3.3; post-layer-norm as in the released code):

    h~^{n-1} = [SG(m^{n-1}) o h^{n-1}]                                  xl_memory.py
    A^rel    = (q + u)^T k + rel_shift((q + v)^T W_{k,R} R)             relative_attention.py
    a^n      = LayerNorm(h^{n-1} + W_o Masked-Softmax(A^rel / sqrt(d_head)) v)
    h^n      = LayerNorm(a^n + W_2 relu(W_1 a^n + b_1) + b_2)

and logits = W_out h^N. With `dropout = p > 0` and `deterministic=False`
(training; the caller passes `rngs={"dropout": key}`), dropout of rate p is
applied where the released code applies it: to h^0, to R, to W_o's output, to
the feed-forward block's hidden layer and output, and to h^N. The memory then
holds the dropped-out layer inputs, as in the released code.

`mem_len = 0` is the vanilla causal Transformer with relative positions
(`vanilla_transformer`), evaluated by sliding a window one token at a time
(`fast_eval.sliding_window_logits`, Al-Rfou et al. 2018).

The Compressive Transformer (Rae et al. 2019) adds a second memory of
`compressed_mem_len` slots per layer, fed by the `qlen` states that fall out of
the XL memory each segment, compressed by `compression_rate`
(compression.py); keys are `[SG(cm^{n-1}) o SG(m^{n-1}) o h^{n-1}]`. Its
attention-reconstruction loss is sown into the `losses` collection
(`model.apply(..., mutable=['losses'])`).
"""
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.base import MemoryCore
from memjax.transformer import compression
from memjax.transformer import relative_attention as rel
from memjax.transformer import xl_memory
from memjax.transformer.xl_memory import XLMemory

_INIT_STDDEV = 0.02  # The released code initialises all weights N(0, 0.02).


class XLState(NamedTuple):
  """Transformer-XL carry: `memory` (an `XLMemory`, `hidden [batch, layers, mem_len, d_model]`)."""
  memory: XLMemory


class CompressiveState(NamedTuple):
  """Compressive Transformer carry.

  Attributes:
    memory: `XLMemory`, `hidden [batch, layers, mem_len, d_model]`.
    compressed: `XLMemory`, `hidden [batch, layers, compressed_mem_len, d_model]`.
  """
  memory: XLMemory
  compressed: XLMemory


class XLLayer(nn.Module):
  """One Transformer-XL layer: relative attention over memory, then the feed-forward block."""
  d_model: int
  num_heads: int
  head_dim: int
  d_ff: int
  dropout: float = 0.0
  deterministic: bool = True

  def setup(self):
    init = nn.initializers.normal(_INIT_STDDEV)
    self.attention = rel.RelativeAttention(self.num_heads, self.head_dim)
    self.attention_output = nn.Dense(self.d_model, use_bias=False, kernel_init=init)  # W_o
    self.attention_norm = nn.LayerNorm()
    self.ff_hidden = nn.Dense(self.d_ff, kernel_init=init)
    self.ff_output = nn.Dense(self.d_model, kernel_init=init)
    self.ff_norm = nn.LayerNorm()
    self.drop = nn.Dropout(self.dropout, deterministic=self.deterministic)

  def finish(self, inputs: jax.Array, attended: jax.Array) -> jax.Array:
    """Residual + LayerNorm around W_o, then the position-wise feed-forward block.

    inputs `[batch, qlen, d_model]`, attended `[batch, qlen, heads * head_dim]`.
    """
    hidden = self.attention_norm(inputs + self.drop(self.attention_output(attended)))
    feed_forward = self.ff_output(self.drop(nn.relu(self.ff_hidden(hidden))))
    return self.ff_norm(hidden + self.drop(feed_forward))

  def __call__(self, inputs: jax.Array, memory: jax.Array, encodings: jax.Array,
               mask: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """inputs `[batch, qlen, d_model]`, memory `[batch, mlen, d_model]`, mask `[batch, qlen, klen]`.

    Returns (h^n `[batch, qlen, d_model]`, attention `[batch, heads, qlen, klen]`).
    """
    attended, probabilities = self.attention(inputs, memory, encodings, mask)
    return self.finish(inputs, attended), probabilities


class TransformerXL(MemoryCore):
  """Transformer-XL language model over tokens; `mem_len = 0` is the vanilla baseline.

  Attributes:
    vocab_size: number of token ids (256 for bytes).
    d_model: model width.
    num_layers: N.
    num_heads: H.
    d_ff: feed-forward hidden width.
    mem_len: memory length per layer; may differ between training and evaluation
      (the parameters do not depend on it: `model.clone(mem_len=...)`).
    head_dim: d_head (default d_model // num_heads).
    clamp_len: relative distances beyond this share one encoding (None: no clamp).
    same_length: every query attends the same number of keys (evaluation option).
    dropout: dropout rate p (0: none; the released enwik8 base model uses 0.1).
    deterministic: no dropout (evaluation); training clones the model with
      `deterministic=False` and applies it with `rngs={"dropout": key}`.
  """
  vocab_size: int
  d_model: int = 128
  num_layers: int = 2
  num_heads: int = 4
  d_ff: int = 512
  mem_len: int = 0
  head_dim: Optional[int] = None
  clamp_len: Optional[int] = None
  same_length: bool = False
  dropout: float = 0.0
  deterministic: bool = True

  def setup(self):
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"model.dropout={self.dropout} must be in [0, 1)")
    if self.mem_len < 0:
      raise ValueError(f"model.mem_len must be >= 0, got {self.mem_len}")
    if self.clamp_len == 0:
      # The released Transformer-XL scripts pass 0 for "no clamp"; here it would clamp every
      # distance to 0 and silently remove all position information.
      raise ValueError("model.clamp_len=0 would give every distance the same encoding; for no "
                       "clamp set -1 (the released Transformer-XL code's 0)")
    head_dim = self.head_dim or self.d_model // self.num_heads
    init = nn.initializers.normal(_INIT_STDDEV)
    self.embedding = nn.Embed(self.vocab_size, self.d_model, embedding_init=init)
    self.layers = [XLLayer(self.d_model, self.num_heads, head_dim, self.d_ff, self.dropout,
                           self.deterministic, name=f"layer_{n}")
                   for n in range(self.num_layers)]
    self.drop = nn.Dropout(self.dropout, deterministic=self.deterministic)
    self.readout = nn.Dense(self.vocab_size, kernel_init=init)

  # -- pieces shared with fast_eval.py ------------------------------------------------------
  def embed(self, tokens: jax.Array) -> jax.Array:
    """tokens `[batch, qlen]` -> h^0 `[batch, qlen, d_model]` (scaled by sqrt(d_model))."""
    return self.embedding(tokens.astype(jnp.int32)) * (self.d_model ** 0.5)

  def encodings(self, klen: int) -> jax.Array:
    """R for distances klen-1..0 (clamped) and the spare row -1: `[klen + 1, d_model]`."""
    return rel.sinusoid_encoding(rel.relative_distances(klen, self.clamp_len, spare_row=True),
                                 self.d_model)

  def attention_mask(self, qlen: int, memory_valid: jax.Array) -> jax.Array:
    """`[batch, qlen, mlen + qlen]` causal mask, memory slots gated by `memory_valid [batch, mlen]`."""
    mlen = memory_valid.shape[1]
    causal = rel.causal_mask(qlen, mlen, self.same_length, mem_len=mlen)
    return xl_memory.key_mask(causal, memory_valid)

  # -- core contract ------------------------------------------------------------------------
  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> XLState:
    """Empty memory for `input_shape = (batch, segment_length)`."""
    del rng  # The empty memory is deterministic.
    return XLState(memory=xl_memory.empty_memory(input_shape[0], self.num_layers, self.mem_len,
                                                 self.d_model))

  def __call__(self, carry: XLState, tokens: jax.Array,
               resets: Optional[jax.Array] = None) -> Tuple[XLState, jax.Array]:
    """One segment.

    Args:
      carry: `XLState` from `initialize_carry` or the previous segment.
      tokens: `[batch, qlen]` token ids.
      resets: optional `[batch]` bool; True empties that example's memory first
        (a new document starts at this segment).

    Returns:
      (new carry, logits `[batch, qlen, vocab_size]`). Every layer's input for the
      segment is sown as `intermediates/layer_inputs` `[batch, layers, qlen, d_model]`.
    """
    memory = carry.memory
    if resets is not None:
      memory = xl_memory.reset(memory, resets)
    hidden, layer_inputs = self.forward(self.drop(self.embed(tokens)), memory)
    self.sow("intermediates", "layer_inputs", layer_inputs)
    memory, _ = xl_memory.push(memory, layer_inputs)
    return XLState(memory=memory), self.readout(self.drop(hidden))

  def forward(self, hidden: jax.Array, memory: XLMemory) -> Tuple[jax.Array, jax.Array]:
    """The layer stack over one segment.

    Args:
      hidden: h^0 `[batch, qlen, d_model]`.
      memory: `XLMemory` with `hidden [batch, layers, mlen, d_model]`.

    Returns:
      (h^N `[batch, qlen, d_model]`, every layer's input `[batch, layers, qlen, d_model]`).
    """
    qlen = hidden.shape[1]
    encodings = self.drop(self.encodings(memory.hidden.shape[2] + qlen))
    mask = self.attention_mask(qlen, memory.valid)
    layer_inputs = []
    for n, layer in enumerate(self.layers):
      layer_inputs.append(hidden)
      # SG(m): no gradient flows into earlier segments (also applied when writing).
      hidden, _ = layer(hidden, jax.lax.stop_gradient(memory.hidden[:, n]), encodings, mask)
    return hidden, jnp.stack(layer_inputs, axis=1)


def vanilla_transformer(vocab_size: int, **fields) -> TransformerXL:
  """The vanilla baseline: the same model with no memory (`mem_len = 0`)."""
  if fields.pop("mem_len", 0):
    raise ValueError("vanilla_transformer has no memory; do not set model.mem_len")
  return TransformerXL(vocab_size=vocab_size, mem_len=0, **fields)


class CompressiveTransformer(TransformerXL):
  """Transformer-XL plus a compressed memory (Rae et al. 2019).

  Attributes (besides TransformerXL's):
    compressed_mem_len: compressed memory slots per layer (0: plain XL).
    compression_rate: c; must divide the segment length.
    compression_function: one of `compression.COMPRESSION_FUNCTIONS`.
  """
  compressed_mem_len: int = 0
  compression_rate: int = 2
  compression_function: str = "conv"

  def setup(self):
    super().setup()
    if self.compression_function not in compression.COMPRESSION_FUNCTIONS:
      raise ValueError(f"model.compression_function={self.compression_function!r} is not one "
                       f"of {compression.COMPRESSION_FUNCTIONS}")
    self.compressors = [compression.Compressor(self.compression_function, self.compression_rate,
                                               name=f"compressor_{n}")
                        for n in range(self.num_layers)]

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> CompressiveState:
    del rng
    batch_size = input_shape[0]
    return CompressiveState(
        memory=xl_memory.empty_memory(batch_size, self.num_layers, self.mem_len, self.d_model),
        compressed=xl_memory.empty_memory(batch_size, self.num_layers, self.compressed_mem_len,
                                          self.d_model))

  def __call__(self, carry: CompressiveState, tokens: jax.Array,
               resets: Optional[jax.Array] = None) -> Tuple[CompressiveState, jax.Array]:
    """One segment; like `TransformerXL.__call__`, keys `[cm o m o h]`.

    Also sows `losses/reconstruction` (a scalar, the attention-reconstruction
    loss summed over layers; it trains the compressors only).
    """
    memory, compressed = carry.memory, carry.compressed
    if resets is not None:
      memory = xl_memory.reset(memory, resets)
      compressed = xl_memory.reset(compressed, resets)
    qlen = tokens.shape[1]
    if self.compressed_mem_len and qlen % self.compression_rate:
      raise ValueError(f"model.compression_rate={self.compression_rate} must divide the "
                       f"segment length {qlen}")
    num_compressed = self.compressed_mem_len
    encodings = self.drop(self.encodings(num_compressed + self.mem_len + qlen))
    mask = self.attention_mask(qlen, jnp.concatenate([compressed.valid, memory.valid], axis=1))
    hidden = self.drop(self.embed(tokens))
    layer_inputs, usages = [], []
    for n, layer in enumerate(self.layers):
      layer_inputs.append(hidden)
      layer_memory = jax.lax.stop_gradient(
          jnp.concatenate([compressed.hidden[:, n], memory.hidden[:, n]], axis=1))
      hidden, probabilities = layer(hidden, layer_memory, encodings, mask)
      # Attention each state of [m o h] received, summed over heads and queries.
      usages.append(jnp.sum(probabilities, axis=(1, 2))[:, num_compressed:])
    layer_inputs = jnp.stack(layer_inputs, axis=1)
    self.sow("intermediates", "layer_inputs", layer_inputs)
    memory, evicted = xl_memory.push(memory, layer_inputs)
    if num_compressed:
      compressed = self._compress(compressed, evicted, layer_inputs, usages, qlen)
    return CompressiveState(memory=memory, compressed=compressed), self.readout(self.drop(hidden))

  def _compress(self, compressed: XLMemory, evicted: XLMemory, layer_inputs: jax.Array,
                usages, qlen: int) -> XLMemory:
    """cm <- last compressed_mem_len of [cm o f_c(old_mem)]; sows the reconstruction loss."""
    new_states, reconstruction = [], 0.0
    new_valid = compression.compressed_validity(evicted.valid, self.compression_rate,
                                                self.compression_function)
    complete = jnp.all(evicted.valid, axis=1)
    for n, layer in enumerate(self.layers):
      old_memory = evicted.hidden[:, n]
      squeezed = self.compressors[n](old_memory, usages[n][:, :qlen], evicted.valid)
      new_states.append(squeezed)
      queries = jax.lax.stop_gradient(layer_inputs[:, n])
      target = layer.attention.frozen_content_attention(queries, old_memory, evicted.valid)
      estimate = layer.attention.frozen_content_attention(queries, squeezed, new_valid)
      reconstruction += compression.reconstruction_error(target, estimate, complete)
    self.sow("losses", "reconstruction", reconstruction)
    updated, _ = xl_memory.push(compressed, jnp.stack(new_states, axis=1), new_valid)
    return updated
