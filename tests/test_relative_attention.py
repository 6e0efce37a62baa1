"""Relative attention: rel-shift and the four-term score against naive loop-built references."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.transformer import relative_attention as rel


def _rng(seed=0):
  return np.random.default_rng(seed)


def _np_sinusoid(distance, d_model):
  inverse_frequency = 1.0 / (10000.0 ** (np.arange(0, d_model, 2) / d_model))
  angles = distance * inverse_frequency
  return np.concatenate([np.sin(angles), np.cos(angles)])


@pytest.mark.parametrize("qlen,mlen", [(1, 0), (4, 0), (3, 5), (5, 2), (6, 6)])
def test_rel_shift_moves_each_row_to_its_distances(qlen, mlen):
  klen = qlen + mlen
  scores = _rng().normal(size=(2, 3, qlen, klen)).astype(np.float32)
  shifted = np.asarray(jax.jit(rel.rel_shift)(jnp.asarray(scores)))
  for i in range(qlen):
    for j in range(mlen + i + 1):  # the unmasked region
      np.testing.assert_array_equal(shifted[..., i, j], scores[..., i, j + qlen - 1 - i])


@pytest.mark.parametrize("qlen,mlen", [(1, 0), (4, 0), (3, 5), (6, 6)])
def test_rel_shift_with_a_spare_column_equals_the_padded_shift(qlen, mlen):
  """A spare last column (what a spare position row produces) replaces the zero pad."""
  klen = qlen + mlen
  scores = _rng(3).normal(size=(2, 3, qlen, klen + 1)).astype(np.float32)
  shifted = np.asarray(jax.jit(rel.rel_shift, static_argnums=1)(jnp.asarray(scores), klen))
  padded = np.asarray(rel.rel_shift(jnp.asarray(scores[..., :klen])))
  allowed = np.asarray(rel.causal_mask(qlen, mlen))
  np.testing.assert_array_equal(shifted[..., allowed], padded[..., allowed])
  with pytest.raises(ValueError, match="klen=3"):
    rel.rel_shift(jnp.zeros((2, 7)), 3)


@pytest.mark.parametrize("qlen,mlen", [(4, 0), (3, 5), (6, 2)])
def test_relative_scores_equal_naive_four_term_loop(qlen, mlen):
  """A_{ij} = q_i k_j + q_i r_{i-j} + u k_j + v r_{i-j}, built one (i, j) at a time."""
  batch, heads, head_dim = 2, 3, 4
  klen = qlen + mlen
  rng = _rng(1)
  queries = rng.normal(size=(batch, qlen, heads, head_dim)).astype(np.float32)
  keys = rng.normal(size=(batch, klen, heads, head_dim)).astype(np.float32)
  # r_by_distance[d] is the projected encoding of distance d.
  r_by_distance = rng.normal(size=(klen, heads, head_dim)).astype(np.float32)
  u = rng.normal(size=(heads, head_dim)).astype(np.float32)
  v = rng.normal(size=(heads, head_dim)).astype(np.float32)
  position_keys = r_by_distance[::-1]  # rows for distances klen-1 .. 0
  scores = np.asarray(rel.relative_scores(queries.transpose(0, 2, 1, 3), keys.transpose(0, 2, 1, 3),
                                          position_keys.transpose(1, 0, 2), u, v))
  for i in range(qlen):
    for j in range(mlen + i + 1):
      distance = mlen + i - j
      r = r_by_distance[distance]
      naive = (np.einsum("bhd,bhd->bh", queries[:, i], keys[:, j])        # (a)
               + np.einsum("bhd,hd->bh", queries[:, i], r)                # (b)
               + np.einsum("hd,bhd->bh", u, keys[:, j])                   # (c)
               + np.einsum("hd,hd->h", v, r)[None])                       # (d)
      np.testing.assert_allclose(scores[:, :, i, j], naive, rtol=1e-5, atol=1e-5)
  # A spare row for distance -1 and a scale give the same unmasked scores, scaled.
  spare = rng.normal(size=(heads, 1, head_dim)).astype(np.float32)
  with_spare = np.asarray(rel.relative_scores(
      queries.transpose(0, 2, 1, 3), keys.transpose(0, 2, 1, 3),
      np.concatenate([position_keys.transpose(1, 0, 2), spare], 1), u, v, scale=0.5))
  allowed = np.asarray(rel.causal_mask(qlen, mlen))
  np.testing.assert_allclose(with_spare[..., allowed], 0.5 * scores[..., allowed], rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("mlen", [0, 5])
def test_attend_over_key_blocks_equals_attend_over_their_concatenation(mlen):
  batch, qlen, heads, head_dim = 2, 3, 2, 4
  klen = mlen + qlen
  rng = _rng(4)
  queries, keys, values = (jnp.asarray(rng.normal(size=(batch, heads, n, head_dim)), jnp.float32)
                           for n in (qlen, klen, klen))
  position_keys = jnp.asarray(rng.normal(size=(heads, klen + 1, head_dim)), jnp.float32)
  valid = np.ones((batch, mlen), bool)
  valid[1, :2] = False
  mask = np.asarray(rel.causal_mask(qlen, mlen))[None] & np.concatenate(
      [valid, np.ones((batch, qlen), bool)], 1)[:, None]
  module = rel.RelativeAttention(num_heads=heads, head_dim=head_dim)
  params = module.init(jax.random.PRNGKey(0), jnp.zeros((batch, qlen, 8)),
                       jnp.zeros((batch, mlen, 8)), jnp.zeros((klen, 8)), mask)
  for bias in ("content_bias", "position_bias"):  # non-zero, so terms (c) and (d) count
    params["params"][bias] = jnp.asarray(rng.normal(size=(heads, head_dim)), jnp.float32)
  attend = jax.jit(lambda *a: module.apply(params, *a, method=module.attend))
  whole, whole_probabilities = attend(queries, keys, values, position_keys, mask)
  split = lambda x: (x[:, :, :mlen], x[:, :, mlen:])  # noqa: E731
  blocks, block_probabilities = attend(queries, split(keys), split(values), position_keys, mask)
  np.testing.assert_allclose(np.asarray(blocks), np.asarray(whole), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(block_probabilities), np.asarray(whole_probabilities),
                             rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="2 key blocks but 1 value"):
    module.apply(params, queries, split(keys), (values,), position_keys, mask,
                 method=module.attend)


@pytest.mark.parametrize("spare_row", [False, True])
def test_attention_module_equals_numpy_loop_reference(spare_row):
  batch, qlen, mlen, d_model, heads = 2, 4, 3, 8, 2
  head_dim = d_model // heads
  klen = qlen + mlen
  rng = _rng(2)
  inputs = rng.normal(size=(batch, qlen, d_model)).astype(np.float32)
  memory = rng.normal(size=(batch, mlen, d_model)).astype(np.float32)
  memory_valid = np.array([[True] * mlen, [False, True, True]])
  module = rel.RelativeAttention(num_heads=heads, head_dim=head_dim)
  encodings = rel.sinusoid_encoding(rel.relative_distances(klen, spare_row=spare_row), d_model)
  causal = rel.causal_mask(qlen, mlen)
  keys_valid = np.concatenate([memory_valid, np.ones((batch, qlen), bool)], 1)
  mask = np.asarray(causal)[None] & keys_valid[:, None]
  params = module.init(jax.random.PRNGKey(0), inputs, memory, encodings, mask)
  # Non-zero biases so that terms (c) and (d) are exercised.
  params = jax.tree_util.tree_map(lambda x: x, params)
  params["params"]["content_bias"] = jnp.asarray(rng.normal(size=(heads, head_dim)), jnp.float32)
  params["params"]["position_bias"] = jnp.asarray(rng.normal(size=(heads, head_dim)), jnp.float32)
  out, probabilities = jax.jit(module.apply)(params, inputs, memory, encodings, mask)

  p = jax.tree_util.tree_map(np.asarray, params["params"])
  extended = np.concatenate([memory, inputs], 1)
  q = (inputs @ p["query"]["kernel"]).reshape(batch, qlen, heads, head_dim)
  k = (extended @ p["key"]["kernel"]).reshape(batch, klen, heads, head_dim)
  vv = (extended @ p["value"]["kernel"]).reshape(batch, klen, heads, head_dim)
  expected = np.zeros((batch, qlen, heads, head_dim), np.float32)
  for b in range(batch):
    for h in range(heads):
      for i in range(qlen):
        logits = []
        for j in range(klen):
          if j > mlen + i or not keys_valid[b, j]:
            logits.append(-np.inf)
            continue
          r = (_np_sinusoid(mlen + i - j, d_model) @ p["position"]["kernel"]).reshape(
              heads, head_dim)[h]
          logits.append(((q[b, i, h] + p["content_bias"][h]) @ k[b, j, h]
                         + (q[b, i, h] + p["position_bias"][h]) @ r) / math.sqrt(head_dim))
        logits = np.array(logits)
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        np.testing.assert_allclose(np.asarray(probabilities)[b, h, i], weights, atol=1e-5)
        expected[b, i, h] = weights @ vv[b, :, h]
  np.testing.assert_allclose(np.asarray(out), expected.reshape(batch, qlen, -1), rtol=1e-4,
                             atol=1e-5)


def test_sinusoid_and_clamp_len():
  distances = rel.relative_distances(6, clamp_len=3)
  np.testing.assert_array_equal(np.asarray(distances), [3, 3, 3, 2, 1, 0])
  np.testing.assert_array_equal(np.asarray(rel.relative_distances(4)), [3, 2, 1, 0])
  np.testing.assert_array_equal(np.asarray(rel.relative_distances(3, spare_row=True)),
                                [2, 1, 0, -1])
  encodings = np.asarray(rel.sinusoid_encoding(distances, 8))
  for row, distance in enumerate([3, 3, 3, 2, 1, 0]):
    np.testing.assert_allclose(encodings[row], _np_sinusoid(distance, 8), atol=1e-6)
  with pytest.raises(ValueError, match="model.d_model"):
    rel.sinusoid_encoding(distances, 7)


def test_causal_and_same_length_masks():
  np.testing.assert_array_equal(np.asarray(rel.causal_mask(3, 2)),
                                [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
  # same_length: every query sees mem_len keys ending at itself (the released code's rule).
  same = np.asarray(rel.causal_mask(3, 2, same_length=True, mem_len=2))
  np.testing.assert_array_equal(same, [[0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]])
  assert (same.sum(1) == 2).all()
  with pytest.raises(ValueError, match="model.same_length"):
    rel.causal_mask(3, 0, same_length=True, mem_len=0)


def test_masked_softmax_ignores_masked_entries():
  scores = jnp.array([[1.0, 2.0, 100.0]])
  probabilities = rel.masked_softmax(scores, jnp.array([[True, True, False]]))
  expected = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
  np.testing.assert_allclose(np.asarray(probabilities)[0], list(expected) + [0.0], atol=1e-7)
