"""The DNC paper's graph tasks (Graves et al., Nature 2016): traversal, shortest path, inference.

Each example is one random graph given to a recurrent core as a sequence of
triples, then a query, then answer steps where the core must emit triples:

    phase     steps                  input per step                         target
    graph     one per edge           (s, r, o) one-hots + graph flag        -
    query     task-dependent         partial triples    + query flag        -
    answer    one per answer triple  answer flag only                       (s, r, o) classes

One step's input is `[onehot(s) N | onehot(r) R | onehot(o) N | graph, query, answer flags]`,
so `input_size = 2N + R + 3`; the output holds three softmax groups
`[s: N | r: R | o: N]`, `output_size = 2N + R`. Node ids are random labels
drawn from `num_labels` per example, so nothing about a particular graph can
be memorised in the weights.

* traversal: every node has `out_degree` out-edges with distinct relations
  (so a relation path from a node is deterministic); the query gives the
  start node with the first relation, then the remaining relations one per
  step; the answer is the path's triples (s_i, r_i, o_i).
* shortest path: same kind of graph; the query is one step (s, -, o); the
  answer is the unique shortest path from s to o as triples (questions with
  ties are redrawn).
* inference: a family tree given by its parent, child and spouse triples; the
  query is (person, compound relation) such as maternal great uncle, a chain
  of given relations never stated directly; the answer is one triple
  (person, compound relation, relative), scored on the relative alone.
  Questions with no or several relatives are redrawn.

Generators are numpy functions of a `numpy.random.Generator`; a trainer keys
them by `(seed, step)` so runs resume deterministically.
"""
import dataclasses
from collections import deque
from typing import Dict, List, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

# The DNC paper's reported accuracies (fraction of questions answered perfectly)
# on its own graphs: London Underground traversal and shortest path, family trees.
DNC_PAPER_ACCURACY = {"graph_traversal": 0.988, "graph_shortest_path": 0.553,
                      "graph_inference": 0.818}
GRAPH_FLAG, QUERY_FLAG, ANSWER_FLAG = 0, 1, 2
SUBJECT_FIELD, RELATION_FIELD, OBJECT_FIELD = 0, 1, 2
_MAX_REDRAWS = 1000

FAMILY_BASE_RELATIONS = ("mother", "father", "son", "daughter", "husband", "wife")
# Compound relations as chains of base relations, read left to right.
FAMILY_COMPOUND_RELATIONS: Dict[str, Tuple[str, ...]] = {
    "maternal_grandmother": ("mother", "mother"),
    "maternal_grandfather": ("mother", "father"),
    "paternal_grandmother": ("father", "mother"),
    "paternal_grandfather": ("father", "father"),
    "maternal_uncle": ("mother", "mother", "son"),
    "paternal_uncle": ("father", "mother", "son"),
    "mother_in_law": ("wife", "mother"),
    "father_in_law": ("husband", "father"),
    "maternal_great_uncle": ("mother", "mother", "mother", "son"),
    "paternal_great_uncle": ("father", "father", "mother", "son"),
    "maternal_great_grandfather": ("mother", "mother", "father"),
    "paternal_great_grandmother": ("father", "father", "mother"),
}


class GraphBatch(NamedTuple):
  """A batch of graph-task sequences.

  Attributes:
    inputs: `[batch, time, input_size]` float32.
    targets: `[batch, time, 3]` int32 classes of (s, r, o) at answer steps, 0 elsewhere.
    mask: `[batch, time, 3]` float32, 1 where a target field is scored.
    lengths: `[batch]` int32 number of answer steps.
  """
  inputs: np.ndarray
  targets: np.ndarray
  mask: np.ndarray
  lengths: np.ndarray


@dataclasses.dataclass(frozen=True)
class GraphTask:
  """Base: subclasses draw one example's `(edges, query_steps, answer_triples, field_mask)`.

  Attributes:
    num_labels: N, node label space (>= nodes per graph).
  """
  num_labels: int = 16

  name = "graph"

  @property
  def relation_names(self) -> Tuple[str, ...]:
    raise NotImplementedError

  @property
  def num_relations(self) -> int:
    return len(self.relation_names)

  @property
  def input_size(self) -> int:
    return 2 * self.num_labels + self.num_relations + 3

  @property
  def output_size(self) -> int:
    return 2 * self.num_labels + self.num_relations

  @property
  def field_sizes(self) -> Tuple[int, int, int]:
    return (self.num_labels, self.num_relations, self.num_labels)

  @property
  def max_edges(self) -> int:
    raise NotImplementedError

  @property
  def max_query_steps(self) -> int:
    raise NotImplementedError

  @property
  def max_answer_steps(self) -> int:
    raise NotImplementedError

  @property
  def num_steps(self) -> int:
    return self.max_edges + self.max_query_steps + self.max_answer_steps

  def _example(self, rng: np.random.Generator):
    """-> (edges [(s, r, o)], query steps [(s|-1, r|-1, o|-1)], answers [(s, r, o)], fields)."""
    raise NotImplementedError

  def _encode_step(self, row: np.ndarray, triple, flag: int) -> None:
    s, r, o = triple
    n, num_rel = self.num_labels, self.num_relations
    if s >= 0:
      row[s] = 1.0
    if r >= 0:
      row[n + r] = 1.0
    if o >= 0:
      row[n + num_rel + o] = 1.0
    row[2 * n + num_rel + flag] = 1.0

  def sample(self, rng: np.random.Generator, batch_size: int) -> GraphBatch:
    """`batch_size` fresh examples padded to `num_steps`; a pure function of `rng`'s state."""
    if batch_size < 1:
      raise ValueError(f"{self.name}: batch_size must be >= 1, got {batch_size}")
    inputs = np.zeros((batch_size, self.num_steps, self.input_size), np.float32)
    targets = np.zeros((batch_size, self.num_steps, 3), np.int32)
    mask = np.zeros((batch_size, self.num_steps, 3), np.float32)
    lengths = np.zeros((batch_size,), np.int32)
    for b in range(batch_size):
      edges, query, answers, fields = self._example(rng)
      labels = rng.permutation(self.num_labels)  # random node labels per example
      relabel = lambda t: (labels[t[0]] if t[0] >= 0 else -1, t[1],
                           labels[t[2]] if t[2] >= 0 else -1)
      t = 0
      for edge in (edges[i] for i in rng.permutation(len(edges))):
        self._encode_step(inputs[b, t], relabel(edge), GRAPH_FLAG)
        t += 1
      for step in query:
        self._encode_step(inputs[b, t], relabel(step), QUERY_FLAG)
        t += 1
      for answer in answers:
        inputs[b, t, 2 * self.num_labels + self.num_relations + ANSWER_FLAG] = 1.0
        targets[b, t] = relabel(answer)
        mask[b, t] = fields
        t += 1
      lengths[b] = len(answers)
    return GraphBatch(inputs, targets, mask, lengths)


def _random_graph(rng: np.random.Generator, num_nodes: int, out_degree: int,
                  num_relations: int) -> List[Tuple[int, int, int]]:
  """Every node gets `out_degree` edges with distinct relations to distinct other nodes."""
  relations = np.argsort(rng.random((num_nodes, num_relations)), axis=1)[:, :out_degree]
  scores = rng.random((num_nodes, num_nodes))
  np.fill_diagonal(scores, 2.0)  # never an edge to itself
  targets = np.argsort(scores, axis=1)[:, :out_degree]
  return [(node, int(relations[node, k]), int(targets[node, k]))
          for node in range(num_nodes) for k in range(out_degree)]


@dataclasses.dataclass(frozen=True)
class TraversalTask(GraphTask):
  """Follow a relation path from a start node (DNC: London Underground traversal).

  Attributes:
    num_nodes: nodes per graph.
    out_degree: out-edges per node, each with a distinct relation.
    relations: number of relation labels R.
    min_path / max_path: path lengths drawn uniformly.
  """
  num_nodes: int = 8
  out_degree: int = 2
  relations: int = 4
  min_path: int = 1
  max_path: int = 3

  name = "graph_traversal"

  def __post_init__(self):
    _check_graph(self)
    if not 1 <= self.min_path <= self.max_path:
      raise ValueError(f"{self.name}: need 1 <= task.min_path ({self.min_path}) <= "
                       f"task.max_path ({self.max_path})")

  @property
  def relation_names(self):
    return tuple(f"r{i}" for i in range(self.relations))

  @property
  def max_edges(self):
    return self.num_nodes * self.out_degree

  @property
  def max_query_steps(self):
    return self.max_path

  @property
  def max_answer_steps(self):
    return self.max_path

  def _example(self, rng):
    edges = _random_graph(rng, self.num_nodes, self.out_degree, self.relations)
    out = {}
    for s, r, o in edges:
      out.setdefault(s, []).append((r, o))
    node = int(rng.integers(self.num_nodes))
    start = node
    answers = []
    for _ in range(int(rng.integers(self.min_path, self.max_path + 1))):
      r, o = out[node][rng.integers(len(out[node]))]
      answers.append((node, r, o))
      node = o
    query = [(start, answers[0][1], -1)] + [(-1, r, -1) for _, r, _ in answers[1:]]
    return edges, query, answers, (1.0, 1.0, 1.0)


def shortest_paths(edges: Sequence[Tuple[int, int, int]], source: int,
                   num_nodes: int) -> Tuple[np.ndarray, np.ndarray]:
  """BFS distances and number of distinct shortest paths from `source` (-1 / 0 if unreachable)."""
  out = {}
  for s, _, o in edges:
    out.setdefault(s, []).append(o)
  distance = np.full((num_nodes,), -1)
  count = np.zeros((num_nodes,), np.int64)
  distance[source], count[source] = 0, 1
  queue = deque([source])
  while queue:
    node = queue.popleft()
    for nxt in out.get(node, ()):
      if distance[nxt] < 0:
        distance[nxt] = distance[node] + 1
        queue.append(nxt)
      if distance[nxt] == distance[node] + 1:
        count[nxt] += count[node]
  return distance, count


@dataclasses.dataclass(frozen=True)
class ShortestPathTask(GraphTask):
  """The unique shortest path between two nodes, as triples (DNC: London Underground).

  Attributes:
    num_nodes / out_degree / relations: as `TraversalTask`.
    min_path / max_path: shortest-path lengths accepted.
  """
  num_nodes: int = 8
  out_degree: int = 2
  relations: int = 4
  min_path: int = 1
  max_path: int = 3

  name = "graph_shortest_path"

  def __post_init__(self):
    _check_graph(self)
    if not 1 <= self.min_path <= self.max_path:
      raise ValueError(f"{self.name}: need 1 <= task.min_path ({self.min_path}) <= "
                       f"task.max_path ({self.max_path})")

  relation_names = TraversalTask.relation_names
  max_edges = TraversalTask.max_edges

  @property
  def max_query_steps(self):
    return 1

  @property
  def max_answer_steps(self):
    return self.max_path

  def _example(self, rng):
    for _ in range(_MAX_REDRAWS):
      edges = _random_graph(rng, self.num_nodes, self.out_degree, self.relations)
      source = int(rng.integers(self.num_nodes))
      distance, count = shortest_paths(edges, source, self.num_nodes)
      ok = np.nonzero((distance >= self.min_path) & (distance <= self.max_path) & (count == 1))[0]
      if ok.size:
        break
    else:
      raise ValueError(f"{self.name}: no unique shortest path of length {self.min_path}.."
                       f"{self.max_path} in {_MAX_REDRAWS} graphs; change task.num_nodes / "
                       "task.out_degree / task.max_path")
    target = int(rng.choice(ok))
    # Walk back along the unique path.
    path, node = [], target
    while node != source:
      s, r, o = next(e for e in edges if e[2] == node and distance[e[0]] == distance[node] - 1)
      path.append((s, r, o))
      node = s
    return edges, [(source, -1, target)], path[::-1], (1.0, 1.0, 1.0)


def family_tree(rng: np.random.Generator, generations: int, max_children: int,
                max_people: int) -> Tuple[List[str], List[Tuple[int, str, int]]]:
  """A random family tree: sexes and base-relation triples (child-parent, parent-child, spouses).

  Generation 0 is one couple; each couple has 1..max_children children; each
  child of the next generation but the last marries an outsider. Stops adding
  people at `max_people`.
  """
  sexes: List[str] = ["m", "f"]
  couples = [(0, 1)]
  triples: List[Tuple[int, str, int]] = [(0, "wife", 1), (1, "husband", 0)]
  for generation in range(1, generations):
    next_couples = []
    for husband, wife in couples:
      for _ in range(int(rng.integers(1, max_children + 1))):
        if len(sexes) >= max_people:
          break
        child = len(sexes)
        sexes.append("m" if rng.random() < 0.5 else "f")
        triples += [(child, "father", husband), (child, "mother", wife),
                    (husband, "son" if sexes[child] == "m" else "daughter", child),
                    (wife, "son" if sexes[child] == "m" else "daughter", child)]
        if generation < generations - 1 and len(sexes) < max_people:
          spouse = len(sexes)
          sexes.append("f" if sexes[child] == "m" else "m")
          h, w = (child, spouse) if sexes[child] == "m" else (spouse, child)
          triples += [(h, "wife", w), (w, "husband", h)]
          next_couples.append((h, w))
    couples = next_couples
  return sexes, triples


@dataclasses.dataclass(frozen=True)
class InferenceTask(GraphTask):
  """Family-tree inference: name the relative a compound relation points to.

  Attributes:
    generations: depth of the family tree.
    max_children: children per couple, drawn in 1..max_children.
    max_people: cap on people (<= num_labels); also fixes the padded length.
    compound_relations: names from `FAMILY_COMPOUND_RELATIONS` to ask about.
  """
  num_labels: int = 24
  generations: int = 4
  max_children: int = 2
  max_people: int = 16
  compound_relations: Tuple[str, ...] = ("maternal_grandmother", "maternal_grandfather",
                                         "paternal_grandmother", "paternal_grandfather",
                                         "maternal_uncle", "paternal_uncle", "mother_in_law",
                                         "father_in_law", "maternal_great_uncle",
                                         "paternal_great_uncle")

  name = "graph_inference"

  def __post_init__(self):
    object.__setattr__(self, "compound_relations", tuple(self.compound_relations))
    unknown = [c for c in self.compound_relations if c not in FAMILY_COMPOUND_RELATIONS]
    if unknown:
      raise ValueError(f"{self.name}: task.compound_relations has unknown relation "
                       f"{unknown[0]!r}; known: {sorted(FAMILY_COMPOUND_RELATIONS)}")
    if self.max_people > self.num_labels:
      raise ValueError(f"{self.name}: task.max_people={self.max_people} exceeds "
                       f"task.num_labels={self.num_labels}")
    if self.generations < 2:
      raise ValueError(f"{self.name}: task.generations={self.generations} must be >= 2")

  @property
  def relation_names(self):
    return FAMILY_BASE_RELATIONS + self.compound_relations

  @property
  def max_edges(self):
    # Each child adds 4 parent/child triples and each marriage 2 spouse triples.
    return 5 * self.max_people + 2

  @property
  def max_query_steps(self):
    return 1

  @property
  def max_answer_steps(self):
    return 1

  def _example(self, rng):
    relation_id = {name: i for i, name in enumerate(self.relation_names)}
    for _ in range(_MAX_REDRAWS):
      _, named = family_tree(rng, self.generations, self.max_children, self.max_people)
      edges = [(s, relation_id[r], o) for s, r, o in named]
      out: Dict[Tuple[int, int], List[int]] = {}
      for s, r, o in edges:
        out.setdefault((s, r), []).append(o)
      people = sorted({s for s, _, _ in edges} | {o for _, _, o in edges})
      questions = []
      for compound in self.compound_relations:
        chain = [relation_id[r] for r in FAMILY_COMPOUND_RELATIONS[compound]]
        for person in people:
          frontier = {person}
          for r in chain:
            frontier = {o for p in frontier for o in out.get((p, r), ())}
          if len(frontier) == 1:
            questions.append((person, relation_id[compound], frontier.pop()))
      if questions:
        break
    else:
      raise ValueError(f"{self.name}: no answerable question in {_MAX_REDRAWS} family trees; "
                       "raise task.generations or task.max_people")
    person, relation, relative = questions[rng.integers(len(questions))]
    return edges, [(person, relation, -1)], [(person, relation, relative)], (0.0, 0.0, 1.0)


def _check_graph(task) -> None:
  if task.num_nodes > task.num_labels:
    raise ValueError(f"{task.name}: task.num_nodes={task.num_nodes} exceeds "
                     f"task.num_labels={task.num_labels}")
  if not 1 <= task.out_degree <= min(task.relations, task.num_nodes - 1):
    raise ValueError(f"{task.name}: need 1 <= task.out_degree ({task.out_degree}) <= "
                     f"min(task.relations ({task.relations}), task.num_nodes - 1 "
                     f"({task.num_nodes - 1}))")


GRAPH_TASKS = {
    "graph_traversal": TraversalTask,
    "graph_shortest_path": ShortestPathTask,
    "graph_inference": InferenceTask,
}


def build_graph_task(fields: Dict) -> GraphTask:
  """Builds the task named `fields['name']` from a config's `task` block; errors name the key."""
  fields = dict(fields)
  name = fields.pop("name", None)
  if name not in GRAPH_TASKS:
    raise ValueError(f"task.name={name!r} is not one of {sorted(GRAPH_TASKS)}")
  allowed = {f.name for f in dataclasses.fields(GRAPH_TASKS[name])}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ValueError(f"task.{unknown[0]} is not a field of task {name!r}; its fields are "
                     f"{sorted(allowed)}")
  return GRAPH_TASKS[name](**fields)


def _split_fields(task: GraphTask, logits: jax.Array) -> List[jax.Array]:
  n, r = task.num_labels, task.num_relations
  return [logits[..., :n], logits[..., n:n + r], logits[..., n + r:]]


def sequence_loss(task: GraphTask, logits: jax.Array, targets: jax.Array,
                  mask: jax.Array) -> jax.Array:
  """Softmax cross-entropy per scored field, averaged over scored fields.

  Args:
    logits: `[batch, time, output_size]`.
    targets: `[batch, time, 3]` int classes.
    mask: `[batch, time, 3]`.
  """
  total = 0.0
  for field, field_logits in enumerate(_split_fields(task, logits)):
    per_step = optax.softmax_cross_entropy_with_integer_labels(field_logits, targets[..., field])
    total = total + jnp.sum(per_step * mask[..., field])
  return total / jnp.maximum(jnp.sum(mask), 1.0)


def answers_correct(task: GraphTask, logits: jax.Array, targets: jax.Array,
                    mask: jax.Array) -> Tuple[jax.Array, jax.Array, jax.Array]:
  """Exactness of the answers.

  Returns:
    `([batch] bool: every scored field of every answer step right,
      [batch, time] bool: every scored field of the step right,
      [batch, time] bool: the step is scored)`.
  """
  right = jnp.stack([jnp.argmax(f, axis=-1) == targets[..., i]
                     for i, f in enumerate(_split_fields(task, logits))], axis=-1)
  scored = mask > 0
  step_right = jnp.all(right | ~scored, axis=-1)
  step_scored = jnp.any(scored, axis=-1)
  question = jnp.all(step_right | ~step_scored, axis=-1)
  return question, step_right, step_scored
