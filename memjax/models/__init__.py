"""Memory-network models: pure functions of a params dict that jit and vmap (over batch and seeds).

- `memn2n.py`   end-to-end memory network (Sukhbaatar et al. 2015)
- `kvmemnn.py`  key-value memory network (Miller et al. 2016)
"""
from memjax.models import kvmemnn, memn2n
from memjax.models.kvmemnn import KVMemNNConfig
from memjax.models.memn2n import MemN2NConfig, MemN2NOutput, memory_hop, position_encoding

__all__ = ["kvmemnn", "memn2n", "KVMemNNConfig", "MemN2NConfig", "MemN2NOutput", "memory_hop",
           "position_encoding"]
