"""Transformer-XL: equality with a plain relative-position Transformer, memory contents,
stop-gradient, resets, dropout, the cached-projection path, KV-cache decoding and sampling
(the family's tests are in test_language_model.py)."""
import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.cores import dynamic_unroll, init_core, static_unroll
from memjax.transformer import TransformerXL, XLMemory, XLState, fast_eval, vanilla_transformer

VOCAB, D_MODEL, LAYERS, HEADS, D_FF = 11, 16, 2, 2, 24


def _model(mem_len, **fields):
  return TransformerXL(vocab_size=VOCAB, d_model=D_MODEL, num_layers=LAYERS, num_heads=HEADS,
                       d_ff=D_FF, mem_len=mem_len, **fields)


@functools.lru_cache(maxsize=None)
def _params():
  """Shared parameters (they do not depend on mem_len), biases made non-zero."""
  variables = init_core(_model(0), jax.random.PRNGKey(0), (2, 4))
  params = variables["params"]
  rng = np.random.default_rng(0)
  for n in range(LAYERS):
    attention = params[f"layer_{n}"]["attention"]
    for name in ("content_bias", "position_bias"):
      attention[name] = jnp.asarray(0.5 * rng.normal(size=attention[name].shape), jnp.float32)
  # Larger weights than N(0, 0.02) so that attention is far from uniform.
  params = jax.tree_util.tree_map(lambda x: x * 10.0 if x.ndim == 2 and x.shape != (
      HEADS, D_MODEL // HEADS) else x, params)
  return {"params": params}


def _tokens(batch, length, seed=1):
  return jax.random.randint(jax.random.PRNGKey(seed), (batch, length), 0, VOCAB)


def _layer_norm(x, scale, bias):
  mean = x.mean(-1, keepdims=True)
  variance = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(variance + 1e-6) * scale + bias


def _np_sinusoid(distance, d_model):
  inverse_frequency = 1.0 / (10000.0 ** (np.arange(0, d_model, 2) / d_model))
  return np.concatenate([np.sin(distance * inverse_frequency), np.cos(distance * inverse_frequency)])


def _numpy_causal_relative_transformer(params, tokens):
  """A plain causal Transformer with relative positions, attention built pair by pair."""
  p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), params["params"])
  tokens = np.asarray(tokens)
  batch, length = tokens.shape
  head_dim = D_MODEL // HEADS
  hidden = p["embedding"]["embedding"][tokens] * math.sqrt(D_MODEL)
  for n in range(LAYERS):
    layer = p[f"layer_{n}"]
    attention = layer["attention"]
    split = lambda x: x.reshape(batch, length, HEADS, head_dim)
    q = split(hidden @ attention["query"]["kernel"])
    k = split(hidden @ attention["key"]["kernel"])
    v = split(hidden @ attention["value"]["kernel"])
    attended = np.zeros_like(q)
    for i in range(length):
      scores = np.zeros((batch, HEADS, i + 1))
      for j in range(i + 1):
        r = (_np_sinusoid(i - j, D_MODEL) @ attention["position"]["kernel"]).reshape(HEADS,
                                                                                     head_dim)
        scores[:, :, j] = (np.einsum("bhd,bhd->bh", q[:, i] + attention["content_bias"], k[:, j])
                           + np.einsum("bhd,hd->bh", q[:, i] + attention["position_bias"], r))
      scores /= math.sqrt(head_dim)
      weights = np.exp(scores - scores.max(-1, keepdims=True))
      weights /= weights.sum(-1, keepdims=True)
      attended[:, i] = np.einsum("bhj,bjhd->bhd", weights, v[:, :i + 1])
    attended = attended.reshape(batch, length, -1)
    hidden = _layer_norm(hidden + attended @ layer["attention_output"]["kernel"],
                         layer["attention_norm"]["scale"], layer["attention_norm"]["bias"])
    ff = np.maximum(hidden @ layer["ff_hidden"]["kernel"] + layer["ff_hidden"]["bias"], 0.0)
    hidden = _layer_norm(hidden + ff @ layer["ff_output"]["kernel"] + layer["ff_output"]["bias"],
                         layer["ff_norm"]["scale"], layer["ff_norm"]["bias"])
  return hidden @ p["readout"]["kernel"] + p["readout"]["bias"]


def _run_segments(model, params, tokens, seg_len):
  carry = model.initialize_carry(None, (tokens.shape[0], seg_len))
  segments = tokens.reshape(tokens.shape[0], -1, seg_len)
  step_fn = functools.partial(model.apply, params)
  logits, carry = jax.jit(lambda s, c: dynamic_unroll(step_fn, s, c))(segments, carry)
  return logits.reshape(tokens.shape + (VOCAB,)), carry


def test_mem_len_zero_equals_plain_causal_relative_transformer():
  tokens = _tokens(2, 6)
  model = vanilla_transformer(VOCAB, d_model=D_MODEL, num_layers=LAYERS, num_heads=HEADS,
                              d_ff=D_FF)
  carry = model.initialize_carry(None, tokens.shape)
  _, logits = jax.jit(model.apply)(_params(), carry, tokens)
  expected = _numpy_causal_relative_transformer(_params(), tokens)
  np.testing.assert_allclose(np.asarray(logits), expected, rtol=2e-4, atol=2e-4)


def test_segments_with_full_memory_equal_one_pass_over_the_sequence():
  """With mem_len >= the history, XL segment by segment is exactly the long causal model."""
  tokens = _tokens(2, 12)
  logits, _ = _run_segments(_model(mem_len=8), _params(), tokens, seg_len=4)
  expected = _numpy_causal_relative_transformer(_params(), tokens)
  np.testing.assert_allclose(np.asarray(logits), expected, rtol=2e-4, atol=2e-4)


def test_memory_after_k_segments_holds_the_last_mem_len_layer_inputs():
  seg_len, mem_len, k = 4, 6, 3
  model = _model(mem_len)
  tokens = _tokens(2, seg_len * k)
  carry = model.initialize_carry(None, (2, seg_len))
  layer_inputs = []
  for s in range(k):
    (carry, _), intermediates = model.apply(_params(), carry,
                                            tokens[:, s * seg_len:(s + 1) * seg_len],
                                            mutable=["intermediates"])
    layer_inputs.append(intermediates["intermediates"]["layer_inputs"][0])
  history = np.concatenate(layer_inputs, axis=2)  # [batch, layers, k * seg_len, d_model]
  np.testing.assert_array_equal(np.asarray(carry.memory.hidden), history[:, :, -mem_len:])
  assert np.asarray(carry.memory.valid).all()
  # The first layer's memory is the embedding of the last mem_len tokens.
  embedding = np.asarray(_params()["params"]["embedding"]["embedding"])
  np.testing.assert_allclose(np.asarray(carry.memory.hidden[:, 0]),
                             embedding[np.asarray(tokens[:, -mem_len:])] * math.sqrt(D_MODEL),
                             rtol=1e-6)


def test_memory_is_partially_valid_before_it_fills():
  model = _model(mem_len=6)
  carry = model.initialize_carry(None, (2, 4))
  carry, _ = model.apply(_params(), carry, _tokens(2, 4))
  np.testing.assert_array_equal(np.asarray(carry.memory.valid), [[0, 0, 1, 1, 1, 1]] * 2)


def test_no_gradient_flows_into_memory():
  model = _model(mem_len=4)
  params = _params()
  tokens = _tokens(2, 8)

  def second_segment_loss(first_params, second_params, memory_hidden):
    carry = model.initialize_carry(None, (2, 4))
    carry, _ = model.apply(first_params, carry, tokens[:, :4])
    carry = XLState(XLMemory(carry.memory.hidden + memory_hidden, carry.memory.valid))
    _, logits = model.apply(second_params, carry, tokens[:, 4:])
    return jnp.sum(logits ** 2)

  zero_memory = jnp.zeros((2, LAYERS, 4, D_MODEL))
  grad_first, grad_second, grad_memory = jax.jit(jax.grad(second_segment_loss,
                                                         argnums=(0, 1, 2)))(
      params, params, zero_memory)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grad_first))
  assert float(jnp.abs(grad_memory).max()) == 0.0
  assert float(optax_norm(grad_second)) > 0.0


def optax_norm(tree):
  return jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree_util.tree_leaves(tree)))


def test_reset_empties_memory():
  model = _model(mem_len=4)
  tokens = _tokens(2, 8)
  carry = model.initialize_carry(None, (2, 4))
  carry, _ = model.apply(_params(), carry, tokens[:, :4])
  _, with_reset = model.apply(_params(), carry, tokens[:, 4:], jnp.array([True, False]))
  _, fresh = model.apply(_params(), model.initialize_carry(None, (2, 4)), tokens[:, 4:])
  _, kept = model.apply(_params(), carry, tokens[:, 4:])
  np.testing.assert_allclose(np.asarray(with_reset[0]), np.asarray(fresh[0]), atol=1e-5)
  np.testing.assert_array_equal(np.asarray(with_reset[1]), np.asarray(kept[1]))
  assert not np.allclose(np.asarray(kept[0]), np.asarray(fresh[0]), atol=1e-3)


def test_dynamic_unroll_matches_static_unroll_and_no_jit():
  model = _model(mem_len=4)
  tokens = _tokens(2, 12).reshape(2, 3, 4)
  carry = model.initialize_carry(None, (2, 4))
  step_fn = functools.partial(model.apply, _params())
  jitted, _ = jax.jit(lambda t, c: dynamic_unroll(step_fn, t, c))(tokens, carry)
  python, _ = static_unroll(step_fn, tokens, carry)
  np.testing.assert_allclose(np.asarray(jitted), np.asarray(python), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fields", [{}, {"clamp_len": 3}, {"same_length": True}])
def test_cached_projection_path_equals_hidden_state_path(fields):
  seg_len, mem_len = 4, 6
  model = _model(mem_len, **fields)
  params = _params()
  tokens = _tokens(2, 16)
  resets = np.zeros((4, 2), bool)
  resets[2, 1] = True  # a new document in example 1 at segment 2
  carry = model.initialize_carry(None, (2, seg_len))
  cache = fast_eval.empty_cached_memory(model, 2)
  position_keys = model.apply(params, mem_len + seg_len, method=fast_eval.position_keys)
  step = jax.jit(functools.partial(model.apply, params))
  cached = jax.jit(functools.partial(model.apply, params, method=fast_eval.cached_step))
  for s in range(4):
    segment = tokens[:, s * seg_len:(s + 1) * seg_len]
    carry, logits = step(carry, segment, jnp.asarray(resets[s]))
    cache, fast_logits = cached(cache, segment, position_keys, jnp.asarray(resets[s]))
    np.testing.assert_allclose(np.asarray(fast_logits), np.asarray(logits), rtol=1e-4, atol=1e-4)
  projected = model.apply(params, carry, method=fast_eval.project_memory)
  np.testing.assert_allclose(np.asarray(cache.keys), np.asarray(projected.keys), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_array_equal(np.asarray(cache.valid), np.asarray(carry.memory.valid))


def test_kv_cache_decoding_token_by_token_equals_full_pass():
  length = 7
  tokens = _tokens(2, length)
  model = _model(mem_len=length)
  params = _params()
  cache = fast_eval.empty_cached_memory(model, 2)
  position_keys = model.apply(params, length + 1, method=fast_eval.position_keys)
  cached = jax.jit(functools.partial(model.apply, params, method=fast_eval.cached_step))
  outputs = []
  for t in range(length):
    cache, logits = cached(cache, tokens[:, t:t + 1], position_keys)
    outputs.append(logits[:, 0])
  expected = _numpy_causal_relative_transformer(params, tokens)
  np.testing.assert_allclose(np.stack([np.asarray(o) for o in outputs], 1), expected, rtol=2e-4,
                             atol=2e-4)


def test_sliding_window_vanilla_predicts_the_last_token():
  tokens = _tokens(2, 5)
  model = _model(0)
  last = model.apply(_params(), tokens, method=fast_eval.sliding_window_logits)
  expected = _numpy_causal_relative_transformer(_params(), tokens)[:, -1]
  np.testing.assert_allclose(np.asarray(last), expected, rtol=2e-4, atol=2e-4)
  with pytest.raises(ValueError, match="model.mem_len"):
    _model(4).apply(_params(), tokens, method=fast_eval.sliding_window_logits)


@pytest.mark.parametrize("length,query_chunk,fields", [
    (9, 4, {}), pytest.param(9, 3, {}, marks=pytest.mark.slow),
    pytest.param(9, 1, {}, marks=pytest.mark.slow), (9, 16, {}), (12, 5, {"clamp_len": 3})])
def test_chunked_sliding_window_equals_one_full_pass(length, query_chunk, fields):
  """Query chunks (ragged first chunk, chunk 1, chunk > window) change nothing."""
  tokens = _tokens(2, length, seed=3)
  model = _model(0, **fields)
  chunked = jax.jit(functools.partial(model.apply, _params(), query_chunk=query_chunk,
                                      method=fast_eval.sliding_window_logits))(tokens)
  _, full = model.apply(_params(), model.initialize_carry(None, (2, length)), tokens)
  np.testing.assert_allclose(np.asarray(chunked), np.asarray(full[:, -1]), rtol=1e-5, atol=1e-5)


def test_clamp_len_zero_is_refused_naming_the_key_and_the_no_clamp_value():
  """The released code's 0 means no clamp; here it would clamp every distance to 0."""
  model = _model(4, clamp_len=0)
  with pytest.raises(ValueError, match=r"model.clamp_len=0 .* set -1"):
    model.init(jax.random.PRNGKey(0), model.initialize_carry(None, (1, 2)), _tokens(1, 2))
  for clamp_len in (-1, None, 3):  # no clamp, no clamp, clamp at 3: all accepted
    model = _model(4, clamp_len=clamp_len)
    model.init(jax.random.PRNGKey(0), model.initialize_carry(None, (1, 2)), _tokens(1, 2))


def test_longer_evaluation_memory_uses_the_same_parameters():
  tokens = _tokens(2, 12)
  short, _ = _run_segments(_model(mem_len=4), _params(), tokens, seg_len=4)
  long, carry = _run_segments(_model(mem_len=4).clone(mem_len=8), _params(), tokens, seg_len=4)
  assert carry.memory.hidden.shape == (2, LAYERS, 8, D_MODEL)
  np.testing.assert_allclose(np.asarray(short[:, :8]), np.asarray(long[:, :8]), atol=1e-5)
  assert not np.allclose(np.asarray(short[:, 8:]), np.asarray(long[:, 8:]), atol=1e-3)


def test_dropout_acts_only_in_training_mode_and_scales_the_kept_units():
  """deterministic=True (evaluation) equals the dropout-free model; training mode drops h^0 at rate p."""
  tokens, rate = _tokens(4, 8), 0.3
  carry = _model(4).initialize_carry(None, tokens.shape)
  plain = jax.jit(_model(4).apply)(_params(), carry, tokens)[1]
  evaluation = jax.jit(_model(4, dropout=rate).apply)(_params(), carry, tokens)[1]
  np.testing.assert_array_equal(plain, evaluation)

  training = _model(4, dropout=rate, deterministic=False)

  @jax.jit
  def run_with_key(key):
    (_, logits), variables = training.apply(_params(), carry, tokens, rngs={"dropout": key},
                                            mutable=["intermediates"])
    return logits, variables["intermediates"]["layer_inputs"][0][:, 0]  # h^0 after dropout

  def run(seed):
    return run_with_key(jax.random.PRNGKey(seed))

  logits_a, embedded_a = run(0)
  logits_a_again, _ = run(0)
  logits_b, _ = run(1)
  np.testing.assert_array_equal(logits_a, logits_a_again)
  assert not np.allclose(logits_a, logits_b) and not np.allclose(logits_a, plain)
  embedded = np.asarray(_model(4).apply(_params(), tokens, method=TransformerXL.embed))
  kept = np.asarray(embedded_a) != 0
  assert abs(1.0 - kept.mean() - rate) < 0.08, kept.mean()
  np.testing.assert_allclose(np.asarray(embedded_a)[kept], embedded[kept] / (1 - rate), rtol=1e-5)


def test_greedy_generation_picks_the_full_pass_argmax_at_every_step():
  """Temperature 0 with a cache longer than the text: each token is the argmax of a full causal pass."""
  prompt, steps = _tokens(2, 3), 6
  model = _model(mem_len=16)
  generated = jax.jit(functools.partial(fast_eval.generate, model, num_tokens=steps,
                                        temperature=0.0))(_params(), prompt, jax.random.PRNGKey(0))
  chex.assert_shape(generated, (2, steps))
  chex.assert_type(generated, prompt.dtype)
  sequence = jnp.concatenate([prompt, generated], axis=1)
  expected = _numpy_causal_relative_transformer(_params(), sequence)  # [2, 9, vocab]
  for k in range(steps):
    step_logits = expected[:, prompt.shape[1] - 1 + k]
    chosen = step_logits[np.arange(2), np.asarray(generated[:, k])]
    # Equal to the maximum (up to float error, so a near-tie may pick either).
    np.testing.assert_allclose(chosen, step_logits.max(-1), rtol=1e-4, atol=1e-4)


def test_sampling_is_a_function_of_the_key_and_bad_input_is_named():
  prompt = _tokens(2, 3)
  model = _model(mem_len=16)
  sampler = jax.jit(functools.partial(fast_eval.generate, model, num_tokens=6, temperature=1.0))
  sample = lambda seed: np.asarray(sampler(_params(), prompt, jax.random.PRNGKey(seed)))
  np.testing.assert_array_equal(sample(0), sample(0))
  assert (sample(0) != sample(1)).any()
  with pytest.raises(ValueError, match="temperature must be >= 0"):
    fast_eval.generate(model, _params(), prompt, jax.random.PRNGKey(0), 2, temperature=-1.0)
  with pytest.raises(ValueError, match=r"prompt must be \[batch, P\]"):
    fast_eval.generate(model, _params(), prompt[0], jax.random.PRNGKey(0), 2)
