"""End-to-end memory network (Sukhbaatar, Szlam, Weston, Fergus 2015, "MemN2N").

One hop k reads the memory with the controller state u^k (eq. 1-2, 4):

    m_i = sum_j l_j * A^k x_ij + T_A^k(i)          memory (input) vectors
    c_i = sum_j l_j * C^k x_ij + T_C^k(i)          output vectors
    p_i = softmax_i(u^k . m_i)                     (linear start: p_i = u^k . m_i)
    o^k = sum_i p_i c_i
    u^{k+1} = u^k + o^k          (adjacent tying)  or  H u^k + o^k  (layer-wise)

with u^1 = sum_j l_j * B q_j and the answer a = softmax(W u^{K+1}) (eq. 3).
`l_j` is all-ones for bag-of-words (BoW) and the position encoding (PE, sec. 4.1)
    l_kj = (1 - j/J) - (k/d) (1 - 2 j/J),   j = 1..J words, k = 1..d
otherwise (`encoding="position"`, J = the sentence's own length). The authors'
MATLAB code uses a centred variant (`encoding="position_authors"`),
    l_kj = 1 + 4 (k - (d+1)/2) (j - (J+1)/2) / (d J),
with one fixed J for every sentence (the longest sentence, + 1 for the time
word that carries the temporal encoding), and scales T(i) by l_{., J}, the
weight of the time word's position. Weight tying (sec. 2.2):
  adjacent:   A^{k+1} = C^k, B = A^1, W^T = C^K (and T_A^{k+1} = T_C^k), so the
              parameters are K + 1 embeddings E_0..E_K with A^k = E_{k-1}, C^k = E_k;
  layer-wise: A^1 = ... = A^K = A, C^1 = ... = C^K = C, separate B and W, and
              a linear map H between hops.
With `null_attention` (the authors' code, where empty slots are all-nil
sentences that stay in the softmax) each hop's softmax also counts the
memory_size - (statements) empty slots as zero vectors of score 0:
    p_i = exp(u . m_i) / (sum_{j valid} exp(u . m_j) + #empty),
so a hop can attend to nothing. Random noise (RN, sec. 4.1) adds ~10% empty
memories by shifting the temporal index T(i) of training examples
(`random_time_index`). Row 0 of every word
embedding is the nil word and stays zero (`zero_nil_embeddings`).

Everything is a pure function of a params dict (one matrix per leaf, so
per-matrix gradient clipping is a `tree_map`); `apply` works on one example
and `apply_batch` vmaps it, so seeds vmap on top.
"""
import dataclasses
import math
from typing import Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from memjax.addressing import attention_read, attention_weights

Params = Dict[str, jax.Array]
ENCODINGS = ("bow", "position", "position_authors")
TYINGS = ("adjacent", "layerwise")


@dataclasses.dataclass(frozen=True)
class MemN2NConfig:
  """Sizes and options of an end-to-end memory network.

  Attributes:
    vocab_size: V, words including nil (id 0).
    embedding_dim: d.
    memory_size: number of memory slots (statements kept).
    num_hops: K.
    encoding: "bow", "position" (the paper's PE) or "position_authors" (the
      MATLAB code's centred PE with a fixed J = `pe_length`).
    temporal: add temporal encodings T_A, T_C.
    tying: "adjacent" or "layerwise".
    init_std: parameters are drawn from N(0, init_std^2) (authors: 0.1).
    pe_length: J of "position_authors": the longest sentence or question,
      + 1 with temporal encoding (the time word); unused otherwise.
    null_attention: the authors' code keeps the memory's empty slots
      (all-nil sentences, m_i = c_i = 0) in each hop's softmax with score 0;
      True does the same, exactly: the memory_size - (statements) empty slots
      join the softmax's denominator (`attention_weights(num_null_slots=)`),
      so a hop can attend to "nothing". False (the paper's description):
      softmax over the statements only.
  """
  vocab_size: int
  embedding_dim: int = 20
  memory_size: int = 50
  num_hops: int = 3
  encoding: str = "position"
  temporal: bool = True
  tying: str = "adjacent"
  init_std: float = 0.1
  pe_length: int = 0
  null_attention: bool = False

  def __post_init__(self):
    check_encoding(self.encoding, self.pe_length)
    if self.tying not in TYINGS:
      raise ValueError(f"config.model.tying={self.tying!r} is not one of {TYINGS}")
    if self.num_hops < 1:
      raise ValueError(f"config.model.num_hops={self.num_hops} must be >= 1")


def check_encoding(encoding: str, pe_length: int) -> None:
  """Raises ValueError naming the config field if `encoding` cannot work."""
  if encoding not in ENCODINGS:
    raise ValueError(f"config.model.encoding={encoding!r} is not one of {ENCODINGS}")
  if encoding == "position_authors" and pe_length < 1:
    raise ValueError("config.model.encoding='position_authors' needs pe_length >= 1 (J: the "
                     f"longest sentence, + 1 with temporal encoding), got {pe_length}")


class MemN2NOutput(NamedTuple):
  """What `apply` returns for one example.

  Attributes:
    logits: `[vocab_size]` answer logits W u^{K+1}.
    attention: `[num_hops, memory_size]` p of each hop.
  """
  logits: jax.Array
  attention: jax.Array


def position_encoding(sentence_length: int, dim: int,
                      num_words: Optional[jax.Array] = None) -> jax.Array:
  """Position-encoding weights l_kj = (1 - j/J) - (k/d)(1 - 2j/J) (sec. 4.1).

  Args:
    sentence_length: padded length; j runs over 1..sentence_length.
    dim: d; k runs over 1..d.
    num_words: J, the number of words of each sentence, any shape `[...]`;
      None means J = sentence_length. Weights past J multiply nil words.

  Returns:
    `[..., sentence_length, dim]` weights (row j-1, column k-1 is l_kj).
  """
  j = jnp.arange(1, sentence_length + 1, dtype=jnp.float32)[:, None]
  k = jnp.arange(1, dim + 1, dtype=jnp.float32)[None, :]
  if num_words is None:
    big_j = jnp.float32(sentence_length)
  else:
    big_j = jnp.maximum(jnp.asarray(num_words, jnp.float32), 1.0)[..., None, None]
  return (1.0 - j / big_j) - (k / dim) * (1.0 - 2.0 * j / big_j)


def position_encoding_authors(pe_length: int, dim: int) -> jax.Array:
  """The MATLAB code's centred weights l_kj = 1 + 4 (k - (d+1)/2)(j - (J+1)/2) / (d J).

  Args:
    pe_length: J, fixed for all sentences (longest sentence + 1 time word).
    dim: d.

  Returns:
    `[pe_length, dim]` weights (row j-1, column k-1 is l_kj); row J-1 weights
    the time word, i.e. the temporal encoding.
  """
  j = jnp.arange(1, pe_length + 1, dtype=jnp.float32)[:, None]
  k = jnp.arange(1, dim + 1, dtype=jnp.float32)[None, :]
  return 1.0 + 4.0 * (k - (dim + 1) / 2.0) * (j - (pe_length + 1) / 2.0) / (dim * pe_length)


def _check_pe_length(sentence_length: int, pe_length: int) -> None:
  if sentence_length > pe_length:
    raise ValueError(f"sentences of {sentence_length} words exceed pe_length={pe_length}, the J "
                     "of encoding='position_authors' the model was built with (longest "
                     "sentence, + 1 time word)")


def word_weights(words: jax.Array, dim: int, encoding: str, pe_length: int = 0) -> jax.Array:
  """l_kj of each word position of `words` `[..., J']` -> `[..., J', dim]` (not for bow)."""
  if encoding == "position_authors":
    _check_pe_length(words.shape[-1], pe_length)
    return position_encoding_authors(pe_length, dim)[:words.shape[-1]]
  return position_encoding(words.shape[-1], dim, jnp.sum(words != 0, axis=-1))


def temporal_weight(encoding: str, dim: int, pe_length: int = 0):
  """Scale of the temporal vectors T(i): l_{., J} for "position_authors", else 1."""
  if encoding == "position_authors":
    return position_encoding_authors(pe_length, dim)[pe_length - 1]
  return 1.0


def encode_sentences(embedding: jax.Array, words: jax.Array, encoding: str,
                     pe_length: int = 0) -> jax.Array:
  """sum_j l_j * E x_j over the last axis of `words`.

  Args:
    embedding: `[vocab_size, dim]` E (row 0 = nil = zero).
    words: `[..., sentence_length]` int word ids, 0 = padding.
    encoding: "bow" (l_j = 1), "position" or "position_authors".
    pe_length: J of "position_authors".

  Returns:
    `[..., dim]` sentence vectors.
  """
  vectors = embedding[words]  # [..., sentence_length, dim]
  if encoding == "bow":
    return jnp.sum(vectors, axis=-2)
  weights = word_weights(words, embedding.shape[-1], encoding, pe_length)
  return jnp.sum(vectors * weights, axis=-2)


def sentence_features(words: jax.Array, vocab_size: int, encoding: str,
                      pe_length: int = 0) -> jax.Array:
  """Per-word coefficients that turn sentence encoding into one matrix product.

  Splitting l_kj = a_j + g_k b_j,
      sum_j l_kj E[x_j, k] = (f_a E)_k + g_k (f_b E)_k,
  where f_a[v] = sum_{j: x_j = v} a_j and f_b[v] = sum_{j: x_j = v} b_j; BoW has
  the single row f[v] = count of v in the sentence. The paper's PE has
  a_j = 1 - j/J, b_j = 1 - 2j/J, g_k = -k/d; the authors' centred PE a_j = 1,
  b_j = (j - (J+1)/2) / J, g_k = 4 (k - (d+1)/2) / d (`dimension_coefficients`). The gradient with respect
  to E is then a matrix product too, several times faster on CPU than the
  scatter-add behind an embedding gather's gradient. Training precomputes
  these once per distinct sentence.

  Args:
    words: `[..., sentence_length]` int word ids, 0 = nil.
    vocab_size: V.
    encoding: "bow", "position" or "position_authors".
    pe_length: J of "position_authors".

  Returns:
    `[..., 1 or 2, vocab_size]` float32 (1 row for bow, 2 for position).
  """
  one_hot = jax.nn.one_hot(words, vocab_size, dtype=jnp.float32)  # [..., J, V]
  if encoding == "bow":
    return jnp.sum(one_hot, axis=-2)[..., None, :]
  j = jnp.arange(1, words.shape[-1] + 1, dtype=jnp.float32)
  if encoding == "position_authors":
    _check_pe_length(words.shape[-1], pe_length)
    a = jnp.ones(words.shape, jnp.float32)[..., None]
    b = jnp.broadcast_to((j - (pe_length + 1) / 2.0) / pe_length, words.shape)[..., None]
  else:
    big_j = jnp.maximum(jnp.sum(words != 0, axis=-1), 1).astype(jnp.float32)[..., None]
    a = (1.0 - j / big_j)[..., None]
    b = (1.0 - 2.0 * j / big_j)[..., None]
  return jnp.stack([jnp.sum(a * one_hot, axis=-2), jnp.sum(b * one_hot, axis=-2)], axis=-2)


def dimension_coefficients(encoding: str, dim: int) -> jax.Array:
  """g_k of `sentence_features`' split l_kj = a_j + g_k b_j, `[dim]`."""
  k = jnp.arange(1, dim + 1, dtype=jnp.float32)
  if encoding == "position_authors":
    return 4.0 * (k - (dim + 1) / 2.0) / dim
  return -k / dim


def encode_with_embeddings(embeddings, sentences: jax.Array, encoding: str, pe_length: int = 0):
  """`encode_sentences` of the same sentences under several embeddings at once.

  Args:
    embeddings: list of n `[vocab_size, dim]` matrices.
    sentences: either `[..., sentence_length]` int word ids (read with one
      gather from the concatenated `[vocab_size, n * dim]` table) or
      `[..., F, vocab_size]` float `sentence_features` (one matrix product).
    encoding: "bow", "position" or "position_authors".
    pe_length: J of "position_authors".

  Returns:
    list of n `[..., dim]` sentence vectors, equal to `encode_sentences(E, words, encoding)`.
  """
  dim = embeddings[0].shape[-1]
  table = jnp.concatenate(embeddings, axis=-1)  # [V, n * dim]
  if not jnp.issubdtype(sentences.dtype, jnp.integer):
    projected = sentences @ table  # [..., F, n * dim]
    if encoding == "bow":
      summed = projected[..., 0, :]
    else:
      g = jnp.tile(dimension_coefficients(encoding, dim), len(embeddings))
      summed = projected[..., 0, :] + g * projected[..., 1, :]
    return jnp.split(summed, len(embeddings), axis=-1)
  words = sentences
  vectors = table.at[words.reshape(-1)].get(mode="promise_in_bounds")
  vectors = vectors.reshape(words.shape + (table.shape[-1],))  # [..., J, n * dim]
  if encoding == "bow":
    summed = jnp.sum(vectors, axis=-2)
  else:
    weights = word_weights(words, dim, encoding, pe_length)
    weights = jnp.tile(weights, (1,) * (weights.ndim - 1) + (len(embeddings),))
    summed = jnp.sum(vectors * weights, axis=-2)
  return jnp.split(summed, len(embeddings), axis=-1)


def memory_hop(u: jax.Array, memory_in: jax.Array, memory_out: jax.Array,
               mask: jax.Array, linear: bool = False,
               num_null_slots: Optional[jax.Array] = None) -> Tuple[jax.Array, jax.Array]:
  """One hop: p = softmax(m u) over valid slots, o = sum_i p_i c_i (eq. 1-2).

  Args:
    u: `[dim]` controller state u^k.
    memory_in: `[memory_size, dim]` m_i.
    memory_out: `[memory_size, dim]` c_i.
    mask: `[memory_size]` bool, False on empty slots (they get p_i = 0).
    linear: linear start: p_i = u . m_i without the softmax (still 0 on empty slots).
    num_null_slots: optional count of zero-vector slots of score 0 in the
      softmax (`MemN2NConfig.null_attention`).

  Returns:
    (o `[dim]`, p `[memory_size]`).
  """
  if linear:
    p = jnp.where(mask, memory_in @ u, 0.0)
  else:
    p = attention_weights(u, memory_in, mask, num_null_slots)
  return attention_read(p, memory_out), p


def null_slot_count(config, memory_mask: jax.Array) -> Optional[jax.Array]:
  """memory_size - (statements): the empty slots of null attention, None when it is off.

  Counted against `config.memory_size`, not `memory_mask`'s length, because a
  bucketed batch passes only the first rows of the memory.
  """
  return config.memory_size - jnp.sum(memory_mask) if config.null_attention else None


def _normal(rng, shape, std):
  return std * jax.random.normal(rng, shape, jnp.float32)


def init_params(rng: jax.Array, config: MemN2NConfig) -> Params:
  """Parameters ~ N(0, init_std^2) with the nil rows zero.

  Keys (one matrix each), V = vocab_size, d = embedding_dim, M = memory_size:
    adjacent:   "E0".."EK" `[V, d]`; with temporal "T0".."TK" `[M, d]`.
    layer-wise: "A", "B", "C" `[V, d]`, "W" `[d, V]`, "H" `[d, d]`; with
                temporal "TA", "TC" `[M, d]`.
  """
  c = config
  v, d, m = c.vocab_size, c.embedding_dim, c.memory_size
  if c.tying == "adjacent":
    shapes = {f"E{k}": (v, d) for k in range(c.num_hops + 1)}
    if c.temporal:
      shapes.update({f"T{k}": (m, d) for k in range(c.num_hops + 1)})
  else:
    shapes = {"A": (v, d), "B": (v, d), "C": (v, d), "W": (d, v), "H": (d, d)}
    if c.temporal:
      shapes.update({"TA": (m, d), "TC": (m, d)})
  keys = jax.random.split(rng, len(shapes))
  params = {name: _normal(key, shape, c.init_std)
            for key, (name, shape) in zip(keys, sorted(shapes.items()))}
  return zero_nil_embeddings(params)


def word_embedding_names(params: Params):
  """Names of the `[V, d]` word embeddings whose row 0 is the nil word."""
  return [n for n in params if n[0] == "E" or n in ("A", "B", "C")]


def zero_nil_embeddings(params: Params, names=None) -> Params:
  """Sets row 0 (the nil word) of every word embedding to zero (authors' code, after each step).

  `names` lists the embeddings (default: this model's `word_embedding_names`).
  """
  names = set(word_embedding_names(params) if names is None else names)
  return {n: (p.at[0].set(0.0) if n in names else p) for n, p in params.items()}


def apply(params: Params, memory: jax.Array, memory_mask: jax.Array, query: jax.Array,
          config: MemN2NConfig, time_index: Optional[jax.Array] = None,
          linear: bool = False) -> MemN2NOutput:
  """Forward pass on one example.

  Args:
    params: from `init_params`.
    memory: `[memory_size, sentence_length]` int word ids x_ij, or their
      `[memory_size, F, vocab_size]` `sentence_features` (same result, faster
      gradients).
    memory_mask: `[memory_size]` bool, True on real statements.
    query: `[query_length]` int word ids q (or `[F, vocab_size]` features).
    config: the model config.
    time_index: `[memory_size]` int row of T used by each slot (default
      arange: slot i = i statements ago); `random_time_index` adds noise.
    linear: linear start (no softmax in the hops).

  Returns:
    `MemN2NOutput` with `[vocab_size]` logits and `[num_hops, memory_size]` attention.
  """
  c = config
  params = {name: jnp.asarray(value) for name, value in params.items()}
  if time_index is None:
    time_index = jnp.arange(memory.shape[0])
  time_weight = temporal_weight(c.encoding, c.embedding_dim, c.pe_length)
  null_slots = null_slot_count(c, memory_mask)
  temporal = lambda t: params[t][time_index] * time_weight if c.temporal else 0.0
  attention = []
  if c.tying == "adjacent":
    (u,) = encode_with_embeddings([params["E0"]], query, c.encoding, c.pe_length)
    encoded = encode_with_embeddings([params[f"E{k}"] for k in range(c.num_hops + 1)], memory,
                                     c.encoding, c.pe_length)
    memory_in = encoded[0] + temporal("T0")
    for k in range(1, c.num_hops + 1):
      memory_out = encoded[k] + temporal(f"T{k}")
      o, p = memory_hop(u, memory_in, memory_out, memory_mask, linear, null_slots)
      u = u + o
      attention.append(p)
      memory_in = memory_out  # A^{k+1} = C^k
    logits = u @ params[f"E{c.num_hops}"].T  # W^T = C^K
  else:
    (u,) = encode_with_embeddings([params["B"]], query, c.encoding, c.pe_length)
    memory_in, memory_out = encode_with_embeddings([params["A"], params["C"]], memory, c.encoding,
                                                   c.pe_length)
    memory_in = memory_in + temporal("TA")
    memory_out = memory_out + temporal("TC")
    for _ in range(c.num_hops):
      o, p = memory_hop(u, memory_in, memory_out, memory_mask, linear, null_slots)
      u = params["H"] @ u + o
      attention.append(p)
    logits = u @ params["W"]
  return MemN2NOutput(logits=logits, attention=jnp.stack(attention))


def apply_batch(params: Params, memory: jax.Array, memory_mask: jax.Array, query: jax.Array,
                config: MemN2NConfig, time_index: Optional[jax.Array] = None,
                linear: bool = False) -> MemN2NOutput:
  """`apply` vmapped over a leading batch axis of memory, memory_mask, query (and time_index)."""
  if time_index is None:
    time_index = jnp.broadcast_to(jnp.arange(memory.shape[1]), memory.shape[:2])
  fn = lambda m, mm, q, t: apply(params, m, mm, q, config, t, linear)
  return jax.vmap(fn)(memory, memory_mask, query, time_index)


def random_time_index(rng: jax.Array, memory_mask: jax.Array, noise_fraction: float = 0.1,
                      num_times: Optional[int] = None) -> jax.Array:
  """Temporal indices with random empty memories (RN, sec. 4.1; authors' `randomize_time`).

  For an example with n statements, draws nblank uniformly in
  [0, ceil(noise_fraction * n)] (both ends included, as the authors'
  `randi([0, ceil(n * randomize_time)])`; an exclusive bound would never add
  a blank to a story of 10 statements or fewer, 84% of the 1k training
  questions), picks n of the n + nblank time slots at random and gives them in
  order to the n statements, so ~noise_fraction empty memories are
  interleaved. Indices are clipped to num_times - 1 (theirs to config.sz).

  Args:
    rng: PRNG key.
    memory_mask: `[memory_size]` bool, valid slots first.
    noise_fraction: at most this share of extra empty slots.
    num_times: rows of the temporal matrices T (default memory_size; larger
      when `memory_mask` is a truncated view of the memory).

  Returns:
    `[memory_size]` int32, increasing over the valid slots.
  """
  memory_size = memory_mask.shape[-1]
  extended = memory_size + int(math.ceil(noise_fraction * memory_size))
  blank_rng, order_rng = jax.random.split(rng)
  n = jnp.sum(memory_mask)
  max_blank = jnp.ceil(noise_fraction * n).astype(jnp.int32)
  nblank = jax.random.randint(blank_rng, (), 0, max_blank + 1)  # randint's maxval is exclusive
  scores = jax.random.uniform(order_rng, (extended,))
  scores = jnp.where(jnp.arange(extended) < n + nblank, scores, 2.0)
  chosen = jnp.argsort(scores)[:memory_size]
  chosen = jnp.where(jnp.arange(memory_size) < n, chosen, extended)
  times = jnp.sort(chosen)
  num_times = memory_size if num_times is None else num_times
  return jnp.minimum(times, num_times - 1).astype(jnp.int32)
