"""Addressing: pure functions that turn keys and gates into weightings over memory slots.

Each mechanism lives in its own module and acts on *unbatched* arrays
(`memory: [num_slots, word_size]`, `weights: [num_slots]`); cores add batch and
head axes with `jax.vmap`.

- `content.py`       cosine similarity and content weighting with key strength (NTM eq. 5-6)
- `interpolation.py` the interpolation gate between content and previous weights (NTM eq. 7)
- `shift.py`         circular shift convolution (NTM eq. 8)
- `sharpen.py`       sharpening with gamma >= 1 (NTM eq. 9)
- `heads.py`         eq. 5-9 for `[batch, heads]` at once, with a hand-written backward pass
- `reductions.py`    sums, maxima and softmax over slots in blocks of <= 32 (one fused kernel
                     each on CPU, where XLA splits longer reductions into three)
- `attention.py`     softmax attention read over slots (memory networks, key-value memories)
- `allocation.py`    DNC usage, retention and allocation from sorted usage
- `temporal_linkage.py` DNC precedence, link matrix, forward/backward weightings
- `sparse_linkage.py` K-sparse link rows (SDNC)
"""
from memjax.addressing.attention import attention_read, attention_weights
from memjax.addressing.content import (content_weights, content_weights_transposed,
                                       cosine_similarity)
from memjax.addressing.heads import address_heads
from memjax.addressing.interpolation import interpolate
from memjax.addressing.sharpen import sharpen
from memjax.addressing.shift import circular_shift

__all__ = ["address_heads", "attention_weights", "attention_read", "content_weights",
           "content_weights_transposed", "cosine_similarity", "interpolate", "sharpen",
           "circular_shift"]
