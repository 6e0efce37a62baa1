"""Knowledge graphs as external memory.

- `graph.py`          typed triple store: entity / relation vocabularies, (s, r, o) int arrays
- `linking.py`        entity linking: exact and case-insensitive, longest match first
- `key_hashing.py`    candidate pre-selection by hop distance, jittable and fixed-size
- `kv_memory.py`      triples as a key-value memory read over several hops (Miller et al. 2016)
- `synthetic_kbqa.py` seeded film-graph generator with 1/2/3-hop questions and splits
- `graph_tasks.py`    the DNC paper's graph tasks (traversal, shortest path, inference)
- `graph_kv_memory.py` a key-value memory over a graph task's triples, read over several hops
"""
from memjax.knowledge.graph import (KnowledgeGraph, TripleArrays, UnknownEntityError,
                                    UnknownRelationError)
from memjax.knowledge.key_hashing import CandidateSet, batch_hash_candidates, hash_candidates
from memjax.knowledge.kv_memory import KeyValueMemory, KVMemoryInputs, KVMemoryOutputs
from memjax.knowledge.linking import EntityLinker, EntityMention

__all__ = ["KnowledgeGraph", "TripleArrays", "UnknownEntityError", "UnknownRelationError",
           "CandidateSet", "batch_hash_candidates", "hash_candidates", "KeyValueMemory",
           "KVMemoryInputs", "KVMemoryOutputs", "EntityLinker", "EntityMention"]
