"""Tests for memjax.knowledge.key_hashing on a hand-built graph."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.knowledge import key_hashing
from memjax.knowledge.graph import KnowledgeGraph

# index: triple
_TRIPLES = [
    ("Alien", "directed_by", "Ridley"),        # 0
    ("Ridley", "born_in", "South Shields"),    # 1
    ("South Shields", "located_in", "UK"),     # 2
    ("Heat", "directed_by", "Mann"),           # 3
    ("Mann", "born_in", "Chicago"),            # 4
    ("Alien", "starred", "Weaver"),            # 5
    ("Weaver", "born_in", "New York"),         # 6
    ("Chicago", "located_in", "USA"),          # 7
    ("New York", "located_in", "USA"),         # 8
    ("Ridley", "directed", "Alien"),           # 9  (back edge: Alien is reached again)
    ("UK", "official_language", "English"),    # 10
]
_GRAPH = KnowledgeGraph.from_named_triples(_TRIPLES)
_ARRAYS = jax.tree_util.tree_map(jnp.asarray, _GRAPH.arrays())
_E = _GRAPH.num_entities
# One compiled program per (num_entities, num_hops, max_candidates); eager is far slower.
_hash = jax.jit(key_hashing.hash_candidates, static_argnums=(2, 3, 4))


def _seeds(*names, width=3):
  ids = [_GRAPH.entity_id(n) for n in names]
  return jnp.asarray(ids + [-1] * (width - len(ids)), jnp.int32)


def _numpy_distances(seed_names, num_hops):
  """Reference: breadth-first over triples, in plain Python."""
  frontier = {_GRAPH.entity_id(n) for n in seed_names}
  distance = np.full(len(_TRIPLES), num_hops + 1)
  for hop in range(1, num_hops + 1):
    reached = set()
    for i, (s, _, o) in enumerate(_GRAPH.triples):
      if s in frontier:
        distance[i] = min(distance[i], hop)
        reached.add(int(o))
    frontier = reached
  return distance


@pytest.mark.parametrize("num_hops, expected", [
    (1, [0, 5]),
    (2, [0, 5, 1, 6, 9]),
    (3, [0, 5, 1, 6, 9, 2, 8]),
])
def test_candidates_are_exactly_the_triples_within_num_hops(num_hops, expected):
  candidates = _hash(_ARRAYS, _seeds("Alien"), _E, num_hops, 12)
  n = len(expected)
  assert candidates.indices[:n].tolist() == expected  # ordered by (hop, index)
  assert candidates.mask.tolist() == [True] * n + [False] * (12 - n)
  assert int(candidates.num_reachable) == n
  reference = _numpy_distances(["Alien"], num_hops)
  assert candidates.distance[:n].tolist() == reference[expected].tolist()
  assert set(np.nonzero(reference <= num_hops)[0]) == set(expected)


def test_several_seeds_and_padding():
  candidates = _hash(_ARRAYS, _seeds("Heat", "Weaver"), _E, 2, 12)
  assert candidates.indices.tolist() == [3, 6, 4, 8] + [0] * 8  # padding indices are 0
  assert candidates.mask.tolist() == [True] * 4 + [False] * 8
  assert candidates.distance[:4].tolist() == [1, 1, 2, 2]


def test_truncation_keeps_nearest_hops_first():
  candidates = _hash(_ARRAYS, _seeds("Alien"), _E, 3, 4)
  assert candidates.indices.tolist() == [0, 5, 1, 6]
  assert candidates.mask.all() and int(candidates.num_reachable) == 7


def test_no_seed_gives_an_empty_set():
  candidates = _hash(_ARRAYS, _seeds(), _E, 3, 12)
  assert not candidates.mask.any() and int(candidates.num_reachable) == 0


def test_batch_matches_single_and_numpy_on_random_graphs():
  rng = np.random.default_rng(0)
  num_entities, num_triples = 30, 120
  triples = np.stack([rng.integers(0, num_entities, num_triples), rng.integers(0, 4, num_triples),
                      rng.integers(0, num_entities, num_triples)], axis=1)
  graph = KnowledgeGraph(tuple(f"e{i}" for i in range(num_entities)), ("a", "b", "c", "d"), triples)
  arrays = graph.arrays()
  seeds = np.full((6, 2), -1, np.int32)
  seeds[:, 0] = rng.integers(0, num_entities, 6)
  seeds[::2, 1] = rng.integers(0, num_entities, 3)
  batch = key_hashing.batch_hash_candidates(arrays, jnp.asarray(seeds), num_entities, 2, 40)
  for b in range(6):
    frontier = {int(s) for s in seeds[b] if s >= 0}
    distance = np.full(num_triples, 3)
    for hop in (1, 2):
      hit = np.isin(triples[:, 0], list(frontier))
      distance = np.where(hit & (distance > hop), hop, distance)
      frontier = set(triples[hit, 2].tolist())
    order = np.lexsort((np.arange(num_triples), distance))
    order = order[distance[order] <= 2][:40]
    assert batch.indices[b, :len(order)].tolist() == order.tolist()
    assert int(batch.mask[b].sum()) == len(order)
  single = _hash(arrays, jnp.asarray(seeds[3]), num_entities, 2, 40)
  np.testing.assert_array_equal(single.indices, batch.indices[3])


def test_entity_mask_and_reached_entities():
  mask = key_hashing.entity_mask(jnp.asarray([2, -1, 0]), 4)
  assert mask.tolist() == [True, False, True, False]
  reached = key_hashing.reached_entities(jnp.asarray([1, 3, 3]), jnp.asarray([False, True, True]), 4)
  assert reached.tolist() == [False, False, False, True]
