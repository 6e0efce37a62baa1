"""Key hashing (Miller et al. 2016, sec. 3.1) as a jittable masked operation.

Before attention, keep only the memory slots that can matter to a question:

    C_1     = {i : s_i in E_q}                         triples whose subject is mentioned
    E_h     = {o_i : i in C_h}                         entities reached by hop h
    C_{h+1} = {i : s_i in E_h}                         triples of those entities

and give every triple its hop distance d_i = min{h : i in C_h} (num_hops + 1
when unreachable within `num_hops`). The candidate set is the `max_candidates`
reachable triples with the smallest (d_i, i), a fixed-size index array plus a
validity mask, so the memory that attention sees has a static shape and the
whole selection runs under `jax.jit` / `jax.vmap` with no Python loop over
triples or entities (the loop over hops is static and short).

Shapes: `num_triples = T`, `num_entities = E`, `max_candidates = K`.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp

from memjax.knowledge.graph import TripleArrays


class CandidateSet(NamedTuple):
  """A fixed-size set of candidate triples for one question (add a leading batch dim with vmap).

  Attributes:
    indices: `[K]` int32 triple indices into the graph (0 where invalid).
    distance: `[K]` int32 hop distance d of each candidate (1 = subject mentioned).
    mask: `[K]` bool, True for real candidates.
    num_reachable: scalar int32, reachable triples before truncation to K (a
      value above K means some were dropped: farthest hops, then highest index).
  """
  indices: jax.Array
  distance: jax.Array
  mask: jax.Array
  num_reachable: jax.Array


def entity_mask(entity_ids: jax.Array, num_entities: int) -> jax.Array:
  """Multi-hot of `entity_ids`.

  Args:
    entity_ids: `[M]` int entity ids, -1 for padding.
    num_entities: E.

  Returns:
    `[E]` bool, True for every listed id.
  """
  valid = entity_ids >= 0
  return jnp.zeros((num_entities,), bool).at[jnp.where(valid, entity_ids, 0)].max(valid)


def triples_of(subjects: jax.Array, entities: jax.Array) -> jax.Array:
  """C = {i : s_i in entities}.

  Args:
    subjects: `[T]` int32 subject ids s_i.
    entities: `[E]` bool entity set.

  Returns:
    `[T]` bool.
  """
  return entities[subjects]


def reached_entities(objects: jax.Array, triples: jax.Array, num_entities: int) -> jax.Array:
  """E' = {o_i : triples[i]}.

  Args:
    objects: `[T]` int32 object ids o_i.
    triples: `[T]` bool triple set.
    num_entities: E.

  Returns:
    `[E]` bool.
  """
  return jnp.zeros((num_entities,), bool).at[objects].max(triples)


def hop_distances(graph: TripleArrays, seeds: jax.Array, num_hops: int) -> jax.Array:
  """d_i = min{h <= num_hops : i in C_h}, or num_hops + 1.

  Args:
    graph: the triples, `[T]` columns.
    seeds: `[E]` bool, the entities mentioned in the question (E_q).
    num_hops: how many hops to expand.

  Returns:
    `[T]` int32 distances in 1..num_hops+1.
  """
  num_entities = seeds.shape[0]
  distance = jnp.full(graph.subjects.shape, num_hops + 1, jnp.int32)
  frontier = seeds
  for hop in range(1, num_hops + 1):
    hop_triples = triples_of(graph.subjects, frontier)
    distance = jnp.where(hop_triples & (distance > hop), hop, distance)
    frontier = reached_entities(graph.objects, hop_triples, num_entities)
  return distance


def select_candidates(distance: jax.Array, num_hops: int, max_candidates: int) -> CandidateSet:
  """The `max_candidates` reachable triples with the smallest (distance, index).

  No sort: with c_h(i) = #{j <= i : d_j = h} (one cumulative sum per hop) and
  n_h = c_h(T - 1), slot k holds hop h when N_{h-1} <= k < N_h (N_h = n_1 + ... + n_h),
  and there the triple i with c_h(i) = k - N_{h-1} + 1 reached first, found by
  binary search. Exact, O(num_hops * (T + K log T)); `lax.top_k` over T is
  many times slower on CPU.

  Args:
    distance: `[T]` int32 from `hop_distances`.
    num_hops: triples with distance <= num_hops are reachable.
    max_candidates: K, the static size of the candidate set.

  Returns:
    A `CandidateSet` of size K, candidates ordered by (distance, index).
  """
  slots = jnp.arange(max_candidates, dtype=jnp.int32)
  indices = jnp.zeros((max_candidates,), jnp.int32)
  offset = jnp.zeros((), jnp.int32)
  for hop in range(1, num_hops + 1):
    counts = jnp.cumsum(distance == hop, dtype=jnp.int32)   # c_h, [T]
    at_hop = (slots >= offset) & (slots < offset + counts[-1])
    found = jnp.searchsorted(counts, slots - offset + 1, side="left").astype(jnp.int32)
    indices = jnp.where(at_hop, found, indices)
    offset = offset + counts[-1]
  mask = slots < offset
  indices = jnp.where(mask, indices, 0)
  cand_distance = jnp.where(mask, distance[indices], num_hops + 1).astype(jnp.int32)
  return CandidateSet(indices, cand_distance, mask, offset)


def hash_candidates(graph: TripleArrays, seed_entities: jax.Array, num_entities: int,
                    num_hops: int, max_candidates: int) -> CandidateSet:
  """Key hashing for one question: seeds -> hop distances -> fixed-size candidate set.

  Args:
    graph: the triples, `[T]` columns (jnp or np arrays).
    seed_entities: `[M]` int32 linked entity ids, -1 padding.
    num_entities: E (static).
    num_hops: expansion depth, usually the model's number of hops (static).
    max_candidates: K (static).

  Returns:
    `CandidateSet` with `[K]` leaves.
  """
  seeds = entity_mask(seed_entities, num_entities)
  return select_candidates(hop_distances(graph, seeds, num_hops), num_hops, max_candidates)


def batch_hash_candidates(graph: TripleArrays, seed_entities: jax.Array, num_entities: int,
                          num_hops: int, max_candidates: int) -> CandidateSet:
  """`hash_candidates` over a batch, jitted: `seed_entities: [batch, M]` -> `[batch, K]` leaves."""
  return _batch_hash(graph, seed_entities, num_entities, num_hops, max_candidates)


_batch_hash = jax.jit(jax.vmap(hash_candidates, in_axes=(None, 0, None, None, None)),
                      static_argnums=(2, 3, 4))
