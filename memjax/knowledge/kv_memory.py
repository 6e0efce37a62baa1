"""A knowledge graph as a key-value memory, read over several hops (Miller et al. 2016).

Each candidate triple i = (s_i, r_i, o_i) from key hashing is one memory slot:

    k_i = A_E s_i + A_R r_i          key: embedding of (subject, relation)   [K, d]
    v_i = A_E o_i                    value: embedding of the object          [K, d]

The question x (bag of words without the entity mention, plus the linked
entities) gives q_1 = A_W Phi(x) + A_E e_q. Hop h reads with the key-value memory
network's hop (`memjax.models.memn2n.memory_hop`, as `memjax.models.kv_memnn`
does) and updates the query (Miller eq. 1-3):

    p_h,i = softmax_i(q_h . k_i + log rho_h,i)  over slots allowed at hop h
    o_h   = sum_i p_h,i v_i
    q_h+1 = R_h (q_h + o_h)

With `follow_previous_hop` (the default), rho is key hashing made soft: hop 1
may read only triples whose subject is mentioned (rho_1,i = 1 there, slot
masked otherwise), and hop h+1 weights triple i by the attention mass that hop
h put on triples whose object is s_i,

    rho_h+1,i = sum_j p_h,j [o_j = s_i],

so a slot is allowed exactly when its subject was reached by the previous hop
(C_h+1 of key hashing), and the hops chain along the graph. Without it every
hop reads all candidates, as in Miller et al.

The answer is read off the slots (a pointer to the object entity), so it works
for entities never seen as answers in training: a mixture over hops with gates
g = softmax(W_g q_1) (a question needing one hop reads hop 1, one needing three
reads hop 3),

    a_i = sum_h g_h p_h,i,   P(answer = e) = sum_i a_i [o_i = e].
"""
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.models import memn2n

# log(rho) for slots with (numerically) no mass from the previous hop.
_MIN_PRIOR = 1e-30
# Keeps -log P(answer) finite when no candidate holds an answer.
_EPSILON = 1e-9
ANSWER_MODES = ("mixture", "last")


class KVMemoryInputs(NamedTuple):
  """One batch of questions with their hashed candidate triples.

  Attributes:
    words: `[batch, num_words]` int32 question word ids, 0 = padding.
    seed_entities: `[batch, num_seeds]` int32 linked entity ids, -1 = padding.
    subjects: `[batch, K]` int32 subject s_i of each candidate slot.
    relations: `[batch, K]` int32 relation r_i.
    objects: `[batch, K]` int32 object o_i.
    mask: `[batch, K]` bool, True for real candidates.
  """
  words: jax.Array
  seed_entities: jax.Array
  subjects: jax.Array
  relations: jax.Array
  objects: jax.Array
  mask: jax.Array


class KVMemoryOutputs(NamedTuple):
  """What a read produces.

  Attributes:
    answer_weights: `[batch, K]` a_i, the answer distribution over slots (sums to 1
      over valid slots).
    entity_mass: `[batch, K]` P(answer = o_i), a summed over slots sharing o_i.
    hop_weights: `[batch, num_hops, K]` p_h,i.
    hop_gates: `[batch, num_hops]` g_h.
    queries: `[batch, num_hops + 1, d]` q_1 .. q_{H+1}.
  """
  answer_weights: jax.Array
  entity_mass: jax.Array
  hop_weights: jax.Array
  hop_gates: jax.Array
  queries: jax.Array


def memory_hop(query: jax.Array, keys: jax.Array, values: jax.Array, mask: jax.Array,
               log_prior: Optional[jax.Array] = None) -> Tuple[jax.Array, jax.Array]:
  """One read: p_i = softmax_i(q . k_i + log rho_i) over `mask`, o = sum_i p_i v_i.

  This is the key-value memory network's hop (`memjax.models.memn2n.memory_hop`,
  shared with `memjax.models.kv_memnn`, itself `memjax.addressing.attention`);
  the log prior joins the logits as one extra key column against a
  constant-one query entry, so that hop runs unchanged.

  Args:
    query: `[d]` q_h.
    keys: `[K, d]` k_i.
    values: `[K, d]` v_i.
    mask: `[K]` bool, slots allowed at this hop.
    log_prior: optional `[K]` log rho_i.

  Returns:
    `([K] weights p, [d] read o)`.
  """
  if log_prior is not None:
    keys = jnp.concatenate([keys, log_prior[:, None]], axis=-1)
    query = jnp.concatenate([query, jnp.ones((1,), query.dtype)])
  read, weights = memn2n.memory_hop(query, keys, values, mask)
  return weights, read


def previous_hop_prior(weights: jax.Array, subjects: jax.Array, objects: jax.Array,
                       mask: jax.Array) -> jax.Array:
  """rho_i = sum_j p_j [o_j = s_i]: the mass the previous hop put on reaching s_i.

  Args:
    weights: `[K]` previous hop's p_j.
    subjects, objects: `[K]` int32 s_i, o_j.
    mask: `[K]` bool valid slots.

  Returns:
    `[K]` rho.
  """
  reaches = (subjects[:, None] == objects[None, :]) & mask[None, :]
  return reaches.astype(weights.dtype) @ weights


def entity_mass(answer_weights: jax.Array, objects: jax.Array, mask: jax.Array) -> jax.Array:
  """P(answer = o_i) = sum_j a_j [o_j = o_i] per slot, `[K]` -> `[K]`."""
  same = (objects[:, None] == objects[None, :]) & mask[None, :]
  return same.astype(answer_weights.dtype) @ answer_weights


def _batched_hop(queries, keys, values, masks, log_priors):
  return jax.vmap(memory_hop)(queries, keys, values, masks, log_priors)


def _identity_init(key, shape, dtype=jnp.float32):
  del key
  return jnp.eye(shape[0], shape[1], dtype=dtype)


class KeyValueMemory(nn.Module):
  """Multi-hop key-value memory reader over hashed candidate triples.

  Attributes:
    num_entities: E, size of the entity embedding A_E.
    num_relations: R, size of the relation embedding A_R.
    vocab_size: question words (id 0 is padding).
    embed_dim: d.
    num_hops: H.
    follow_previous_hop: soft key hashing between hops (see module docstring).
    answer_from: "mixture" (gated over hops) or "last" (p_H, Miller et al.).
    embed_stddev: initial embedding scale; small keeps the first softmaxes soft.
  """
  num_entities: int
  num_relations: int
  vocab_size: int
  embed_dim: int = 64
  num_hops: int = 3
  follow_previous_hop: bool = True
  answer_from: str = "mixture"
  embed_stddev: float = 0.1

  @nn.compact
  def __call__(self, inputs: KVMemoryInputs) -> KVMemoryOutputs:
    if self.answer_from not in ANSWER_MODES:
      raise ValueError(f"model.answer_from={self.answer_from!r} is not one of {ANSWER_MODES}")
    if self.num_hops < 1:
      raise ValueError(f"model.num_hops={self.num_hops} must be >= 1")
    if inputs.subjects.ndim != 2:
      raise ValueError(f"KeyValueMemory expects candidates [batch, K], got subjects shape "
                       f"{inputs.subjects.shape}")
    init = nn.initializers.normal(self.embed_stddev)
    entity_embed = nn.Embed(self.num_entities, self.embed_dim, embedding_init=init,
                            name="entity_embed")
    relation_embed = nn.Embed(self.num_relations, self.embed_dim, embedding_init=init,
                              name="relation_embed")
    word_embed = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=init, name="word_embed")

    seed_valid = inputs.seed_entities >= 0
    word_valid = inputs.words > 0
    question = (jnp.sum(word_embed(inputs.words) * word_valid[..., None], axis=1)
                + jnp.sum(entity_embed(jnp.maximum(inputs.seed_entities, 0))
                          * seed_valid[..., None], axis=1))                       # [B, d]
    keys = entity_embed(inputs.subjects) + relation_embed(inputs.relations)      # [B, K, d]
    values = entity_embed(inputs.objects)                                        # [B, K, d]
    mask = inputs.mask
    mentioned = jnp.any((inputs.subjects[..., None] == inputs.seed_entities[:, None, :])
                        & seed_valid[:, None, :], axis=-1) & mask                # [B, K]

    query = question
    queries, hop_weights = [query], []
    log_prior = jnp.zeros(mask.shape, jnp.float32)
    hop_mask = mentioned if self.follow_previous_hop else mask
    for hop in range(self.num_hops):
      weights, read = _batched_hop(query, keys, values, hop_mask, log_prior)
      hop_weights.append(weights)
      query = nn.Dense(self.embed_dim, use_bias=False, kernel_init=_identity_init,
                       name=f"query_update_{hop}")(query + read)
      queries.append(query)
      if self.follow_previous_hop and hop + 1 < self.num_hops:
        prior = jax.vmap(previous_hop_prior)(weights, inputs.subjects, inputs.objects, mask)
        hop_mask = mask & (prior > 0)
        log_prior = jnp.log(jnp.maximum(prior, _MIN_PRIOR))

    hop_weights = jnp.stack(hop_weights, axis=1)                                 # [B, H, K]
    if self.answer_from == "mixture":
      gates = jax.nn.softmax(nn.Dense(self.num_hops, name="hop_gates")(question), axis=-1)
    else:
      gates = jax.nn.one_hot(jnp.full(question.shape[:1], self.num_hops - 1), self.num_hops)
    answer_weights = jnp.einsum("bh,bhk->bk", gates, hop_weights)
    mass = jax.vmap(entity_mass)(answer_weights, inputs.objects, mask)
    return KVMemoryOutputs(answer_weights, mass, hop_weights, gates, jnp.stack(queries, axis=1))


def answer_log_likelihood(answer_weights: jax.Array, is_answer: jax.Array) -> jax.Array:
  """log P(answer in A) = log sum_i a_i [o_i in A]; `[batch, K]` x2 -> `[batch]`.

  With several correct answers (a film's actors), any of them counts.
  """
  return jnp.log(jnp.sum(answer_weights * is_answer, axis=-1) + _EPSILON)


def predict(outputs: KVMemoryOutputs, objects: jax.Array, mask: jax.Array) -> jax.Array:
  """`[batch]` int32 predicted entity: the object with the largest P(answer = e), -1 if no slot."""
  best = jnp.argmax(jnp.where(mask, outputs.entity_mass, -1.0), axis=-1)
  chosen = jnp.take_along_axis(objects, best[:, None], axis=-1)[:, 0]
  return jnp.where(jnp.any(mask, axis=-1), chosen, -1)
