"""Memorizing Transformer (memjax/transformer/knn_memory.py): top-k attention over the memory and
the gated mix against float64 numpy, FIFO eviction, resets, jit/vmap, a tiny run."""
import functools
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.cores import dynamic_unroll
from memjax.transformer import MemorizingTransformer, knn_memory as knn
from memjax.transformer import relative_attention as rel
from tests.family_configs import tiny_config, write_data

BATCH, QLEN, HEADS, D_HEAD, D_MODEL, VOCAB, SIZE = 2, 4, 2, 4, 8, 11, 10


def _random(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape)


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _memory(valid):
  keys = _unit(_random(1, BATCH, HEADS, SIZE, D_HEAD))
  values = _random(2, BATCH, HEADS, SIZE, D_HEAD)
  return keys, values, np.asarray(valid, bool)


def _reference_knn(queries, keys, values, valid, scale, k):
  """Top-k over the valid slots, softmax over their scores, in float64: `[b, h, q, d]`."""
  out = np.zeros(queries.shape)
  for b in range(BATCH):
    slots = np.flatnonzero(valid[b])
    for h in range(HEADS):
      for q in range(queries.shape[2]):
        if not len(slots):
          continue
        scores = scale[h] * keys[b, h, slots] @ queries[b, h, q]
        top = np.argsort(-scores)[:k]
        weights = np.exp(scores[top] - scores[top].max())
        out[b, h, q] = (weights / weights.sum()) @ values[b, h, slots[top]]
  return out


_VALIDITY = {"full": np.ones((BATCH, SIZE)),
             "partly": np.array([[0] * 7 + [1] * 3, [0] * 4 + [1] * 6]),  # row 0: fewer than k
             "empty": np.zeros((BATCH, SIZE))}


@pytest.mark.parametrize("method", knn.TOP_K_METHODS)
@pytest.mark.parametrize("validity", sorted(_VALIDITY))
def test_knn_attention_against_numpy(method, validity):
  keys, values, valid = _memory(_VALIDITY[validity])
  queries = _unit(_random(3, BATCH, HEADS, QLEN, D_HEAD))
  scale, k = np.array([2.0, 5.0]), 4
  memory = knn.KNNMemory(*(jnp.asarray(x, jnp.float32) for x in (keys, values)),
                         jnp.asarray(valid))
  got = jax.jit(knn.knn_attention, static_argnums=(3, 4))(
      jnp.asarray(queries, jnp.float32), memory, jnp.asarray(scale, jnp.float32), k, method)
  np.testing.assert_allclose(np.asarray(got), _reference_knn(queries, keys, values, valid, scale,
                                                             k), rtol=1e-4, atol=1e-5)


def test_push_is_fifo_with_eviction_and_no_gradient():
  size, segment = 5, 3
  memory = knn.KNNMemory(jnp.zeros((1, 1, size, 1)), jnp.zeros((1, 1, size, 1)),
                         jnp.zeros((1, size), bool))
  pushed = []
  for n in range(3):
    keys = jnp.arange(n * segment, (n + 1) * segment, dtype=jnp.float32).reshape(1, 1, -1, 1)
    memory = knn.push(memory, keys, -keys)
    pushed += list(range(n * segment, (n + 1) * segment))
    held = min(len(pushed), size)
    np.testing.assert_array_equal(np.asarray(memory.keys[0, 0, size - held:, 0]), pushed[-held:])
    np.testing.assert_array_equal(np.asarray(memory.values[0, 0, size - held:, 0]),
                                  [-p for p in pushed[-held:]])
    np.testing.assert_array_equal(np.asarray(memory.valid[0]), [False] * (size - held)
                                  + [True] * held)
  grad = jax.grad(lambda x: jnp.sum(knn.push(memory, x, x).keys))(jnp.ones((1, 1, 2, 1)))
  np.testing.assert_array_equal(np.asarray(grad), 0.0)  # the memory is not differentiable


def _layer_and_variables():
  layer = knn.KNNLayer(D_MODEL, HEADS, D_HEAD, 16, num_neighbours=3)
  inputs = jnp.asarray(_random(0, BATCH, QLEN, D_MODEL), jnp.float32)
  keys, values, valid = _memory(_VALIDITY["partly"])
  memory = knn.KNNMemory(jnp.asarray(keys, jnp.float32), jnp.asarray(values, jnp.float32),
                         jnp.asarray(valid))
  encodings = rel.sinusoid_encoding(rel.relative_distances(QLEN, spare_row=True), D_MODEL)
  mask = jnp.broadcast_to(rel.causal_mask(QLEN, 0), (BATCH, QLEN, QLEN))
  variables = layer.init(jax.random.PRNGKey(0), inputs, memory, encodings, mask)
  params = jax.tree_util.tree_map(np.asarray, variables["params"])
  # No position terms (W_{k,R} = u = v = 0): the local attention is plain causal softmax.
  attention = params["attention"]
  for name in ("content_bias", "position_bias"):
    attention[name] = np.zeros_like(attention[name])
  attention["position"]["kernel"] = np.zeros_like(attention["position"]["kernel"])
  params["memory_gate"] = np.array([0.4, -0.9], np.float32)
  params["log_scale"] = np.array([1.0, 2.0], np.float32)
  return layer, {"params": params}, (inputs, memory, encodings, mask)


def test_gated_mix_of_local_and_knn_attention_against_numpy():
  """A = sigmoid(b_g) A_mem + (1 - sigmoid(b_g)) A_dot with normalised q, k, in float64; the
  segment's normalised keys and values enter the memory."""
  layer, variables, args = _layer_and_variables()
  mixed, memory = jax.jit(functools.partial(
      layer.apply, variables, method=knn.KNNLayer.attend_with_memory))(*args)
  params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), variables["params"])
  inputs = np.asarray(args[0], np.float64)
  old = [np.asarray(x, np.float64) for x in args[1][:2]] + [np.asarray(args[1].valid)]
  heads = lambda x: x.reshape(BATCH, QLEN, HEADS, D_HEAD).transpose(0, 2, 1, 3)
  q, k, v = (heads(inputs @ params["attention"][name]["kernel"])
             for name in ("query", "key", "value"))
  scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(D_HEAD)
  scores = np.where(np.tril(np.ones((QLEN, QLEN), bool)), scores, -np.inf)
  weights = np.exp(scores - scores.max(-1, keepdims=True))
  local = (weights / weights.sum(-1, keepdims=True)) @ v
  retrieved = _reference_knn(_unit(q), *old, np.exp(params["log_scale"]), 3)
  gate = 1.0 / (1.0 + np.exp(-params["memory_gate"]))[:, None, None]
  reference = (gate * retrieved + (1 - gate) * local).transpose(0, 2, 1, 3).reshape(
      BATCH, QLEN, HEADS * D_HEAD)
  np.testing.assert_allclose(np.asarray(mixed), reference, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(memory.keys[:, :, -QLEN:]), _unit(k), rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_allclose(np.asarray(memory.values[:, :, -QLEN:]), v, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(memory.keys[:, :, :-QLEN]), old[0][:, :, QLEN:],
                             rtol=1e-6)


def _model(top_k="exact"):
  return MemorizingTransformer(vocab_size=VOCAB, d_model=D_MODEL, num_layers=2, num_heads=HEADS,
                               d_ff=16, memory_size=3 * QLEN, num_neighbours=3, top_k=top_k)


def _run(model, variables, segments, carry):
  return dynamic_unroll(functools.partial(model.apply, variables), segments, carry)


@pytest.mark.parametrize("top_k", knn.TOP_K_METHODS)
def test_model_memory_reaches_back_resets_jit_and_vmap(top_k):
  model = _model(top_k)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (BATCH, 4, QLEN), 0, VOCAB)
  carry = model.initialize_carry(None, (BATCH, QLEN))
  variables = model.init(jax.random.PRNGKey(0), carry, tokens[:, 0])
  logits, final = _run(model, variables, tokens, carry)
  chex.assert_shape(logits, (BATCH, 4, QLEN, VOCAB))
  chex.assert_type(logits, jnp.float32)
  chex.assert_shape(final.memory.keys, (BATCH, HEADS, 3 * QLEN, D_HEAD))
  chex.assert_trees_all_equal_shapes_and_dtypes(final, carry)
  np.testing.assert_array_equal(np.asarray(final.memory.valid), True)
  chex.assert_trees_all_close(jax.jit(functools.partial(_run, model))(variables, tokens, carry),
                              (logits, final), rtol=1e-5, atol=1e-5)
  mapped, _ = jax.vmap(functools.partial(_run, model, variables), in_axes=(0, None))(
      jnp.stack([tokens, tokens[::-1]]), carry)
  chex.assert_trees_all_close(mapped[1], _run(model, variables, tokens[::-1], carry)[0],
                              rtol=1e-5, atol=1e-5)
  # A token 3 segments back still reaches the last segment (a local model could not see it).
  altered, _ = _run(model, variables, tokens.at[:, 0, 0].set((tokens[:, 0, 0] + 1) % VOCAB),
                    carry)
  assert np.abs(np.asarray(altered[:, 3]) - np.asarray(logits[:, 3])).max() > 1e-7
  # A reset row's memory is empty: it answers as a fresh document.
  _, fresh = model.apply(variables, carry, tokens[:, 3])
  after, reset = model.apply(variables, final, tokens[:, 3], jnp.array([True, False]))
  np.testing.assert_allclose(np.asarray(reset[0]), np.asarray(fresh[0]), atol=1e-6)
  np.testing.assert_array_equal(np.asarray(after.memory.valid.sum(-1)), [QLEN, 3 * QLEN])


def test_config_errors_name_the_field():
  from memjax.errors import ConfigError
  from memjax.models.language_models import build_segment_model
  base = dict(name="memorizing_transformer", d_model=8, num_heads=2, num_layers=2, d_ff=8)
  for fields, message in [(dict(memory_size=4, num_neighbours=8), "model.num_neighbours=8"),
                          (dict(top_k="fast"), "model.top_k='fast'"),
                          (dict(memory_layer=2), "model.memory_layer=2"),
                          (dict(scale_init=-1.0), "model.scale_init=-1.0"),
                          (dict(mem_len=4), "model.mem_len is not a field")]:
    with pytest.raises(ConfigError, match=message):
      build_segment_model({**base, **fields}, VOCAB)


def test_scale_init_sets_the_initial_retrieval_scale():
  """g starts at `scale_init`; 0 keeps sqrt(d_head), the parameters drawn as before."""
  tokens = jnp.zeros((BATCH, QLEN), jnp.int32)

  def initial_scale(**fields):
    model = _model("exact").clone(**fields)
    variables = model.init(jax.random.PRNGKey(0), model.initialize_carry(None, (BATCH, QLEN)),
                           tokens)
    layer = variables["params"][f"layer_{model.memory_index}"]
    return np.exp(np.asarray(layer["log_scale"])), variables

  default, default_variables = initial_scale()
  np.testing.assert_allclose(default, np.sqrt(D_HEAD), rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(jnp.log(default)),
                                np.float32(0.5 * np.log(D_HEAD)))  # the value it had
  sixteen, variables = initial_scale(scale_init=16.0)
  np.testing.assert_allclose(sixteen, 16.0, rtol=1e-6)
  others = lambda v: [x for path, x in jax.tree_util.tree_leaves_with_path(v)
                      if "log_scale" not in jax.tree_util.keystr(path)]
  chex.assert_trees_all_equal(others(variables), others(default_variables))


# A longer training (`python -m pytest -m slow`); the numpy and gradient tests run by default.
@pytest.mark.slow
def test_tiny_long_range_through_the_loop_learns(tmp_path):
  from memjax.training import loop
  config = tiny_config("long_range", write_data(tmp_path / "data"))
  config.model = ml_collections.ConfigDict(dict(name="memorizing_transformer", d_model=16,
                                                num_layers=1, num_heads=2, d_ff=32,
                                                memory_size=8, num_neighbours=4))
  config.eval.mem_len = -1
  config.train.update(num_steps=24, eval_every=1, log_every=24, checkpoint_every=0,
                      learning_rate=1e-2)
  results = loop.train_and_evaluate(config, str(pathlib.Path(tmp_path) / "run"))
  first, last = results["history"][0], results["final"]
  assert last["bits_per_token"] < first["bits_per_token"] - 0.5, results["history"]
