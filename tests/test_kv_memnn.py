"""Key-value memory network: numpy forward pass with hop-specific R_j, masking, gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.models import kv_memnn

_V, _D, _M, _J = 11, 5, 4, 3


def _example(seed=0, num_valid=3):
  rng = np.random.default_rng(seed)
  memory = rng.integers(1, _V, (_M, _J)).astype(np.int32)
  memory[0, 2] = 0
  mask = np.arange(_M) < num_valid
  memory[~mask] = 0
  return jnp.asarray(memory), jnp.asarray(mask), jnp.asarray([2, 4, 0], jnp.int32)


def _numpy_forward(params, memory, mask, query, num_hops, null_slots=0):
  """Miller et al. 2016 sec. 3.1 with bag-of-words features and temporal encodings.

  null_slots: that many zero-score, zero-value slots join each softmax (null attention).
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  memory, mask = np.asarray(memory), np.asarray(mask)
  keys = p["A"][memory].sum(1) + p["TK"][:_M]
  values = p["AV"][memory].sum(1) + p["TV"][:_M]
  q = p["A"][np.asarray(query)].sum(0)
  for j in range(num_hops):
    scores = keys @ q
    top = max(scores[mask].max(), 0.0) if null_slots else scores[mask].max()
    e = np.where(mask, np.exp(scores - top), 0.0)
    o = (e / (e.sum() + null_slots * np.exp(-top))) @ values
    q = p[f"R{j}"] @ (q + o)          # q_{j+1} = R_j (q_j + o)
  return p["B"] @ q


@pytest.mark.parametrize("num_hops", [1, 2])
def test_forward_equals_numpy(num_hops):
  config = kv_memnn.KVMemNNConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M,
                                 num_hops=num_hops, encoding="bow")
  params = kv_memnn.init_params(jax.random.PRNGKey(0), config)
  memory, mask, query = _example()
  out = jax.jit(lambda p: kv_memnn.apply(p, memory, mask, query, config))(params)
  np.testing.assert_allclose(out.logits, _numpy_forward(params, memory, mask, query, num_hops),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out.attention.sum(1), 1.0, rtol=1e-6)
  assert np.all(np.asarray(out.attention)[:, 3:] == 0)


def test_null_attention_equals_numpy():
  config = kv_memnn.KVMemNNConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M, num_hops=2,
                                 encoding="bow", null_attention=True)
  params = kv_memnn.init_params(jax.random.PRNGKey(4), config)
  memory, mask, query = _example(num_valid=2)
  out = kv_memnn.apply(params, memory, mask, query, config)
  np.testing.assert_allclose(out.logits, _numpy_forward(params, memory, mask, query, 2,
                                                        null_slots=_M - 2), rtol=1e-5, atol=1e-5)
  assert np.all(np.asarray(out.attention.sum(1)) < 1.0)


def test_each_hop_has_its_own_r():
  config = kv_memnn.KVMemNNConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M, num_hops=2)
  params = kv_memnn.init_params(jax.random.PRNGKey(1), config)
  assert not np.allclose(params["R0"], params["R1"])
  memory, mask, query = _example()
  base = kv_memnn.apply(params, memory, mask, query, config).logits
  for name in ("R0", "R1"):
    changed = dict(params, **{name: params[name] * 2.0})
    assert not np.allclose(kv_memnn.apply(changed, memory, mask, query, config).logits, base)


def test_values_are_a_separate_encoding_from_keys():
  config = kv_memnn.KVMemNNConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M, num_hops=1)
  params = kv_memnn.init_params(jax.random.PRNGKey(2), config)
  memory, mask, query = _example()
  out = kv_memnn.apply(params, memory, mask, query, config)
  # Changing the value embedding changes the answer but not where the model looks.
  moved = kv_memnn.apply(dict(params, AV=params["AV"] * 3.0), memory, mask, query, config)
  np.testing.assert_allclose(moved.attention, out.attention, rtol=1e-6)
  assert not np.allclose(moved.logits, out.logits)


def test_masking_empty_memory_and_gradients():
  config = kv_memnn.KVMemNNConfig(vocab_size=_V, embedding_dim=_D, memory_size=_M, num_hops=2)
  params = kv_memnn.init_params(jax.random.PRNGKey(3), config)
  memory, mask, query = _example(num_valid=2)
  base = kv_memnn.apply(params, memory, mask, query, config).logits
  np.testing.assert_allclose(
      kv_memnn.apply(params, memory.at[2:].set(5), mask, query, config).logits, base, rtol=1e-6)
  empty = kv_memnn.apply(params, memory, jnp.zeros(_M, bool), query, config)
  assert np.all(np.isfinite(empty.logits)) and np.all(np.asarray(empty.attention) == 0)
  loss = lambda p: jax.nn.log_softmax(kv_memnn.apply(p, memory, mask, query, config).logits)[1]
  check_grads(loss, (params,), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)
  assert all(np.all(params[n][0] == 0) for n in kv_memnn.word_embedding_names(params))
