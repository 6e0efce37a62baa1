"""Segment-level memories: cached hidden states (Transformer-XL, the Compressive Transformer, the
vanilla baseline), a compressive matrix (Infini-attention), memory tokens (the Recurrent Memory
Transformer) and a kNN memory (the Memorizing Transformer).

- `relative_attention.py`  relative encodings, rel-shift, the four-term score, u/v, masks
- `xl_memory.py`           per-layer memory: concat, truncate to mem_len, stop-gradient, resets
- `compression.py`         compression functions and the attention-reconstruction loss
- `model.py`               `TransformerXL`, `CompressiveTransformer`, `vanilla_transformer`
- `fast_eval.py`           cached-projection evaluation (XL, compressive), KV-cache decoding and
                           sampling (`generate`), the sliding vanilla baseline
- `local.py`               the local Transformer stack the three memories below share
- `infini_attention.py`    `InfiniTransformer`: per-head M, z; linear or delta update, gate
- `recurrent_memory.py`    `RecurrentMemoryTransformer`: read/write memory tokens, truncated BPTT
- `knn_memory.py`          `MemorizingTransformer`: top-k attention over a FIFO (key, value) memory
"""
from memjax.transformer.infini_attention import InfiniState, InfiniTransformer
from memjax.transformer.knn_memory import KNNMemory, MemorizingState, MemorizingTransformer
from memjax.transformer.model import (CompressiveState, CompressiveTransformer, TransformerXL,
                                      XLState, vanilla_transformer)
from memjax.transformer.recurrent_memory import RecurrentMemoryTransformer, RMTState
from memjax.transformer.xl_memory import XLMemory

__all__ = ["TransformerXL", "CompressiveTransformer", "vanilla_transformer", "XLState",
           "CompressiveState", "XLMemory", "InfiniTransformer", "InfiniState",
           "RecurrentMemoryTransformer", "RMTState", "MemorizingTransformer", "MemorizingState",
           "KNNMemory"]
