"""Key-value memory network (Miller, Fisch, Dodge, Karimi, Bordes, Weston 2016).

Memory slots are (key, value) pairs encoded separately; the key addresses,
the value is read (sec. 3.1):

    q^1 = A Phi_X(x)                                query
    p_hi = softmax_i(q^j . A Phi_K(k_hi))           key addressing
    o = sum_i p_hi A_V Phi_V(v_hi)                  value reading
    q^{j+1} = R_j (q^j + o)                         hop-specific update, j = 1..H
    a = argmax_y softmax(q^{H+1} . B Phi_Y(y))      answer over the vocabulary

On bAbI each statement is both key and value: Phi_K is the statement with
the key temporal encoding T_K(i) and Phi_V the same words in the value
embedding A_V plus T_V(i) (separate key and value encodings). Phi uses bag of
words or the position encoding of `memn2n.position_encoding`; the hop is
`memn2n.memory_hop`, i.e. `memjax.addressing.attention`.
"""
import dataclasses
from typing import Dict, Optional

import jax
import jax.numpy as jnp

from memjax.models import memn2n
from memjax.models.memn2n import (MemN2NOutput, check_encoding, encode_with_embeddings,
                                  memory_hop, random_time_index, temporal_weight)

Params = Dict[str, jax.Array]
random_time_index = random_time_index  # re-exported: same RN noise as MemN2N


@dataclasses.dataclass(frozen=True)
class KVMemNNConfig:
  """Sizes and options of a key-value memory network.

  Attributes:
    vocab_size: V, words including nil (id 0).
    embedding_dim: d.
    memory_size: number of (key, value) slots.
    num_hops: H; one R_j per hop.
    encoding: "bow", "position" or "position_authors" (see `memn2n`).
    temporal: add temporal encodings T_K (keys) and T_V (values).
    init_std: N(0, init_std^2) initialisation.
    r_identity_init: R_j starts at I + noise (True) rather than noise alone,
      so q keeps its scale through the hops at the start of training.
    pe_length: J of "position_authors" (see `memn2n.MemN2NConfig`).
    null_attention: empty slots join the key addressing's softmax as zero
      keys and values of score 0 (see `memn2n.MemN2NConfig`).
  """
  vocab_size: int
  embedding_dim: int = 20
  memory_size: int = 50
  num_hops: int = 3
  encoding: str = "position"
  temporal: bool = True
  init_std: float = 0.1
  r_identity_init: bool = True
  pe_length: int = 0
  null_attention: bool = False

  def __post_init__(self):
    check_encoding(self.encoding, self.pe_length)
    if self.num_hops < 1:
      raise ValueError(f"config.model.num_hops={self.num_hops} must be >= 1")


def init_params(rng: jax.Array, config: KVMemNNConfig) -> Params:
  """Parameters: "A" (query + keys), "AV" (values), "B" (answers) `[V, d]`;
  "R0".."R{H-1}" `[d, d]`; with temporal "TK", "TV" `[memory_size, d]`."""
  c = config
  v, d, m = c.vocab_size, c.embedding_dim, c.memory_size
  shapes = {"A": (v, d), "AV": (v, d), "B": (v, d)}
  shapes.update({f"R{j}": (d, d) for j in range(c.num_hops)})
  if c.temporal:
    shapes.update({"TK": (m, d), "TV": (m, d)})
  keys = jax.random.split(rng, len(shapes))
  params = {name: c.init_std * jax.random.normal(key, shape, jnp.float32)
            for key, (name, shape) in zip(keys, sorted(shapes.items()))}
  if c.r_identity_init:
    for j in range(c.num_hops):
      params[f"R{j}"] = params[f"R{j}"] + jnp.eye(d)
  return zero_nil_embeddings(params)


def word_embedding_names(params: Params):
  """Names of the `[V, d]` word embeddings whose row 0 is the nil word."""
  return [n for n in ("A", "AV", "B") if n in params]


def zero_nil_embeddings(params: Params) -> Params:
  """Row 0 (nil word) of every word embedding set to zero."""
  return memn2n.zero_nil_embeddings(params, word_embedding_names(params))


def apply(params: Params, memory: jax.Array, memory_mask: jax.Array, query: jax.Array,
          config: KVMemNNConfig, time_index: Optional[jax.Array] = None,
          linear: bool = False) -> MemN2NOutput:
  """Forward pass on one example.

  Args:
    params: from `init_params`.
    memory: `[memory_size, sentence_length]` int statements (keys and values).
    memory_mask: `[memory_size]` bool, True on real statements.
    query: `[query_length]` int question x.
    config: the model config.
    time_index: `[memory_size]` int temporal rows (default arange).
    linear: linear start (no softmax in the key addressing).

  Returns:
    `MemN2NOutput`: `[vocab_size]` logits q^{H+1} . B y and
    `[num_hops, memory_size]` key addressing weights.
  """
  c = config
  params = {name: jnp.asarray(value) for name, value in params.items()}
  if time_index is None:
    time_index = jnp.arange(memory.shape[0])
  keys, values = encode_with_embeddings([params["A"], params["AV"]], memory, c.encoding,
                                        c.pe_length)
  if c.temporal:
    time_weight = temporal_weight(c.encoding, c.embedding_dim, c.pe_length)
    keys = keys + params["TK"][time_index] * time_weight
    values = values + params["TV"][time_index] * time_weight
  (q,) = encode_with_embeddings([params["A"]], query, c.encoding, c.pe_length)
  null_slots = memn2n.null_slot_count(c, memory_mask)
  attention = []
  for j in range(c.num_hops):
    o, p = memory_hop(q, keys, values, memory_mask, linear, null_slots)
    q = params[f"R{j}"] @ (q + o)
    attention.append(p)
  return MemN2NOutput(logits=params["B"] @ q, attention=jnp.stack(attention))


def apply_batch(params: Params, memory: jax.Array, memory_mask: jax.Array, query: jax.Array,
                config: KVMemNNConfig, time_index: Optional[jax.Array] = None,
                linear: bool = False) -> MemN2NOutput:
  """`apply` vmapped over a leading batch axis."""
  if time_index is None:
    time_index = jnp.broadcast_to(jnp.arange(memory.shape[1]), memory.shape[:2])
  fn = lambda m, mm, q, t: apply(params, m, mm, q, config, t, linear)
  return jax.vmap(fn)(memory, memory_mask, query, time_index)
