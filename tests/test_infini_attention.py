"""Infini-attention (memjax/transformer/infini_attention.py): retrieval, both update rules and
the gated mix against float64 numpy, constant memory, resets, jit/vmap, sampling, a tiny run."""
import functools
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.cores import dynamic_unroll
from memjax.models.language_models import SegmentLM
from memjax.transformer import InfiniTransformer, infini_attention as infini
from memjax.transformer import relative_attention as rel
from tests.family_configs import tiny_config, write_data

BATCH, QLEN, HEADS, D_HEAD, D_MODEL, VOCAB = 2, 5, 2, 4, 8, 11


def _random(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape)


def _sigma(x):
  return np.where(x > 0, x + 1.0, np.exp(x))


def _f32(x):
  return jnp.asarray(x, jnp.float32)


def _reference_segment(memory, normaliser, queries, keys, values, rule):
  """Eqs. 3-5 in float64: (A_mem, M_s, z_s); arrays `[heads, ...]`."""
  sq, sk = _sigma(queries), _sigma(keys)
  retrieved = (sq @ memory) / ((sq @ normaliser[..., None]) + infini._EPSILON)
  if rule == "linear":
    written = values
  else:
    written = values - (sk @ memory) / ((sk @ normaliser[..., None]) + infini._EPSILON)
  return (retrieved, memory + np.swapaxes(sk, -1, -2) @ written, normaliser + sk.sum(-2))


@pytest.mark.parametrize("rule", infini.UPDATE_RULES)
def test_retrieval_and_updates_against_numpy_over_segments(rule):
  update = infini.delta_update if rule == "delta" else infini.linear_update
  memory, normaliser = np.zeros((HEADS, D_HEAD, D_HEAD)), np.zeros((HEADS, D_HEAD))
  got_memory, got_normaliser = _f32(memory), _f32(normaliser)
  for segment in range(3):
    queries, keys, values = (_random(10 * segment + n, HEADS, QLEN, D_HEAD) for n in range(3))
    retrieved, memory, normaliser = _reference_segment(memory, normaliser, queries, keys, values,
                                                       rule)
    got = jax.jit(infini.retrieve)(got_memory, got_normaliser, _f32(_sigma(queries)))
    got_memory, got_normaliser = jax.jit(update)(got_memory, got_normaliser, _f32(_sigma(keys)),
                                                 _f32(values))
    np.testing.assert_allclose(np.asarray(got), retrieved, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_memory), memory, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(got_normaliser), normaliser, rtol=1e-5)
    if segment == 0:
      np.testing.assert_array_equal(np.asarray(got), 0.0)  # an empty memory reads 0


def test_delta_rule_does_not_grow_a_stored_binding():
  """Writing the same (key, value) twice: the delta rule adds nothing the second time."""
  keys, values = _f32(_sigma(_random(0, 1, D_HEAD))), _f32(_random(1, 1, D_HEAD))
  memory, normaliser = jnp.zeros((D_HEAD, D_HEAD)), jnp.zeros((D_HEAD,))
  once, normaliser_once = infini.delta_update(memory, normaliser, keys, values)
  twice, _ = infini.delta_update(once, normaliser_once, keys, values)
  linear_twice, _ = infini.linear_update(*infini.linear_update(memory, normaliser, keys, values),
                                         keys, values)
  # After one write the memory returns v times sk.sk / sk.z = v exactly, so the delta is 0.
  np.testing.assert_allclose(np.asarray(twice), np.asarray(once), atol=1e-5)
  assert not np.allclose(np.asarray(linear_twice), np.asarray(once))


def _layer_and_variables(rule):
  layer = infini.InfiniLayer(D_MODEL, HEADS, D_HEAD, 16, update_rule=rule)
  inputs = _f32(_random(0, BATCH, QLEN, D_MODEL))
  memory = _f32(np.abs(_random(1, BATCH, HEADS, D_HEAD, D_HEAD)))
  normaliser = _f32(np.abs(_random(2, BATCH, HEADS, D_HEAD)) + 1.0)
  encodings = rel.sinusoid_encoding(rel.relative_distances(QLEN, spare_row=True), D_MODEL)
  mask = jnp.broadcast_to(rel.causal_mask(QLEN, 0), (BATCH, QLEN, QLEN))
  variables = layer.init(jax.random.PRNGKey(0), inputs, memory, normaliser, encodings, mask)
  params = jax.tree_util.tree_map(np.asarray, variables["params"])
  # No position terms (W_{k,R} = u = v = 0): the local attention is plain causal softmax.
  attention = params["attention"]
  attention["position"]["kernel"] = np.zeros_like(attention["position"]["kernel"])
  attention["content_bias"] = np.zeros_like(attention["content_bias"])
  attention["position_bias"] = np.zeros_like(attention["position_bias"])
  params["memory_gate"] = np.array([0.7, -1.3], np.float32)
  return layer, {"params": params}, (inputs, memory, normaliser, encodings, mask)


@pytest.mark.parametrize("rule", infini.UPDATE_RULES)
def test_gated_mix_of_local_attention_and_memory_against_numpy(rule):
  """A = sigmoid(beta) A_mem + (1 - sigmoid(beta)) A_dot (eq. 6), per head, in float64."""
  layer, variables, args = _layer_and_variables(rule)
  mixed, memory, normaliser = jax.jit(functools.partial(
      layer.apply, variables, method=infini.InfiniLayer.attend_with_memory))(*args)
  params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), variables["params"])
  inputs, old_memory, old_normaliser = (np.asarray(a, np.float64) for a in args[:3])
  heads = lambda x: x.reshape(BATCH, QLEN, HEADS, D_HEAD).transpose(0, 2, 1, 3)
  q, k, v = (heads(inputs @ params["attention"][name]["kernel"])
             for name in ("query", "key", "value"))
  scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(D_HEAD)
  scores = np.where(np.tril(np.ones((QLEN, QLEN), bool)), scores, -np.inf)
  weights = np.exp(scores - scores.max(-1, keepdims=True))
  local = (weights / weights.sum(-1, keepdims=True)) @ v
  retrieved, new_memory, new_normaliser = _reference_segment(old_memory, old_normaliser, q, k, v,
                                                             rule)
  gate = 1.0 / (1.0 + np.exp(-params["memory_gate"]))[:, None, None]
  reference = (gate * retrieved + (1 - gate) * local).transpose(0, 2, 1, 3).reshape(
      BATCH, QLEN, HEADS * D_HEAD)
  np.testing.assert_allclose(np.asarray(mixed), reference, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(memory), new_memory, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(np.asarray(normaliser), new_normaliser, rtol=1e-5)


def _model(rule="delta"):
  return InfiniTransformer(vocab_size=VOCAB, d_model=D_MODEL, num_layers=2, num_heads=HEADS,
                           d_ff=16, update_rule=rule)


def _run(model, variables, segments, carry):
  return dynamic_unroll(functools.partial(model.apply, variables), segments, carry)


@pytest.mark.parametrize("rule", infini.UPDATE_RULES)
def test_model_constant_memory_resets_jit_and_vmap(rule):
  model = _model(rule)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (BATCH, 3, QLEN), 0, VOCAB)
  carry = model.initialize_carry(None, (BATCH, QLEN))
  variables = model.init(jax.random.PRNGKey(0), carry, tokens[:, 0])
  logits, final = _run(model, variables, tokens, carry)
  chex.assert_shape(logits, (BATCH, 3, QLEN, VOCAB))
  chex.assert_type(logits, jnp.float32)
  chex.assert_shape(final.memory, (BATCH, 2, HEADS, D_HEAD, D_HEAD))
  chex.assert_shape(final.normaliser, (BATCH, 2, HEADS, D_HEAD))
  chex.assert_trees_all_equal_shapes_and_dtypes(final, carry)  # whatever the context length
  jitted = jax.jit(functools.partial(_run, model))(variables, tokens, carry)
  chex.assert_trees_all_close(jitted, (logits, final), rtol=1e-5, atol=1e-5)
  mapped, _ = jax.vmap(functools.partial(_run, model, variables), in_axes=(0, None))(
      jnp.stack([tokens, tokens[::-1]]), carry)
  chex.assert_trees_all_close(mapped[1], _run(model, variables, tokens[::-1], carry)[0],
                              rtol=1e-5, atol=1e-5)
  # The memory reaches later segments, and a reset row starts as a fresh document.
  _, fresh_logits = model.apply(variables, carry, tokens[:, 2])
  _, reset_logits = model.apply(variables, final, tokens[:, 2], jnp.array([True, False]))
  np.testing.assert_allclose(np.asarray(reset_logits[0]), np.asarray(fresh_logits[0]), atol=1e-6)
  assert np.abs(np.asarray(reset_logits[1]) - np.asarray(fresh_logits[1])).max() > 1e-6


@pytest.mark.slow  # 21 s of the default suite's 10-minute budget
def test_greedy_samples_are_the_models_argmax_over_segments():
  """SegmentLM.generate for a model without a cache: each greedy token is the argmax of the
  model run over the text in segments of `context + 1` tokens."""
  seg_len, prompt_length, num_tokens = 4, 6, 7
  config = ml_collections.ConfigDict(dict(name="infini_attention", d_model=D_MODEL,
                                          num_layers=1, num_heads=HEADS, d_ff=16))
  lm = SegmentLM.from_config(config, VOCAB)
  params = lm.init(jax.random.PRNGKey(0), 1, seg_len)
  prompt = jax.random.randint(jax.random.PRNGKey(3), (1, prompt_length), 0, VOCAB)
  tokens = lm.generate(params, prompt, jax.random.PRNGKey(0), num_tokens, 0.0, seg_len - 1)
  text = jnp.concatenate([prompt, tokens], axis=1)
  length = (text.shape[1] + seg_len - 1) // seg_len * seg_len
  padded = jnp.pad(text, ((0, 0), (0, length - text.shape[1])))
  logits, _ = _run(lm.eval_model, {"params": params}, padded.reshape(1, -1, seg_len),
                   lm.eval_model.initialize_carry(None, (1, seg_len)))
  expected = jnp.argmax(logits.reshape(1, length, VOCAB), -1)[:, prompt_length - 1:-1]
  np.testing.assert_array_equal(np.asarray(tokens), np.asarray(expected[:, :num_tokens]))


# A longer training (`python -m pytest -m slow`); the numpy and gradient tests run by default.
@pytest.mark.slow
def test_tiny_char_lm_through_the_loop_learns(tmp_path):
  from memjax.training import loop
  config = tiny_config("char_lm", write_data(tmp_path / "data"))
  config.model = ml_collections.ConfigDict(dict(name="infini_attention", d_model=16,
                                                num_layers=1, num_heads=2, d_ff=32))
  config.eval.update(mem_len=-1, compare_mem_lens=(), sample_length=4)
  config.train.update(num_steps=24, eval_every=1, log_every=24, checkpoint_every=0,
                      learning_rate=1e-2)
  results = loop.train_and_evaluate(config, str(pathlib.Path(tmp_path) / "run"))
  first, last = results["history"][0], results["final"]
  assert last["bits_per_character"] < first["bits_per_character"] - 0.5, results["history"]
  assert len(last["sample"]["continuation"]) == 4
