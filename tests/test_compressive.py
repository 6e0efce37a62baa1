"""Compressive Transformer: compression functions, compressed memory contents and the
reconstruction loss's gradient reaching only the compressors."""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.cores import init_core
from memjax.transformer import CompressiveTransformer, TransformerXL, compression, fast_eval

VOCAB, D_MODEL, LAYERS = 13, 16, 2


def _model(function="conv", mem_len=4, compressed_mem_len=4, rate=2):
  return CompressiveTransformer(vocab_size=VOCAB, d_model=D_MODEL, num_layers=LAYERS, num_heads=2,
                                d_ff=24, mem_len=mem_len, compressed_mem_len=compressed_mem_len,
                                compression_rate=rate, compression_function=function)


def _params(model):
  return {"params": init_core(model, jax.random.PRNGKey(0), (2, 4))["params"]}


def _tokens(length, seed=1):
  return jax.random.randint(jax.random.PRNGKey(seed), (2, length), 0, VOCAB)


def test_pooling_against_numpy():
  states = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3) % 7
  np.testing.assert_array_equal(np.asarray(compression.max_pool(states, 3)),
                                states.reshape(2, 2, 3, 3).max(2))
  np.testing.assert_allclose(np.asarray(compression.mean_pool(states, 2)),
                             states.reshape(2, 3, 2, 3).mean(2))


def test_most_used_keeps_the_most_attended_states_in_order():
  states = np.arange(2 * 6 * 2, dtype=np.float32).reshape(2, 6, 2)
  usage = np.array([[0.1, 0.9, 0.2, 0.8, 0.0, 0.7], [5, 4, 3, 2, 1, 0]], np.float32)
  kept = np.asarray(compression.most_used(states, usage, 2))
  np.testing.assert_array_equal(kept[0], states[0, [1, 3, 5]])
  np.testing.assert_array_equal(kept[1], states[1, [0, 1, 2]])


@pytest.mark.parametrize("function", compression.COMPRESSION_FUNCTIONS)
@pytest.mark.parametrize("rate", [1, 2, 4])
def test_compressor_shapes(function, rate):
  states = jax.random.normal(jax.random.PRNGKey(0), (3, 8, D_MODEL))
  usage = jax.random.uniform(jax.random.PRNGKey(1), (3, 8))
  module = compression.Compressor(function, rate)
  variables = module.init(jax.random.PRNGKey(2), states, usage)
  out = module.apply(variables, states, usage)
  assert out.shape == (3, 8 // rate, D_MODEL)
  if function == "conv":
    assert variables["params"]["conv_kernel"].shape == (rate, D_MODEL, D_MODEL)
    # Equal to a strided 1D convolution.
    reference = jax.lax.conv_general_dilated(
        states, variables["params"]["conv_kernel"], window_strides=(rate,), padding="VALID",
        dimension_numbers=("NWC", "WIO", "NWC")) + variables["params"]["conv_bias"]
    np.testing.assert_allclose(np.asarray(out), np.asarray(reference), rtol=1e-5, atol=1e-5)
  else:
    assert "params" not in variables


def test_compressor_errors_name_the_config_key():
  states = jnp.zeros((1, 6, 4))
  with pytest.raises(ValueError, match="model.compression_rate"):
    compression.Compressor("max_pool", 4).init(jax.random.PRNGKey(0), states)
  with pytest.raises(ValueError, match="model.compression_function"):
    compression.Compressor("median", 2).init(jax.random.PRNGKey(0), states)


# The carry's layout does not depend on f_c: the default suite checks the learned (conv) and the
# usage-based (most_used) one; max_pool and mean_pool have their own tests below.
@pytest.mark.parametrize("function", [
    f if f in ("conv", "most_used") else pytest.param(f, marks=pytest.mark.slow)
    for f in compression.COMPRESSION_FUNCTIONS])
def test_carry_shapes_and_validity(function):
  model = _model(function, mem_len=4, compressed_mem_len=6, rate=2)
  params = _params(model)
  carry = model.initialize_carry(None, (2, 4))
  step = jax.jit(functools.partial(model.apply, params))
  tokens = _tokens(16)
  valid = []
  for s in range(4):
    carry, logits = step(carry, tokens[:, 4 * s:4 * s + 4])
    valid.append(np.asarray(carry.compressed.valid[0]).astype(int).tolist())
  assert logits.shape == (2, 4, VOCAB)
  assert carry.memory.hidden.shape == (2, LAYERS, 4, D_MODEL)
  assert carry.compressed.hidden.shape == (2, LAYERS, 6, D_MODEL)
  # Segment 1 evicts the empty memory; from segment 2 on, 2 real compressed slots arrive per segment.
  assert valid == [[0] * 6, [0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 1], [1] * 6]


def test_compressed_memory_holds_pooled_evicted_states():
  """max_pool: cm = max over pairs of the layer inputs that left the XL memory."""
  model = _model("max_pool", mem_len=4, compressed_mem_len=4, rate=2)
  params = _params(model)
  carry = model.initialize_carry(None, (2, 4))
  tokens = _tokens(16)
  inputs = []
  for s in range(4):
    (carry, _), intermediates = model.apply(params, carry, tokens[:, 4 * s:4 * s + 4],
                                            mutable=["intermediates"])
    inputs.append(np.asarray(intermediates["intermediates"]["layer_inputs"][0]))
  history = np.concatenate(inputs, axis=2)  # [batch, layers, 16, d_model]
  np.testing.assert_array_equal(np.asarray(carry.memory.hidden), history[:, :, 12:])
  evicted = history[:, :, 4:12]  # segments 2 and 3 left the memory during segments 3 and 4
  expected = evicted.reshape(2, LAYERS, 4, 2, D_MODEL).max(3)
  np.testing.assert_array_equal(np.asarray(carry.compressed.hidden), expected)


def test_without_compressed_memory_it_is_transformer_xl():
  model = _model("conv", mem_len=4, compressed_mem_len=0)
  xl = TransformerXL(vocab_size=VOCAB, d_model=D_MODEL, num_layers=LAYERS, num_heads=2, d_ff=24,
                     mem_len=4)
  params = _params(model)
  xl_params = {"params": {k: v for k, v in params["params"].items()
                          if not k.startswith("compressor")}}
  carry, xl_carry = model.initialize_carry(None, (2, 4)), xl.initialize_carry(None, (2, 4))
  tokens = _tokens(12)
  for s in range(3):
    carry, logits = model.apply(params, carry, tokens[:, 4 * s:4 * s + 4])
    xl_carry, xl_logits = xl.apply(xl_params, xl_carry, tokens[:, 4 * s:4 * s + 4])
    np.testing.assert_allclose(np.asarray(logits), np.asarray(xl_logits), rtol=1e-5, atol=1e-5)


def _segment_losses(model, params, carry, tokens):
  (carry, logits), aux = model.apply(params, carry, tokens, mutable=["losses"])
  return carry, jnp.sum(logits ** 2), aux["losses"]["reconstruction"][0]


def test_reconstruction_gradient_reaches_only_the_compressor():
  model = _model("conv", mem_len=4, compressed_mem_len=4, rate=2)
  params = _params(model)
  tokens = _tokens(12)
  carry = model.initialize_carry(None, (2, 4))
  segment_losses = jax.jit(_segment_losses, static_argnums=0)  # eager dispatch is slow
  for s in range(2):  # fill the memory so that the evicted states are real
    carry, _, _ = segment_losses(model, params, carry, tokens[:, 4 * s:4 * s + 4])

  def reconstruction(p):
    return segment_losses(model, p, carry, tokens[:, 8:])[2]

  def language_model(p):
    return segment_losses(model, p, carry, tokens[:, 8:])[1]

  assert float(reconstruction(params)) > 0.0
  grads = jax.jit(jax.grad(reconstruction))(params)["params"]
  for name, subtree in grads.items():
    norm = max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(subtree))
    if name.startswith("compressor"):
      assert norm > 0.0, name
    else:
      assert norm == 0.0, name
  # And the language-model loss does not train the compressors.
  lm_grads = jax.jit(jax.grad(language_model))(params)["params"]
  for name, subtree in lm_grads.items():
    norm = max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(subtree))
    assert (norm == 0.0) == name.startswith("compressor"), name


def test_reconstruction_error_weights():
  a, b = jnp.zeros((2, 3, 4)), jnp.ones((2, 3, 4))
  assert float(compression.reconstruction_error(a, b)) == 1.0
  assert float(compression.reconstruction_error(a, b, jnp.array([False, False]))) == 0.0
  b = b.at[1].set(3.0)
  assert float(compression.reconstruction_error(a, b, jnp.array([False, True]))) == 9.0


@pytest.mark.parametrize("function,mem_len,compressed_mem_len", [
    ("conv", 4, 4), ("most_used", 6, 2), ("mean_pool", 0, 6)])
def test_cached_projection_path_equals_the_hidden_state_path(function, mem_len,
                                                             compressed_mem_len):
  """Logits per segment and the final memories equal `__call__`'s, resets included."""
  seg_len, segments = 4, 4
  model = _model(function, mem_len=mem_len, compressed_mem_len=compressed_mem_len, rate=2)
  params = _params(model)
  tokens = _tokens(seg_len * segments)
  resets = np.zeros((segments, 2), bool)
  resets[2, 1] = True  # a new document in example 1 at segment 2
  carry = model.initialize_carry(None, (2, seg_len))
  cache = fast_eval.empty_cached_compressive_memory(model, 2)
  keys = model.apply(params, compressed_mem_len + mem_len + seg_len,
                     method=fast_eval.position_keys)
  step = jax.jit(functools.partial(model.apply, params))
  cached = jax.jit(functools.partial(model.apply, params,
                                     method=fast_eval.compressive_cached_step))
  for s in range(segments):
    segment = tokens[:, s * seg_len:(s + 1) * seg_len]
    carry, logits = step(carry, segment, jnp.asarray(resets[s]))
    cache, fast_logits = cached(cache, segment, keys, jnp.asarray(resets[s]))
    np.testing.assert_allclose(np.asarray(fast_logits), np.asarray(logits), rtol=1e-4,
                               atol=1e-4)
  projected = model.apply(params, carry, method=fast_eval.project_compressive_memory)
  chex.assert_trees_all_close(cache, projected, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(np.asarray(cache.compressed.valid),
                                np.asarray(carry.compressed.valid))
  if compressed_mem_len:  # the run filled the compressed memory with real slots
    assert np.asarray(cache.compressed.valid)[0].all()


def test_most_used_keeps_the_most_attended_real_states_of_a_partly_stale_block():
  """Rae et al. compress the m real states that fall out into m / c; after a reset a block of
  n evicted slots may hold fewer. The kept ones are the most attended real states."""
  states = np.arange(6, dtype=np.float32).reshape(1, 6, 1)
  usage = np.array([[0, 0, 5, 1, 7, 3]], np.float32)  # stale slots 0, 1 got no attention
  valid = np.array([[False, False, True, True, True, True]])
  kept = np.asarray(compression.most_used(states, usage, 2, valid))[0, :, 0]
  new_valid = np.asarray(compression.compressed_validity(valid, 2, "most_used"))[0]
  # 4 real states at rate 2: the 2 most used (states 4 and 2), in time order, in the last slots.
  np.testing.assert_array_equal(new_valid, [False, True, True])
  np.testing.assert_array_equal(kept[new_valid], [2, 4])
  # A block with fewer real states than the rate keeps none; a full one keeps n / rate.
  assert not np.asarray(compression.compressed_validity(
      np.array([[False] * 5 + [True]]), 2, "most_used")).any()
  assert np.asarray(compression.compressed_validity(np.ones((1, 6), bool), 2, "most_used")).all()
  # The pooling rule is unchanged: a window is valid when all its states are.
  np.testing.assert_array_equal(
      np.asarray(compression.compressed_validity(valid, 2, "mean_pool"))[0], [False, True, True])


def _numpy_layer_norm(x, p):
  mean = x.mean(-1, keepdims=True)
  variance = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(variance + 1e-6) * p["scale"] + p["bias"]


def _numpy_content_attention(p, queries, memory, heads):
  """softmax(q k^T / sqrt(d_head)) v with the layer's W_q, W_k, W_v: `[qlen, d]`."""
  head_dim = queries.shape[-1] // heads
  q, k, v = (x @ p[name]["kernel"] for x, name in
             ((queries, "query"), (memory, "key"), (memory, "value")))
  q, k, v = (x.reshape(len(x), heads, head_dim) for x in (q, k, v))
  scores = np.einsum("ind,jnd->ijn", q, k) / np.sqrt(head_dim)
  weights = np.exp(scores - scores.max(1, keepdims=True))
  weights /= weights.sum(1, keepdims=True)
  return np.einsum("ijn,jnd->ind", weights, v).reshape(len(queries), -1)


def _numpy_compressive_segment(p, tokens, memory, compressed, mem_len, compressed_len, rate,
                               function, heads=2):
  """One segment of one example, as Rae et al. (2019) Algorithms 1 and 2 write it, in float64.

  `memory`, `compressed`: per layer the real states only (`[m, d]`, `[cm, d]`, growing from 0
  as in the released Transformer-XL code), keys `[cm o m o h]`, the released code's left-pad
  rel-shift; old_mem = the states that fall out of `[m o h]`, cm <- last compressed_len of
  `[cm o f_c(old_mem)]`. Returns (logits, memory, compressed, reconstruction loss).
  """
  qlen, width = len(tokens), p["embedding"]["embedding"].shape[1]
  head_dim = width // heads
  hidden = p["embedding"]["embedding"][tokens] * np.sqrt(width)
  mlen = len(compressed[0]) + len(memory[0])
  klen = mlen + qlen
  future = np.triu(np.ones((qlen, klen)), 1 + mlen) > 0
  distances = np.arange(klen - 1, -1, -1.0)
  angles = distances[:, None] / 10000 ** (np.arange(0, width, 2.0) / width)
  encodings = np.concatenate([np.sin(angles), np.cos(angles)], -1)
  layer_inputs, usages = [hidden], []
  for n in range(len(memory)):
    layer, attention = p[f"layer_{n}"], p[f"layer_{n}"]["attention"]
    keys_in = np.concatenate([compressed[n], memory[n], hidden], 0)
    q = (hidden @ attention["query"]["kernel"]).reshape(qlen, heads, head_dim)
    k = (keys_in @ attention["key"]["kernel"]).reshape(klen, heads, head_dim)
    v = (keys_in @ attention["value"]["kernel"]).reshape(klen, heads, head_dim)
    r = (encodings @ attention["position"]["kernel"]).reshape(klen, heads, head_dim)
    position = np.einsum("ind,jnd->ijn", q + attention["position_bias"], r)
    padded = np.concatenate([np.zeros((qlen, 1, heads)), position], 1)
    position = padded.reshape(klen + 1, qlen, heads)[1:].reshape(qlen, klen, heads)
    scores = (np.einsum("ind,jnd->ijn", q + attention["content_bias"], k) + position)
    scores = scores / np.sqrt(head_dim)
    scores[future] = -np.inf
    weights = np.exp(scores - scores.max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    usages.append(weights.sum((0, 2))[len(compressed[n]):])  # attention each of [m o h] got
    attended = np.einsum("ijn,jnd->ind", weights, v).reshape(qlen, -1)
    x = _numpy_layer_norm(hidden + attended @ layer["attention_output"]["kernel"],
                          layer["attention_norm"])
    feed_forward = (np.maximum(x @ layer["ff_hidden"]["kernel"] + layer["ff_hidden"]["bias"], 0)
                    @ layer["ff_output"]["kernel"] + layer["ff_output"]["bias"])
    hidden = _numpy_layer_norm(x + feed_forward, layer["ff_norm"])
    layer_inputs.append(hidden)
  logits = hidden @ p["readout"]["kernel"] + p["readout"]["bias"]
  new_memory, new_compressed, reconstruction = [], [], 0.0
  for n in range(len(memory)):
    states = np.concatenate([memory[n], layer_inputs[n]], 0)
    old = states[:max(0, len(states) - mem_len)]
    new_memory.append(states[len(old):])
    if not len(old):
      new_compressed.append(compressed[n])
      continue
    windows = old.reshape(len(old) // rate, rate, width)
    if function == "mean_pool":
      squeezed = windows.mean(1)
    elif function == "conv":
      conv = p[f"compressor_{n}"]
      squeezed = np.einsum("wcd,cde->we", windows, conv["conv_kernel"]) + conv["conv_bias"]
    else:  # most_used: the len(old) / rate most attended, in time order
      squeezed = old[np.sort(np.argsort(-usages[n][:len(old)], kind="stable")[:len(windows)])]
    attention = p[f"layer_{n}"]["attention"]
    reconstruction += np.mean((_numpy_content_attention(attention, layer_inputs[n], old, heads)
                               - _numpy_content_attention(attention, layer_inputs[n], squeezed,
                                                          heads)) ** 2)
    new_compressed.append(np.concatenate([compressed[n], squeezed], 0)[-compressed_len:])
  return logits, new_memory, new_compressed, reconstruction


# mem_len 6 with segments of 4: the second segment evicts a block of 2 stale + 2 real states.
@pytest.mark.parametrize("function", [
    "most_used", "mean_pool", pytest.param("conv", marks=pytest.mark.slow)])
def test_both_paths_equal_a_numpy_compressive_transformer_through_a_partial_eviction(function):
  mem_len, compressed_len, rate, seg_len, segments = 6, 4, 2, 4, 4
  model = _model(function, mem_len=mem_len, compressed_mem_len=compressed_len, rate=rate)
  params = _params(model)["params"]
  # Sharper attention than at initialisation, so that which states are kept matters.
  params = jax.tree_util.tree_map(lambda x: x * 8.0 if x.ndim == 2 and x.shape[0] == D_MODEL
                                  else x, params)
  rng = np.random.default_rng(0)
  for n in range(LAYERS):
    for bias in ("content_bias", "position_bias"):
      params[f"layer_{n}"]["attention"][bias] = jnp.asarray(rng.normal(size=(2, D_MODEL // 2)),
                                                            jnp.float32)
  reference_params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), params)
  variables = {"params": params}
  tokens = np.asarray(_tokens(seg_len * segments))
  carry = model.initialize_carry(None, (2, seg_len))
  cache = fast_eval.empty_cached_compressive_memory(model, 2)
  keys = model.apply(variables, compressed_len + mem_len + seg_len, method=fast_eval.position_keys)
  step = jax.jit(lambda carry, x: model.apply(variables, carry, x, mutable=["losses"]))
  cached = jax.jit(functools.partial(model.apply, variables,
                                     method=fast_eval.compressive_cached_step))
  empty = [np.zeros((0, D_MODEL))] * LAYERS
  memories, compressed = [list(empty), list(empty)], [list(empty), list(empty)]
  for s in range(segments):
    segment = tokens[:, s * seg_len:(s + 1) * seg_len]
    (carry, logits), losses = step(carry, jnp.asarray(segment))
    cache, cached_logits = cached(cache, jnp.asarray(segment), keys)
    reconstructions = []
    for b in range(2):
      expected, memories[b], compressed[b], reconstruction = _numpy_compressive_segment(
          reference_params, segment[b], memories[b], compressed[b], mem_len, compressed_len,
          rate, function)
      np.testing.assert_allclose(np.asarray(logits[b]), expected, rtol=1e-4, atol=1e-4,
                                 err_msg=f"segment {s}, example {b}")
      np.testing.assert_allclose(np.asarray(cached_logits[b]), expected, rtol=1e-4, atol=1e-4,
                                 err_msg=f"cached, segment {s}, example {b}")
      reconstructions.append(reconstruction)
    if s >= 2:  # every evicted block real: the loss is the paper's (0 for part-stale blocks)
      np.testing.assert_allclose(float(losses["losses"]["reconstruction"][0]),
                                 np.mean(reconstructions), rtol=1e-4)
  for b in range(2):  # the real compressed slots are the reference's compressed memory
    valid = np.asarray(carry.compressed.valid[b])
    np.testing.assert_allclose(np.asarray(carry.compressed.hidden[b])[:, valid],
                               np.stack(compressed[b]), rtol=1e-4, atol=1e-4)


def test_cached_path_errors_name_what_is_wrong():
  model = _model("conv", mem_len=4, compressed_mem_len=4, rate=2)
  params = _params(model)
  cache = fast_eval.empty_cached_compressive_memory(model, 2)
  cached = functools.partial(model.apply, params, method=fast_eval.compressive_cached_step)
  with pytest.raises(ValueError, match=r"use position_keys\(model, 12\)"):
    cached(cache, _tokens(4), model.apply(params, 8, method=fast_eval.position_keys))
  with pytest.raises(ValueError, match="model.compression_rate=2 must divide"):
    cached(cache, _tokens(3), model.apply(params, 11, method=fast_eval.position_keys))
  training = model.clone(deterministic=False)
  with pytest.raises(ValueError, match="deterministic=True"):
    training.apply(params, cache, _tokens(4),
                   model.apply(params, 12, method=fast_eval.position_keys),
                   method=fast_eval.compressive_cached_step)


def _far_from_init(params, scale=0.2):
  """Kernels and embeddings moved far from init, so that predictions depend on the context."""
  paths_and_leaves, tree = jax.tree_util.tree_flatten_with_path(params)
  keys = jax.random.split(jax.random.PRNGKey(3), len(paths_and_leaves))
  moved = [leaf + scale * jax.random.normal(key, leaf.shape)
           if any(name in jax.tree_util.keystr(path) for name in ("kernel", "embedding")) else leaf
           for (path, leaf), key in zip(paths_and_leaves, keys)]
  return jax.tree_util.tree_unflatten(tree, moved)


def test_greedy_sampling_with_rate_two_is_the_argmax_of_evaluation_in_segments_of_two():
  """c = 2: memories advance per 2 tokens; greedy tokens = argmax of `__call__` over segments of 2.

  A prompt of odd length starts sampling mid-segment; 5 segments of 2 through
  a 4-slot memory make 3 evictions, so the compressed memory (most_used: its
  usage counts every query of a segment) is written and read.
  """
  model = _model("most_used", mem_len=4, compressed_mem_len=4, rate=2)
  params = _far_from_init(_params(model))
  prompt, steps = _tokens(3), 7
  generated = jax.jit(functools.partial(fast_eval.generate, model, num_tokens=steps,
                                        temperature=0.0))(params, prompt, jax.random.PRNGKey(0))
  chex.assert_shape(generated, (2, steps))
  sequence = jnp.concatenate([prompt, generated], axis=1)  # [2, 10]
  carry, logits = model.initialize_carry(None, (2, 2)), []
  step = jax.jit(functools.partial(model.apply, params))
  for s in range(5):
    carry, segment_logits = step(carry, sequence[:, 2 * s:2 * s + 2])
    logits.append(np.asarray(segment_logits))
  assert np.asarray(carry.compressed.valid).any()  # compressed slots were written
  logits = np.concatenate(logits, axis=1)  # [2, 10, vocab]
  for k in range(steps):
    step_logits = logits[:, prompt.shape[1] - 1 + k]
    chosen = step_logits[np.arange(2), np.asarray(generated[:, k])]
    np.testing.assert_allclose(chosen, step_logits.max(-1), rtol=1e-4, atol=1e-4)
  # The check is not vacuous: predictions vary with the context, without near-ties.
  assert all(len(set(row)) >= 3 for row in np.asarray(generated).tolist())
  top_two = np.sort(logits[:, 2:-1], axis=-1)[..., -2:]
  assert np.median(top_two[..., 1] - top_two[..., 0]) > 0.1
