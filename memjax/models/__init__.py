"""Models that are not recurrent cores, and the registry of every model a config can name.

- `memn2n.py`           end-to-end memory network (Sukhbaatar et al. 2015)
- `kv_memnn.py`         key-value memory network (Miller et al. 2016)
- `babi_features.py`    a bAbI split as the memory networks read it (sentence features, buckets)
- `language_models.py`  one interface over segments of tokens for segment models and cores
- `registry.py`         every model name by kind (`resolve`), and which families take it
"""
from memjax.models import kv_memnn, memn2n
from memjax.models.kv_memnn import KVMemNNConfig
from memjax.models.memn2n import MemN2NConfig, MemN2NOutput, memory_hop, position_encoding

__all__ = ["kv_memnn", "memn2n", "KVMemNNConfig", "MemN2NConfig", "MemN2NOutput", "memory_hop",
           "position_encoding"]
