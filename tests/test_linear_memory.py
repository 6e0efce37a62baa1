"""Fast-weight cores (memjax/cores/linear_memory.py): linear attention and the delta rule
against float64 numpy references, the core contract, jit/vmap, and a tiny char-LM run."""
import functools
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.cores import (DeltaRuleCore, LinearAttentionCore, build_core, check_core,
                          dynamic_unroll, init_core)
from memjax.cores import linear_memory as lm
from tests.family_configs import tiny_config, write_data

BATCH, TIME, HEADS, D_KEY, D_VALUE = 2, 6, 3, 4, 5


def _random(seed, *shape):
  return np.random.default_rng(seed).normal(size=shape)


def _elu_plus_one(x):
  return np.where(x > 0, x + 1.0, np.exp(x))


def _sequence():
  return (_random(0, BATCH, TIME, HEADS, D_KEY), _random(1, BATCH, TIME, HEADS, D_KEY),
          _random(2, BATCH, TIME, HEADS, D_VALUE))


def _scan_steps(step, carry, *sequences):
  """Runs a pure step over axis 1 of `sequences` with lax.scan; outputs `[batch, time, ...]`."""
  def body(carry, inputs):
    *carry, output = step(*carry, *inputs)
    return tuple(carry), output
  carry, outputs = jax.lax.scan(body, carry, tuple(jnp.swapaxes(s, 0, 1) for s in sequences))
  return carry, jnp.swapaxes(outputs, 0, 1)


def test_feature_maps():
  x = np.linspace(-3, 3, 13)
  np.testing.assert_allclose(np.asarray(lm.elu_feature_map(jnp.asarray(x, jnp.float32))),
                             _elu_plus_one(x), rtol=1e-6)
  features = jnp.asarray(_elu_plus_one(_random(0, 3, 4)), jnp.float32)
  np.testing.assert_allclose(np.asarray(jnp.sum(lm.sum_normalise(features), -1)), 1.0, rtol=1e-6)


def test_linear_attention_is_causal_softmax_free_attention():
  """The recurrence (Katharopoulos et al. eqs. 18-20) equals the parallel causal form (eq. 9)
  in float64: y_t = sum_{j<=t} (phi(q_t).phi(k_j)) v_j / sum_{j<=t} phi(q_t).phi(k_j)."""
  queries, keys, values = _sequence()
  phi_q, phi_k = _elu_plus_one(queries), _elu_plus_one(keys)
  similarity = np.einsum("bthk,bjhk->bhtj", phi_q, phi_k) * np.tril(np.ones((TIME, TIME)))
  reference = np.einsum("bhtj,bjhv->bthv", similarity, values) / similarity.sum(-1).transpose(
      0, 2, 1)[..., None]
  carry = (jnp.zeros((BATCH, HEADS, D_KEY, D_VALUE)), jnp.zeros((BATCH, HEADS, D_KEY)))
  (memory, normaliser), outputs = jax.jit(functools.partial(_scan_steps,
                                                            lm.linear_attention_step))(
      carry, *(jnp.asarray(x, jnp.float32) for x in (phi_q, phi_k, values)))
  np.testing.assert_allclose(np.asarray(outputs), reference, rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(np.asarray(memory), np.einsum("bthk,bthv->bhkv", phi_k, values),
                             rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(np.asarray(normaliser), phi_k.sum(1), rtol=2e-5)


def test_delta_rule_matches_the_papers_update():
  """M_t = W_t^T with W_t = W_{t-1} + beta (v - W phi(k)) phi(k)^T, y_t = W_t phi(q_t)
  (Schlag et al. 2021), phi sum-normalised, in float64 numpy."""
  queries, keys, values = _sequence()
  beta = 1.0 / (1.0 + np.exp(-_random(3, BATCH, TIME, HEADS)))
  normalise = lambda x: _elu_plus_one(x) / _elu_plus_one(x).sum(-1, keepdims=True)
  phi_q, phi_k = normalise(queries), normalise(keys)
  weights = np.zeros((BATCH, HEADS, D_VALUE, D_KEY))
  reference = []
  for t in range(TIME):
    old = np.einsum("bhvk,bhk->bhv", weights, phi_k[:, t])
    weights = weights + beta[:, t, :, None, None] * np.einsum(
        "bhv,bhk->bhvk", values[:, t] - old, phi_k[:, t])
    reference.append(np.einsum("bhvk,bhk->bhv", weights, phi_q[:, t]))
  memory, outputs = jax.jit(functools.partial(_scan_steps, lm.delta_rule_step))(
      (jnp.zeros((BATCH, HEADS, D_KEY, D_VALUE)),),
      *(jnp.asarray(x, jnp.float32) for x in (phi_q, phi_k, values, beta)))
  np.testing.assert_allclose(np.asarray(outputs), np.stack(reference, 1), rtol=2e-5, atol=2e-5)
  np.testing.assert_allclose(np.asarray(memory[0]), weights.transpose(0, 1, 3, 2), rtol=2e-5,
                             atol=2e-5)


def test_a_full_strength_delta_write_replaces_the_value():
  """beta = 1 and a one-hot phi(k): reading with the same key returns the new value only."""
  memory = jnp.zeros((D_KEY, D_VALUE))
  key = jax.nn.one_hot(1, D_KEY)
  memory, _ = lm.delta_rule_step(memory, key, key, jnp.arange(D_VALUE, dtype=jnp.float32),
                                 jnp.ones(()))
  memory, read = lm.delta_rule_step(memory, key, key, -jnp.ones(D_VALUE), jnp.ones(()))
  np.testing.assert_allclose(np.asarray(read), -1.0)


_CORES = [LinearAttentionCore, DeltaRuleCore]


def _core(cls):
  return cls(output_size=7, d_model=16, num_layers=2, num_heads=2, d_ff=24)


@pytest.mark.parametrize("cls", _CORES, ids=lambda c: c.__name__)
def test_core_contract_shapes_jit_and_vmap(cls):
  core = _core(cls)
  check_core(core, (BATCH, 5), 7)
  variables = init_core(core, jax.random.PRNGKey(0), (BATCH, 5))
  inputs = jax.random.normal(jax.random.PRNGKey(1), (BATCH, TIME, 5))
  carry = core.initialize_carry(None, (BATCH, 5))
  run = lambda x, c: dynamic_unroll(functools.partial(core.apply, variables), x, c)
  outputs, final = run(inputs, carry)
  chex.assert_shape(outputs, (BATCH, TIME, 7))
  chex.assert_type(outputs, jnp.float32)
  chex.assert_shape(final.memory, (BATCH, 2, 2, 8, 8))
  chex.assert_trees_all_equal_shapes_and_dtypes(final, carry)
  jitted, jitted_final = jax.jit(run)(inputs, carry)
  chex.assert_trees_all_close((jitted, jitted_final), (outputs, final), rtol=1e-5, atol=1e-5)
  # vmap over a leading axis of independent batches equals each batch alone.
  stacked = jnp.stack([inputs, inputs[::-1]])
  mapped, _ = jax.vmap(run, in_axes=(0, None))(stacked, carry)
  chex.assert_trees_all_close(mapped[1], run(inputs[::-1], carry)[0], rtol=1e-5, atol=1e-5)
  # Unbatched steps (no leading batch axis) agree with a batch of one.
  single = core.initialize_carry(None, (5,))
  step_carry, step_out = core.apply(variables, single, inputs[0, 0])
  chex.assert_trees_all_close(step_out, outputs[0, 0], rtol=1e-5, atol=1e-5)


def test_registered_by_name():
  assert isinstance(build_core({"name": "linear_attention", "d_model": 16}, 3),
                    LinearAttentionCore)
  assert isinstance(build_core({"name": "delta_rule", "num_heads": 2}, 3), DeltaRuleCore)


# One core through the loop by default; the other with `-m slow`.
@pytest.mark.parametrize("name", [pytest.param("linear_attention", marks=pytest.mark.slow),
                                  "delta_rule"])
def test_tiny_char_lm_through_the_loop_learns(name, tmp_path):
  from memjax.training import loop
  root = write_data(tmp_path / "data")
  config = tiny_config("char_lm", root)
  config.model = ml_collections.ConfigDict(dict(name=name, d_model=16, num_layers=1,
                                                num_heads=2, d_ff=32))
  config.eval.update(mem_len=-1, compare_mem_lens=(), sample_length=4)
  config.train.update(num_steps=24, eval_every=1, log_every=24, checkpoint_every=0,
                      learning_rate=1e-2)
  results = loop.train_and_evaluate(config, str(pathlib.Path(tmp_path) / "run"))
  first, last = results["history"][0], results["final"]
  assert last["bits_per_character"] < first["bits_per_character"] - 0.5, results["history"]
  assert len(last["sample"]["continuation"]) == 4
