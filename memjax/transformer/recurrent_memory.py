"""The Recurrent Memory Transformer (Bulatov et al., NeurIPS 2022): memory as tokens.

m memory vectors M_s `[m, d_model]` enter each segment twice, before it (read)
and after it (write), and the layer stack runs over the concatenation
(sec. 3, decoder-only form):

    H~^0_s        = [M_s o h^0_s o M_s]                    [2m + qlen, d_model]
    H~^N_s        = Transformer(H~^0_s)                    causal self-attention, N layers
    [_, H^N_s, M_{s+1}] = H~^N_s                           the write tokens' outputs
    logits_s      = W_out H^N_s

so the segment's tokens read M_s (read tokens precede them) and the write
tokens, which see everything before them, carry what the next segment needs.
M_0 is learned (`memory_init`, scaled by sqrt(d_model) like the embeddings)
and a document boundary (`resets`) starts from it again.

Gradients flow through the memory across segments, truncated every
`bptt_segments` = k segments (truncated BPTT): segments are counted from the
document's start, and the memory entering segment s is stop-gradiented when
s % k == 0, so the loss at segment s reaches back to segment k floor(s / k)
and not beyond (k = 0: no truncation). Within `long_range` the family
backpropagates through all of an example's segments, so k sets the horizon;
in `char_lm` a step backpropagates through its `train.segments_per_step`
segments (the carry entering a step holds no gradient), so the smaller of the
two sets it (configs/charlm_rmt.py: 4 and 4).

Attention is Transformer-XL's relative attention (local.py) over the
`2m + qlen` positions, causal throughout: read tokens see earlier read tokens,
write tokens see everything before them.
"""
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.transformer.local import LocalSegmentModel, reset_rows
from memjax.transformer.model import XLLayer

_INIT_STDDEV = 0.02


class RMTState(NamedTuple):
  """Recurrent Memory Transformer carry.

  Attributes:
    memory: M_s `[batch, num_memory_tokens, d_model]` (ignored where `segment` is 0).
    segment: `[batch]` int32, segments since the document started (0: use M_0).
  """
  memory: jax.Array
  segment: jax.Array


def truncate_gradient(memory: jax.Array, segment: jax.Array, bptt_segments: int) -> jax.Array:
  """SG(M_s) where s % k == 0 (s > 0), M_s elsewhere; memory `[batch, m, d]`, segment `[batch]`."""
  if bptt_segments <= 0:
    return memory
  cut = (segment % bptt_segments == 0)[:, None, None]
  return jnp.where(cut, jax.lax.stop_gradient(memory), memory)


class RecurrentMemoryTransformer(LocalSegmentModel):
  """A Transformer over `[read memory; segment; write memory]`, memory carried between segments.

  Attributes (besides `LocalSegmentModel`'s):
    num_memory_tokens: m.
    bptt_segments: k, segments the gradient crosses through the memory (0: all).
  """
  num_memory_tokens: int = 8
  bptt_segments: int = 0

  def setup(self):
    if self.num_memory_tokens < 1:
      raise ValueError(f"model.num_memory_tokens={self.num_memory_tokens} must be >= 1")
    if self.bptt_segments < 0:
      raise ValueError(f"model.bptt_segments={self.bptt_segments} must be >= 0 (0: no "
                       "truncation)")
    self.setup_shared()
    self.memory_init = self.param("memory_init", nn.initializers.normal(_INIT_STDDEV),
                                  (self.num_memory_tokens, self.d_model))  # M_0
    self.layers = [XLLayer(self.d_model, self.num_heads, self.head_size, self.d_ff,
                           self.dropout, self.deterministic, name=f"layer_{n}")
                   for n in range(self.num_layers)]

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> RMTState:
    """A document's start (`segment` 0: the learned M_0 is read) for `(batch, segment_length)`."""
    del rng  # M_0 is a parameter, read in __call__, so the carry needs none
    batch_size = input_shape[0]
    return RMTState(memory=jnp.zeros((batch_size, self.num_memory_tokens, self.d_model),
                                     jnp.float32),
                    segment=jnp.zeros((batch_size,), jnp.int32))

  def read_memory(self, carry: RMTState) -> jax.Array:
    """M_s `[batch, m, d_model]`: M_0 at a document's start, else the carried memory under
    the truncation of `truncate_gradient`."""
    initial = jnp.broadcast_to(self.memory_init * (self.d_model ** 0.5), carry.memory.shape)
    memory = truncate_gradient(carry.memory, carry.segment, self.bptt_segments)
    return jnp.where((carry.segment == 0)[:, None, None], initial, memory)

  def stack(self, hidden: jax.Array) -> jax.Array:
    """H~^N from H~^0, both `[batch, 2m + qlen, d_model]`: the N layers, causal throughout."""
    batch_size, length, _ = hidden.shape
    encodings = self.encodings(length)
    mask = self.causal_mask(batch_size, length)
    no_cache = jnp.zeros((batch_size, 0, self.d_model), hidden.dtype)
    for layer in self.layers:
      hidden, _ = layer(hidden, no_cache, encodings, mask)
    return hidden

  def __call__(self, carry: RMTState, tokens: jax.Array,
               resets: Optional[jax.Array] = None) -> Tuple[RMTState, jax.Array]:
    """One segment: tokens `[batch, qlen]` -> (carry, logits `[batch, qlen, vocab_size]`).

    `resets` `[batch]` bool starts that example's document afresh (memory M_0).
    Sows the layer-stack input `H~^0` as `intermediates/memory_inputs`.
    """
    batch_size, qlen = tokens.shape
    m = self.num_memory_tokens
    carry = reset_rows(resets, self.initialize_carry(None, (batch_size, qlen)), carry)
    memory = self.read_memory(carry)
    hidden = jnp.concatenate([memory, self.drop(self.embed(tokens)), memory], axis=1)
    self.sow("intermediates", "memory_inputs", hidden)
    hidden = self.stack(hidden)
    carry = RMTState(memory=hidden[:, m + qlen:], segment=carry.segment + 1)
    return carry, self.readout(self.drop(hidden[:, m:m + qlen]))
