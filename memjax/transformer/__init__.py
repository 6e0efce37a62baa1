"""Cached hidden states as memory: Transformer-XL, the Compressive Transformer, the vanilla baseline.

- `relative_attention.py`  relative encodings, rel-shift, the four-term score, u/v, masks
- `xl_memory.py`           per-layer memory: concat, truncate to mem_len, stop-gradient, resets
- `compression.py`         compression functions and the attention-reconstruction loss
- `model.py`               `TransformerXL`, `CompressiveTransformer`, `vanilla_transformer`
- `fast_eval.py`           cached-projection evaluation (XL, compressive), KV-cache decoding and
                           sampling (`generate`), the sliding vanilla baseline
"""
from memjax.transformer.model import (CompressiveState, CompressiveTransformer, TransformerXL,
                                      XLState, vanilla_transformer)
from memjax.transformer.xl_memory import XLMemory

__all__ = ["TransformerXL", "CompressiveTransformer", "vanilla_transformer", "XLState",
           "CompressiveState", "XLMemory"]
