"""A typed triple store: entity and relation vocabularies and (s, r, o) integer arrays.

A knowledge graph G = {(s, r, o)} holds facts "subject s stands in relation r
to object o" (e.g. `("Blade Runner", "directed_by", "Ridley Scott")`).
`KnowledgeGraph` keeps

    entity_names:   E names, entity id i <-> entity_names[i]
    entity_types:   E type names ("film", "person", ...), or "" when untyped
    relation_names: R names, relation id j <-> relation_names[j]
    triples:        `[num_triples, 3]` int32 rows (s, r, o)

and turns names into ids with errors that name the unknown entity or relation
and the triple or question it came from. `TripleArrays` is the jit-friendly
view (three `[num_triples]` int32 arrays) that key hashing and the key-value
memory consume.
"""
import dataclasses
import difflib
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np

SUBJECT, RELATION, OBJECT = 0, 1, 2


class UnknownEntityError(KeyError):
  """Raised for an entity name that is not in the graph's entity vocabulary."""

  def __str__(self):  # KeyError would quote the message; show it as written.
    return str(self.args[0])


class UnknownRelationError(KeyError):
  """Raised for a relation name that is not in the graph's relation vocabulary."""

  def __str__(self):
    return str(self.args[0])


class TripleArrays(NamedTuple):
  """Column view of the triples, for jitted code.

  Attributes:
    subjects: `[num_triples]` int32 entity ids s.
    relations: `[num_triples]` int32 relation ids r.
    objects: `[num_triples]` int32 entity ids o.
  """
  subjects: np.ndarray
  relations: np.ndarray
  objects: np.ndarray


def _suggest(name: str, vocabulary: Sequence[str]) -> str:
  close = difflib.get_close_matches(name, vocabulary, n=3, cutoff=0.75)
  return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _index(names: Sequence[str], what: str) -> Dict[str, int]:
  index: Dict[str, int] = {}
  for i, name in enumerate(names):
    if not isinstance(name, str) or not name.strip():
      raise ValueError(f"{what} {i} has an empty or non-string name {name!r}")
    if name in index:
      raise ValueError(f"{what} name {name!r} appears twice (ids {index[name]} and {i}); "
                       "names must be unique")
    index[name] = i
  return index


@dataclasses.dataclass(frozen=True, eq=False)
class KnowledgeGraph:
  """An immutable set of typed (subject, relation, object) triples.

  Build one with `KnowledgeGraph.from_named_triples` (names, checked) or the
  constructor (ids, range-checked).

  Attributes:
    entity_names: `E` unique entity names.
    relation_names: `R` unique relation names.
    triples: `[num_triples, 3]` int32 (s, r, o) ids; duplicate rows are kept
      as given (the generator never emits them).
    entity_types: `E` type names, "" where untyped.
  """
  entity_names: Tuple[str, ...]
  relation_names: Tuple[str, ...]
  triples: np.ndarray
  entity_types: Tuple[str, ...] = ()

  def __post_init__(self):
    object.__setattr__(self, "entity_names", tuple(self.entity_names))
    object.__setattr__(self, "relation_names", tuple(self.relation_names))
    types = tuple(self.entity_types) or ("",) * len(self.entity_names)
    if len(types) != len(self.entity_names):
      raise ValueError(f"entity_types has {len(types)} entries for "
                       f"{len(self.entity_names)} entity_names")
    object.__setattr__(self, "entity_types", types)
    object.__setattr__(self, "_entity_index", _index(self.entity_names, "entity"))
    object.__setattr__(self, "_relation_index", _index(self.relation_names, "relation"))
    triples = np.asarray(self.triples, dtype=np.int64).reshape(-1, 3) if len(
        self.triples) else np.zeros((0, 3), np.int64)
    for column, size, what in ((SUBJECT, len(self.entity_names), "subject entity"),
                               (RELATION, len(self.relation_names), "relation"),
                               (OBJECT, len(self.entity_names), "object entity")):
      bad = np.nonzero((triples[:, column] < 0) | (triples[:, column] >= size))[0]
      if bad.size:
        raise ValueError(f"triple {int(bad[0])} {triples[bad[0]].tolist()}: {what} id "
                         f"{int(triples[bad[0], column])} is outside [0, {size})")
    triples = triples.astype(np.int32)
    triples.setflags(write=False)
    object.__setattr__(self, "triples", triples)

  @classmethod
  def from_named_triples(cls, triples: Iterable[Tuple[str, str, str]],
                         entity_types: Optional[Dict[str, str]] = None,
                         relation_names: Optional[Sequence[str]] = None,
                         entity_names: Optional[Sequence[str]] = None) -> "KnowledgeGraph":
    """Builds a graph from `(subject, relation, object)` name triples.

    Args:
      triples: name triples.
      entity_types: optional `{entity name: type}`; its keys join the entity
        vocabulary (so isolated entities can exist).
      relation_names: optional closed relation vocabulary; a triple using any
        other relation raises `UnknownRelationError`.
      entity_names: optional closed entity vocabulary; a triple using any other
        entity raises `UnknownEntityError`.

    Returns:
      The graph; without closed vocabularies, ids follow first appearance.
    """
    triples = [tuple(t) for t in triples]
    closed_entities = entity_names is not None
    closed_relations = relation_names is not None
    entities: List[str] = list(entity_names) if closed_entities else list(entity_types or {})
    relations: List[str] = list(relation_names) if closed_relations else []
    entity_index = _index(entities, "entity")
    relation_index = _index(relations, "relation")
    rows = []
    for i, triple in enumerate(triples):
      if len(triple) != 3:
        raise ValueError(f"triple {i} {triple!r} must have 3 fields (subject, relation, object)")
      subject, relation, obj = triple
      ids = []
      for field, name in (("subject", subject), ("relation", relation), ("object", obj)):
        if field == "relation":
          index, closed, vocab, error = relation_index, closed_relations, relations, \
              UnknownRelationError
        else:
          index, closed, vocab, error = entity_index, closed_entities, entities, \
              UnknownEntityError
        if name not in index:
          if closed:
            raise error(f"triple {i} {triple!r}: unknown {field} {name!r} (not among the "
                        f"{len(vocab)} {'relations' if field == 'relation' else 'entities'})"
                        f"{_suggest(str(name), vocab)}")
          index[name] = len(vocab)
          vocab.append(name)
        ids.append(index[name])
      rows.append(ids)
    types = entity_types or {}
    unknown_typed = sorted(set(types) - set(entity_index))
    if unknown_typed:
      raise UnknownEntityError(f"entity_types names unknown entity {unknown_typed[0]!r}")
    return cls(tuple(entities), tuple(relations), np.asarray(rows, np.int32).reshape(-1, 3),
               tuple(types.get(name, "") for name in entities))

  @property
  def num_entities(self) -> int:
    return len(self.entity_names)

  @property
  def num_relations(self) -> int:
    return len(self.relation_names)

  @property
  def num_triples(self) -> int:
    return int(self.triples.shape[0])

  def entity_id(self, name: str, context: str = "") -> int:
    """Id of entity `name`; `UnknownEntityError` names it (and `context`, e.g. the question)."""
    try:
      return self._entity_index[name]
    except KeyError:
      where = f" in {context}" if context else ""
      raise UnknownEntityError(f"unknown entity {name!r}{where} (not among the "
                               f"{self.num_entities} entities)"
                               f"{_suggest(name, self.entity_names)}") from None

  def relation_id(self, name: str, context: str = "") -> int:
    """Id of relation `name`; `UnknownRelationError` names it and lists the relations."""
    try:
      return self._relation_index[name]
    except KeyError:
      where = f" in {context}" if context else ""
      raise UnknownRelationError(f"unknown relation {name!r}{where}; the relations are "
                                 f"{list(self.relation_names)}") from None

  def has_entity(self, name: str) -> bool:
    return name in self._entity_index

  def entities_of_type(self, entity_type: str) -> np.ndarray:
    """`[n]` int32 ids of the entities of `entity_type`."""
    return np.asarray([i for i, t in enumerate(self.entity_types) if t == entity_type], np.int32)

  def arrays(self) -> TripleArrays:
    """The triples as three `[num_triples]` int32 columns."""
    return TripleArrays(self.triples[:, SUBJECT], self.triples[:, RELATION],
                        self.triples[:, OBJECT])

  def named_triple(self, index: int) -> Tuple[str, str, str]:
    s, r, o = self.triples[index]
    return self.entity_names[s], self.relation_names[r], self.entity_names[o]

  def _adjacency(self) -> Dict[Tuple[int, int], np.ndarray]:
    cached = self.__dict__.get("_adjacency_cache")
    if cached is None:
      order = np.lexsort((self.triples[:, OBJECT], self.triples[:, RELATION],
                          self.triples[:, SUBJECT]))
      cached = {}
      for s, r, o in self.triples[order]:
        cached.setdefault((int(s), int(r)), []).append(int(o))
      cached = {k: np.asarray(v, np.int32) for k, v in cached.items()}
      object.__setattr__(self, "_adjacency_cache", cached)
    return cached

  def objects(self, subject: int, relation: int) -> np.ndarray:
    """`{o : (subject, relation, o) in G}` as a sorted int32 array."""
    return self._adjacency().get((int(subject), int(relation)), np.zeros((0,), np.int32))

  def follow(self, entities: Iterable[int], relation_path: Sequence[int]) -> Set[int]:
    """Entities reached from `entities` by following `relation_path` (set semantics).

    `follow({s}, [r1, r2])` = {o2 : (s, r1, o1) in G, (o1, r2, o2) in G}.
    """
    frontier = {int(e) for e in entities}
    for relation in relation_path:
      frontier = {int(o) for e in frontier for o in self.objects(e, relation)}
    return frontier
