"""What the segment models with a memory other than XL's share: a local Transformer stack.

Infini-attention (infini_attention.py), the Recurrent Memory Transformer
(recurrent_memory.py) and the Memorizing Transformer (knn_memory.py) each keep
Transformer-XL's layer (model.XLLayer: relative attention, W_o, the
feed-forward block, post-LayerNorm; Dai et al. 2019) but attend, locally, only
within the current segment (no cache of past hidden states, `mem_len = 0`);
what crosses segments is their own memory, carried by the core contract:

    carry = model.initialize_carry(rng, (batch, segment_length))
    carry, logits = model(carry, tokens, resets)  # tokens [batch, qlen] -> [batch, qlen, vocab]

With the same sizes their parameters are XL's plus a few per-head scalars (and,
for the RMT, the initial memory tokens), so the models compare at equal parameters.
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.base import MemoryCore
from memjax.transformer import relative_attention as rel

_INIT_STDDEV = 0.02  # as model.py: the released Transformer-XL code's N(0, 0.02)


class LocalSegmentModel(MemoryCore):
  """Embedding, relative encodings, causal masks and readout of a local Transformer stack.

  Attributes:
    vocab_size: number of token ids.
    d_model: model width.
    num_layers: N.
    num_heads: H.
    d_ff: feed-forward hidden width.
    head_dim: d_head (default d_model // num_heads).
    clamp_len: relative distances beyond this share one encoding (None or -1: no clamp).
    dropout: dropout rate p, applied where Transformer-XL applies it.
    deterministic: no dropout (evaluation).
  """
  vocab_size: int
  d_model: int = 128
  num_layers: int = 2
  num_heads: int = 4
  d_ff: int = 512
  head_dim: Optional[int] = None
  clamp_len: Optional[int] = None
  dropout: float = 0.0
  deterministic: bool = True

  # No cache of past hidden states: the memory is the subclass's own (SegmentLM reads this).
  mem_len = 0

  @property
  def head_size(self) -> int:
    return self.head_dim or self.d_model // self.num_heads

  def setup_shared(self):
    """The embedding, dropout and readout (subclasses call it from `setup`)."""
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"model.dropout={self.dropout} must be in [0, 1)")
    init = nn.initializers.normal(_INIT_STDDEV)
    self.embedding = nn.Embed(self.vocab_size, self.d_model, embedding_init=init)
    self.drop = nn.Dropout(self.dropout, deterministic=self.deterministic)
    self.readout = nn.Dense(self.vocab_size, kernel_init=init)

  def embed(self, tokens: jax.Array) -> jax.Array:
    """tokens `[batch, qlen]` -> h^0 `[batch, qlen, d_model]` (scaled by sqrt(d_model), as XL)."""
    return self.embedding(tokens.astype(jnp.int32)) * (self.d_model ** 0.5)

  def encodings(self, length: int) -> jax.Array:
    """R for distances length-1..0 and the spare row -1: `[length + 1, d_model]`."""
    clamp = None if self.clamp_len is None or self.clamp_len < 0 else self.clamp_len
    return self.drop(rel.sinusoid_encoding(rel.relative_distances(length, clamp, spare_row=True),
                                           self.d_model))

  @staticmethod
  def causal_mask(batch_size: int, length: int) -> jax.Array:
    """`[batch, length, length]`: position i sees positions j <= i."""
    return jnp.broadcast_to(rel.causal_mask(length, 0), (batch_size, length, length))


def reset_rows(resets: Optional[jax.Array], fresh, carry):
  """carry[b] <- fresh[b] where resets[b] (`[batch]` bool; None: no reset)."""
  if resets is None:
    return carry
  return jax.tree_util.tree_map(
      lambda f, c: jnp.where(resets.reshape((-1,) + (1,) * (c.ndim - 1)), f, c), fresh, carry)
