"""A key-value memory for the DNC paper's graph tasks (Miller et al. 2016 on `graph_tasks`).

The recurrent cores see a graph task one step at a time; this model sees the
whole sequence `[batch, time, 2N + R + 3]` (see `memjax.knowledge.graph_tasks`)
at once and turns it into a memory. Every graph-phase step t holding the
triple (s_t, r_t, o_t) is one slot; other steps (query, answer, padding) are
masked out:

    k_t = A_S s_t + A_R r_t          key: embedding of (subject, relation)   [T, d]
    v_t = A_O o_t                    value: embedding of the object          [T, d]

The query-phase steps x_1 .. x_Q (start node and relations for traversal,
(source, -, target) for shortest path, (person, compound relation) for
inference) are embedded by position, q_1 = sum_k E_k x_k, so a hop-specific map
can pick out "the k-th relation". Hop h reads with the key-value memory's hop
(`memjax.knowledge.kv_memory.memory_hop`) and updates the query (Miller eq. 1-3):

    p_h,t = softmax_t(q_h . k_t)  over graph slots
    o_h   = sum_t p_h,t v_t
    q_h+1 = R_h (q_h + o_h)

Nothing is hand-coded about which relation to follow: R_h can move the object
just read into the subject part of the next key and bring forward the next
relation (traversal; `tests/test_graph_kv_memory.py` sets such weights by
hand), and for inference the hops must learn a route from the person to the
relative for each compound relation (maternal great uncle = mother, mother,
mother, son). Training finds routes of its own: in one trained inference model
father-in-law reads husband, husband, husband, father (re-reading a triple to
wait a hop) and paternal uncle ends at the uncle's wife's husband triple.

Answers are read off the slots (a pointer, as `kv_memory` does for KB-QA), so
random node labels per graph cost nothing: the answer triple of hop h is the
attention-weighted triple,

    P_h(field = c) = sum_t p_h,t [triple_t's field = c]     for field in (s, r, o),

and answer step j's logits are log P of

    "hop":   hop j (traversal and shortest path: answer j is the j-th edge), or
    "gated": sum_h g_j,h P_h with g_j = softmax_h(W_j q_1) (inference: the
             answer is the last link of a chain of 2 to 4 relations, so which
             hop holds it depends on the queried relation).
"""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.knowledge import graph_tasks
from memjax.knowledge.kv_memory import _identity_init, memory_hop

ANSWER_MODES = ("hop", "gated")
# Floor under pointer probabilities so that log P stays finite.
_EPSILON = 1e-9


class GraphKVOutputs(NamedTuple):
  """What one forward pass produces.

  Attributes:
    logits: `[batch, time, 2N + R]` answer logits at answer steps, 0 elsewhere
      (the layout `graph_tasks.sequence_loss` expects).
    hop_weights: `[batch, num_hops, time]` p_h,t (0 on non-graph steps).
    answer_gates: `[batch, max_answer_steps, num_hops]` g_j,h.
    slot_mask: `[batch, time]` bool, the graph-phase steps.
  """
  logits: jax.Array
  hop_weights: jax.Array
  answer_gates: jax.Array
  slot_mask: jax.Array


def step_positions(flags: jax.Array, size: int) -> jax.Array:
  """One-hot of each flagged step's rank among the flagged steps, 0 on others.

  Args:
    flags: `[batch, time]` 0/1, e.g. the query flag.
    size: the most flagged steps per sequence.

  Returns:
    `[batch, time, size]`: row t is onehot(#flagged steps before t) where flagged.
  """
  rank = jnp.cumsum(flags, axis=-1) - 1
  return jax.nn.one_hot(rank.astype(jnp.int32), size) * flags[..., None]


class GraphKeyValueMemory(nn.Module):
  """Multi-hop key-value memory over a graph task's triples.

  Attributes:
    num_labels: N, node label space of the task.
    num_relations: R, relation labels of the task.
    max_query_steps: Q, query-phase steps at most.
    max_answer_steps: A, answer steps at most.
    embed_dim: d.
    num_hops: H.
    answer_from: "hop" (answer j = hop j; needs H >= A) or "gated" (see module docstring).
    embed_stddev: initial embedding scale; small keeps the first softmaxes soft.
  """
  num_labels: int
  num_relations: int
  max_query_steps: int
  max_answer_steps: int
  embed_dim: int = 64
  num_hops: int = 3
  answer_from: str = "hop"
  embed_stddev: float = 0.1

  def check(self) -> None:
    """Raises ValueError naming the `model.*` field that cannot work."""
    if self.answer_from not in ANSWER_MODES:
      raise ValueError(f"model.answer_from={self.answer_from!r} is not one of {ANSWER_MODES}")
    if self.num_hops < 1:
      raise ValueError(f"model.num_hops={self.num_hops} must be >= 1")
    if self.embed_dim < 1:
      raise ValueError(f"model.embed_dim={self.embed_dim} must be >= 1")
    if self.answer_from == "hop" and self.num_hops < self.max_answer_steps:
      raise ValueError(f"model.num_hops={self.num_hops} is less than the task's "
                       f"{self.max_answer_steps} answer steps, and model.answer_from='hop' "
                       "reads answer j from hop j; raise model.num_hops or use 'gated'")

  @nn.compact
  def __call__(self, inputs: jax.Array) -> GraphKVOutputs:
    """`[batch, time, 2N + R + 3]` graph-task inputs -> `GraphKVOutputs`."""
    self.check()
    n, r = self.num_labels, self.num_relations
    width = 2 * n + r
    if inputs.ndim != 3 or inputs.shape[-1] != width + 3:
      raise ValueError(f"GraphKeyValueMemory expects inputs [batch, time, {width + 3}] "
                       f"(2N + R + 3 with N={n}, R={r}), got {inputs.shape}")
    triples = inputs[..., :width]                                         # [B, T, 2N+R]
    flags = inputs[..., width:]
    slot_mask = flags[..., graph_tasks.GRAPH_FLAG] > 0                     # [B, T]
    init = nn.initializers.normal(self.embed_stddev)
    dense = lambda name: nn.Dense(self.embed_dim, use_bias=False, kernel_init=init, name=name)
    keys = dense("subject_key")(triples[..., :n]) + dense("relation_key")(triples[..., n:n + r])
    values = dense("object_value")(triples[..., n + r:])                 # [B, T, d]

    query_embed = self.param("query_embed", init, (self.max_query_steps, width, self.embed_dim))
    query_at = step_positions(flags[..., graph_tasks.QUERY_FLAG], self.max_query_steps)
    question = jnp.einsum("btk,btx,kxd->bd", query_at, triples, query_embed)  # q_1 [B, d]

    query, hop_weights = question, []
    for hop in range(self.num_hops):
      weights, read = jax.vmap(memory_hop)(query, keys, values, slot_mask)
      hop_weights.append(weights)
      if hop + 1 < self.num_hops:
        query = nn.Dense(self.embed_dim, use_bias=False, kernel_init=_identity_init,
                         name=f"query_update_{hop}")(query + read)
    hop_weights = jnp.stack(hop_weights, axis=1)                           # [B, H, T]
    hop_answers = jnp.einsum("bht,btf->bhf", hop_weights, triples)         # P_h [B, H, 2N+R]

    a = self.max_answer_steps
    if self.answer_from == "hop":
      gates = jnp.broadcast_to(jnp.eye(a, self.num_hops), (inputs.shape[0], a, self.num_hops))
    else:
      gate_logits = nn.Dense(a * self.num_hops, name="answer_gates")(question)
      gates = jax.nn.softmax(gate_logits.reshape(-1, a, self.num_hops), axis=-1)
    answers = jnp.log(jnp.einsum("bjh,bhf->bjf", gates, hop_answers) + _EPSILON)  # [B, A, 2N+R]
    answer_at = step_positions(flags[..., graph_tasks.ANSWER_FLAG], a)    # [B, T, A]
    logits = jnp.einsum("bta,baf->btf", answer_at, answers)
    return GraphKVOutputs(logits, hop_weights, gates, slot_mask)


def build_graph_kv_memory(model_config, task: graph_tasks.GraphTask) -> GraphKeyValueMemory:
  """`GraphKeyValueMemory` for `task` from a config's `model` block (name "kv_memory").

  Raises:
    ConfigError naming the `model.*` field that is unknown or cannot work.
  """
  from memjax.errors import ConfigError
  fields = {k: v for k, v in dict(model_config).items() if k != "name"}
  allowed = {"embed_dim", "num_hops", "answer_from", "embed_stddev"}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ConfigError(f"model.{unknown[0]} is not a field of model 'kv_memory' on graph tasks; "
                      f"its fields are {sorted(allowed | {'name'})}")
  module = GraphKeyValueMemory(task.num_labels, task.num_relations, task.max_query_steps,
                               task.max_answer_steps, **fields)
  try:
    module.check()
  except ValueError as error:
    raise ConfigError(f"{error} (task {task.name!r})") from None
  return module
