"""End-to-end memory network: PE formula, masking, numpy forward pass, gradients, short training."""
import math

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.data.babi_scoring import summarize
from memjax.models import memn2n
from memjax.models import memory_networks
from memjax.models.babi_features import memory_buckets
from memjax.models.memory_networks import build_memory_network
from memjax.training import loop
from memjax.training.families import babi_memnn
from tests.family_configs import load_config

_V, _D, _M, _J = 12, 6, 5, 4


def _example(seed=0, num_valid=3):
  rng = np.random.default_rng(seed)
  memory = rng.integers(1, _V, (_M, _J)).astype(np.int32)
  memory[:, -1] = 0                                # padding word in every sentence
  memory[1, 1:] = 0                                # a one-word sentence
  mask = np.arange(_M) < num_valid
  memory[~mask] = 0
  query = np.array([3, 5, 0], np.int32)
  return jnp.asarray(memory), jnp.asarray(mask), jnp.asarray(query)


def _numpy_position_encoding(sentence_length, dim, num_words):
  """The paper's l_kj = (1 - j/J) - (k/d)(1 - 2j/J), written out with loops."""
  out = np.zeros((sentence_length, dim))
  for j in range(1, sentence_length + 1):
    for k in range(1, dim + 1):
      out[j - 1, k - 1] = (1 - j / num_words) - (k / dim) * (1 - 2 * j / num_words)
  return out


def test_position_encoding_matches_paper_formula():
  np.testing.assert_allclose(memn2n.position_encoding(7, 5), _numpy_position_encoding(7, 5, 7),
                             rtol=1e-6, atol=1e-6)
  per_sentence = memn2n.position_encoding(6, 4, jnp.array([3, 6]))
  assert per_sentence.shape == (2, 6, 4)
  np.testing.assert_allclose(per_sentence[0], _numpy_position_encoding(6, 4, 3), atol=1e-6)
  np.testing.assert_allclose(per_sentence[1], _numpy_position_encoding(6, 4, 6), atol=1e-6)


def _numpy_authors_position_encoding(pe_length, dim):
  """The MATLAB code's weights, transcribed: 1 + 4 (i - (d+1)/2)(j - (J+1)/2) / (d J), 1-based."""
  out = np.ones((pe_length, dim))
  for i in range(1, dim + 1):
    for j in range(1, pe_length + 1):
      out[j - 1, i - 1] = (i - (dim + 1) / 2) * (j - (pe_length + 1) / 2)
  return 1 + 4 * out / (dim * pe_length)


_PE_LENGTH = _J + 1  # the authors' J: longest sentence + the time word


def test_authors_position_encoding_matches_their_code():
  np.testing.assert_allclose(memn2n.position_encoding_authors(9, 7),
                             _numpy_authors_position_encoding(9, 7), rtol=1e-6, atol=1e-6)
  # Not the paper's formula: centred on 1 (the paper's weights average ~1/2).
  assert float(jnp.mean(memn2n.position_encoding_authors(9, 7))) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="pe_length"):
    memn2n.MemN2NConfig(vocab_size=5, encoding="position_authors")
  with pytest.raises(ValueError, match="exceed pe_length=3"):
    memn2n.sentence_features(jnp.ones((2, 4), jnp.int32), 5, "position_authors", pe_length=3)


@pytest.mark.parametrize("encoding", ["bow", "position", "position_authors"])
def test_sentence_encoding_matches_numpy(encoding):
  memory, _, _ = _example()
  embedding = np.random.default_rng(1).normal(size=(_V, _D)).astype(np.float32)
  embedding[0] = 0
  expected = np.zeros((_M, _D))
  for i, sentence in enumerate(np.asarray(memory)):
    num_words = max(int((sentence != 0).sum()), 1)
    if encoding == "bow":
      weights = np.ones((_J, _D))
    elif encoding == "position":
      weights = _numpy_position_encoding(_J, _D, num_words)
    else:  # one J for all sentences, whatever their length
      weights = _numpy_authors_position_encoding(_PE_LENGTH, _D)[:_J]
    expected[i] = (embedding[sentence] * weights).sum(axis=0)
  kw = dict(pe_length=_PE_LENGTH)
  np.testing.assert_allclose(memn2n.encode_sentences(jnp.asarray(embedding), memory, encoding, **kw),
                             expected, rtol=1e-5, atol=1e-5)
  stacked = memn2n.encode_with_embeddings([jnp.asarray(embedding)] * 2, memory, encoding, **kw)
  features = memn2n.sentence_features(memory, _V, encoding, **kw)
  assert features.shape == (_M, 1 if encoding == "bow" else 2, _V)
  from_features = memn2n.encode_with_embeddings([jnp.asarray(embedding)] * 2, features, encoding,
                                                **kw)
  for vectors in stacked + from_features:
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-5)


def _config(**kwargs):
  return memn2n.MemN2NConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M, **kwargs)


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_attention_sums_to_one_over_valid_slots_only(tying):
  config = _config(num_hops=3, tying=tying)
  params = memn2n.init_params(jax.random.PRNGKey(0), config)
  memory, mask, query = _example(num_valid=3)
  out = jax.jit(lambda p: memn2n.apply(p, memory, mask, query, config))(params)
  assert out.attention.shape == (3, _M)
  np.testing.assert_allclose(out.attention.sum(axis=1), 1.0, rtol=1e-6)
  assert np.all(np.asarray(out.attention)[:, 3:] == 0.0)
  assert np.all(np.asarray(out.attention)[:, :3] > 0.0)


def test_masked_slots_do_not_change_the_answer_and_empty_memory_is_finite():
  config = _config(num_hops=2)
  params = memn2n.init_params(jax.random.PRNGKey(1), config)
  memory, mask, query = _example(num_valid=2)
  base = memn2n.apply(params, memory, mask, query, config)
  garbage = memory.at[2:].set(7)  # content in masked slots must be ignored
  np.testing.assert_allclose(memn2n.apply(params, garbage, mask, query, config).logits,
                             base.logits, rtol=1e-6)
  empty = memn2n.apply(params, memory, jnp.zeros(_M, bool), query, config)
  assert np.all(np.isfinite(empty.logits))
  assert np.all(np.asarray(empty.attention) == 0.0)
  # With nothing to read, u stays the query embedding: logits = W B q.
  (u,) = memn2n.encode_with_embeddings([params["E0"]], query, "position")
  np.testing.assert_allclose(empty.logits, u @ params["E2"].T, rtol=1e-5, atol=1e-6)
  grads = jax.grad(lambda p: memn2n.apply(p, memory, jnp.zeros(_M, bool), query,
                                          config).logits.sum())(params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def _numpy_one_hop(params, memory, mask, query, time_index, linear=False, authors=False):
  """MemN2N eq. 1-3 for one hop with adjacent tying, PE and temporal encoding.

  authors: the MATLAB code's variant: centred PE with J = _PE_LENGTH, and the
  temporal vector as a time word in position J (so weighted by that column).
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  memory, mask, query = np.asarray(memory), np.asarray(mask), np.asarray(query)
  table = _numpy_authors_position_encoding(_PE_LENGTH, _D)

  def encode(embedding, sentence):
    if authors:
      return (embedding[sentence] * table[:len(sentence)]).sum(0)
    num_words = max(int((sentence != 0).sum()), 1)
    return (embedding[sentence] * _numpy_position_encoding(len(sentence), _D, num_words)).sum(0)

  time_weight = table[-1] if authors else 1.0
  u = encode(p["E0"], query)                                            # B q
  m = np.stack([encode(p["E0"], s) for s in memory]) + p["T0"][time_index] * time_weight  # A, T_A
  c = np.stack([encode(p["E1"], s) for s in memory]) + p["T1"][time_index] * time_weight  # C, T_C
  scores = m @ u
  if linear:
    weights = np.where(mask, scores, 0.0)
  else:
    e = np.where(mask, np.exp(scores - scores[mask].max()), 0.0)
    weights = e / e.sum()
  o = weights @ c
  return (u + o) @ p["E1"].T, weights                                   # W = C^T


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("encoding", ["position", "position_authors"])
def test_one_hop_model_equals_numpy_forward_pass(linear, encoding):
  config = _config(num_hops=1, encoding=encoding, pe_length=_PE_LENGTH)
  params = memn2n.init_params(jax.random.PRNGKey(2), config)
  memory, mask, query = _example(num_valid=4)
  time_index = jnp.array([0, 2, 3, 4, 4])
  out = jax.jit(lambda p: memn2n.apply(p, memory, mask, query, config, time_index, linear))(params)
  logits, weights = _numpy_one_hop(params, memory, mask, query, np.asarray(time_index), linear,
                                   authors=(encoding == "position_authors"))
  np.testing.assert_allclose(out.logits, logits, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out.attention[0], weights, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_null_attention_counts_every_empty_slot_even_in_a_truncated_memory(tying):
  """Authors' code: empty slots are zero vectors of score 0 inside the softmax."""
  config = _config(num_hops=1, tying=tying, null_attention=True, temporal=False)
  params = memn2n.init_params(jax.random.PRNGKey(5), config)
  memory, mask, query = _example(num_valid=3)
  full = memn2n.apply(params, memory, mask, query, config)
  # numpy: append the M - 3 empty slots as explicit zero-score rows of the softmax.
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  first, second = ("E0", "E1") if tying == "adjacent" else ("A", "C")
  query_embedding = "E0" if tying == "adjacent" else "B"
  encode = lambda e, s: (p[e][s] * _numpy_position_encoding(len(s), _D,
                                                            max(int((s != 0).sum()), 1))).sum(0)
  u = encode(query_embedding, np.asarray(query))
  valid = np.asarray(memory)[:3]
  m = np.stack([encode(first, s) for s in valid])
  scores = np.concatenate([m @ u, np.zeros(_M - 3)])
  weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
  np.testing.assert_allclose(full.attention[0, :3], weights[:3], rtol=1e-5, atol=1e-7)
  assert float(full.attention[0].sum()) < 1.0
  # A bucketed batch passes only the first rows: same answer.
  truncated = memn2n.apply(params, memory[:4], mask[:4], query, config)
  np.testing.assert_allclose(truncated.logits, full.logits, rtol=1e-5, atol=1e-6)
  plain = memn2n.apply(params, memory, mask, query, _config(num_hops=1, tying=tying,
                                                            temporal=False))
  assert not np.allclose(plain.logits, full.logits)


def test_layerwise_hops_use_h_map():
  config = _config(num_hops=2, tying="layerwise", encoding="bow", temporal=False)
  params = memn2n.init_params(jax.random.PRNGKey(3), config)
  memory, mask, query = _example(num_valid=5)
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  mem = np.asarray(memory)
  u = p["B"][np.asarray(query)].sum(0)
  m, c = p["A"][mem].sum(1), p["C"][mem].sum(1)
  for _ in range(2):
    e = np.exp(m @ u - (m @ u).max())
    u = p["H"] @ u + (e / e.sum()) @ c
  np.testing.assert_allclose(memn2n.apply(params, memory, mask, query, config).logits,
                             u @ p["W"], rtol=1e-5, atol=1e-5)


def test_batched_jit_matches_unbatched_and_gradients_check():
  config = _config(num_hops=2)
  params = memn2n.init_params(jax.random.PRNGKey(4), config)
  examples = [_example(seed, n) for seed, n in [(0, 3), (1, 5), (2, 1)]]
  memory, mask, query = (jnp.stack(x) for x in zip(*examples))
  batched = jax.jit(lambda p: memn2n.apply_batch(p, memory, mask, query, config))(params)
  for i, ex in enumerate(examples):
    np.testing.assert_allclose(batched.logits[i], memn2n.apply(params, *ex, config).logits,
                               rtol=1e-5, atol=1e-6)
  # The training path feeds precomputed sentence features instead of word ids.
  featured = memn2n.apply_batch(params, memn2n.sentence_features(memory, _V, "position"), mask,
                                memn2n.sentence_features(query, _V, "position"), config)
  np.testing.assert_allclose(featured.logits, batched.logits, rtol=1e-5, atol=1e-5)
  loss = lambda p: jnp.sum(jax.nn.log_softmax(
      memn2n.apply_batch(p, memory, mask, query, config).logits)[:, 1])
  check_grads(loss, (params,), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_nil_embedding_starts_and_stays_zero():
  config = _config(num_hops=2)
  params = memn2n.init_params(jax.random.PRNGKey(5), config)
  assert all(np.all(params[n][0] == 0) for n in memn2n.word_embedding_names(params))
  bumped = {k: v + 1.0 for k, v in params.items()}
  cleaned = memn2n.zero_nil_embeddings(bumped)
  assert all(np.all(cleaned[n][0] == 0) for n in memn2n.word_embedding_names(params))
  assert np.all(cleaned["T0"][0] == bumped["T0"][0])  # temporal rows are not words


def test_random_time_index_adds_empty_memories():
  mask = jnp.arange(50) < 40
  times = jax.vmap(memn2n.random_time_index, in_axes=(0, None, None))(
      jax.random.split(jax.random.PRNGKey(0), 200), mask, 0.1)
  times = np.asarray(times)[:, :40]
  assert np.all(np.diff(times, axis=1) >= 0) and times.min() >= 0 and times.max() <= 49
  gaps = times[:, -1] - 39  # inserted blanks before the oldest statement
  assert 0 <= gaps.min() and gaps.max() <= math.ceil(0.1 * 40) and gaps.mean() > 0.5
  np.testing.assert_array_equal(memn2n.random_time_index(jax.random.PRNGKey(1), mask, 0.0)[:40],
                                np.arange(40))


def test_random_time_index_blanks_short_stories_as_the_authors():
  # nblank ~ randi([0, ceil(0.1 n)]) includes its upper end: a 5-statement story
  # gets one blank half the time, and then 5 of 6 time slots, not 0..4, 5/6 of it.
  mask = jnp.arange(50) < 5
  times = jax.vmap(memn2n.random_time_index, in_axes=(0, None, None))(
      jax.random.split(jax.random.PRNGKey(3), 400), mask, 0.1)
  shifted = np.any(np.asarray(times)[:, :5] != np.arange(5), axis=1)
  assert 0.3 < shifted.mean() < 0.55, shifted.mean()  # 5/12 expected
  assert np.asarray(times)[:, :5].max() <= 5


def test_bad_config_names_the_key():
  with pytest.raises(ValueError, match="config.model.encoding"):
    _config(encoding="tfidf")
  with pytest.raises(ValueError, match="config.model.tying"):
    _config(tying="none")


def test_trainer_helpers():
  grads = {"a": jnp.full((2, 2), 100.0), "b": jnp.full((3,), 0.1)}
  clipped = babi_memnn.clip_per_matrix(grads, 40.0)
  np.testing.assert_allclose(jnp.linalg.norm(clipped["a"]), 40.0, rtol=1e-6)
  np.testing.assert_allclose(clipped["b"], grads["b"])
  train = ml_collections.ConfigDict(dict(linear_start=True, ls_epochs=20, ls_learning_rate=0.005,
                                         ls_decay_every=31, learning_rate=0.01, decay_every=25,
                                         num_epochs=100))
  assert babi_memnn.learning_rate_at(0, train) == (0.005, True)
  assert babi_memnn.learning_rate_at(20, train) == (0.01, False)
  assert babi_memnn.learning_rate_at(20 + 25, train) == (0.005, False)
  assert babi_memnn.total_epochs(train) == 120
  # The authors' code halves at the start of epoch e when (e + 1) % 25 == 0.
  train.decay_rule = "authors"
  assert babi_memnn.learning_rate_at(20 + 23, train) == (0.01, False)
  assert babi_memnn.learning_rate_at(20 + 24, train) == (0.005, False)
  assert babi_memnn.learning_rate_at(19, train) == (0.005, True)  # LS: 31 > 20 epochs
  train.decay_rule = "sometimes"
  with pytest.raises(ValueError, match="config.train.decay_rule='sometimes'"):
    babi_memnn.learning_rate_at(30, train)
  mask = np.arange(50)[None, :] < np.array([[0], [3], [6], [7], [50]])
  buckets = memory_buckets(mask, (6, 12))
  assert [list(b) for b in buckets] == [[0, 1, 2], [3], [4]]
  test = np.array([[1.0, 10.0], [0.0, 3.0]])
  valid = np.array([[0.0, 9.0], [5.0, 2.0]])
  joint = summarize(test, valid, [1, 2], joint=True)
  assert joint["best_seed"] == [1, 1] and joint["best_failed_tasks"] == 0
  per_task = summarize(test, valid, [1, 2], joint=False)
  assert per_task["best_seed"] == [0, 1]
  assert per_task["best_mean_test_error_pct"] == pytest.approx(2.0)
  assert joint["std_test_error_pct_over_seeds"] == pytest.approx(np.std([5.5, 1.5]))


def _load_config(arg):
  return load_config("babi_memn2n", arg)


def test_short_training_solves_task1(tmp_path):
  """A few epochs of the paper's recipe (PE, temporal, RN, d = 20): task 1 test error < 5%."""
  from tests.data_paths import require_shared_data
  babi_dir = require_shared_data("babi/tasks_1-20_v1-2")
  config = _load_config("pe_ls_rn,per_task")
  config.data.babi_dir = str(babi_dir)
  config.data.tasks = (1,)
  config.data.mode = "joint"            # one run on the single task
  config.data.memory_size = 20          # task 1 stories are short
  config.num_seeds = 2
  config.train.linear_start = False     # one compiled epoch function: faster test
  config.train.num_epochs = 15
  config.train.memory_buckets = ()
  config.train.eval_every = 15
  config.train.checkpoint_every = 0
  results = loop.train_and_evaluate(config, str(tmp_path))
  assert results["best_test_error_pct"]["1"] < 5.0, results["best_test_error_pct"]
  assert (tmp_path / "results.json").exists()


@pytest.mark.parametrize("linear", [False, True])
def test_predict_with_seeds_vmapped_equals_seed_by_seed(linear):
  """The evaluation used when seeds are split over devices gives the same answers."""
  config = _load_config("pe_ls_rn")
  model = build_memory_network(config.model, vocab_size=30, memory_size=10,
                               sentence_length=6, query_length=5)
  params = jax.vmap(model.init)(jax.random.split(jax.random.PRNGKey(0), 3))
  rng = np.random.default_rng(0)
  n = 2 * memory_networks.EVAL_CHUNK
  memory = rng.integers(1, 30, (n, 10, 6)).astype(np.int32)
  mask = rng.random((n, 10)) < 0.7
  query = rng.integers(1, 30, (n, 5)).astype(np.int32)
  by_seed = memory_networks.make_predict(model, linear)(params, memory, mask, query)
  vmapped = memory_networks.make_predict(model, linear, vmap_seeds=True)(params, memory, mask, query)
  chex.assert_shape(vmapped, (3, n))
  np.testing.assert_array_equal(vmapped, by_seed)
  assert len(np.unique(np.asarray(by_seed))) > 3  # not a constant answer
