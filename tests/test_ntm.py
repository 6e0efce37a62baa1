"""The NTM core: shapes, gradients, jit/vmap equality, unroll and resets, config errors."""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.cores import NTM, NTMState, build_core, dynamic_unroll, init_core, initial_carry, static_unroll

BATCH, INPUT, OUTPUT = 3, 5, 4


def small_ntm(**overrides):
  fields = dict(output_size=OUTPUT, memory_size=8, word_size=4, controller_size=12,
                num_read_heads=2, num_write_heads=1)
  fields.update(overrides)
  return NTM(**fields)


def setup_core(core, seed=0):
  variables = init_core(core, jax.random.PRNGKey(seed), (BATCH, INPUT))
  carry = initial_carry(core, variables, jax.random.PRNGKey(seed + 1), (BATCH, INPUT))
  return variables, carry


def inputs(time=6, seed=3):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(BATCH, time, INPUT)), jnp.float32)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", ["constant", "learned", "random"])
def test_state_shapes_and_weightings_are_distributions(controller, memory_init):
  core = small_ntm(controller=controller, memory_init=memory_init)
  variables, carry = setup_core(core)
  carry, outputs = jax.jit(core.apply)(variables, carry, inputs()[:, 0])
  assert isinstance(carry, NTMState)
  chex.assert_shape(outputs, (BATCH, OUTPUT))
  chex.assert_shape(carry.memory, (BATCH, 8, 4))
  chex.assert_shape(carry.read_weights, (BATCH, 2, 8))
  chex.assert_shape(carry.write_weights, (BATCH, 1, 8))
  chex.assert_shape(carry.reads, (BATCH, 2, 4))
  chex.assert_tree_all_finite(carry)
  np.testing.assert_allclose(carry.read_weights.sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(carry.write_weights.sum(-1), 1.0, rtol=1e-5)
  assert ("initial_memory" in variables["params"]) == (memory_init == "learned")


def test_constant_memory_init_value():
  _, carry = setup_core(small_ntm())
  np.testing.assert_allclose(carry.memory, 1e-6)


def test_jit_nojit_and_vmap_over_batch_agree():
  core = small_ntm()
  variables, carry = setup_core(core)
  x = inputs()[:, 0]
  eager_carry, eager_out = core.apply(variables, carry, x)
  jit_carry, jit_out = jax.jit(core.apply)(variables, carry, x)
  # vmap over examples one at a time (batch of 1 each) must equal the batched call.
  one = lambda c, xi: core.apply(variables, jax.tree_util.tree_map(lambda a: a[None], c), xi[None])
  vmap_carry, vmap_out = jax.vmap(one)(carry, x)
  vmap_carry = jax.tree_util.tree_map(lambda a: a[:, 0], vmap_carry)
  chex.assert_trees_all_close(eager_out, jit_out, vmap_out[:, 0], rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(eager_carry, jit_carry, vmap_carry, rtol=1e-5, atol=1e-6)


def test_vmap_over_independent_parameter_sets():
  core = small_ntm()
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  stacked = jax.vmap(lambda k: init_core(core, k, (BATCH, INPUT)))(keys)
  _, carry = setup_core(core)
  x = inputs()[:, 0]
  _, batched = jax.jit(jax.vmap(lambda v: core.apply(v, carry, x)))(stacked)
  apply = jax.jit(core.apply)
  for i in range(3):
    single = jax.tree_util.tree_map(lambda a: a[i], stacked)
    np.testing.assert_allclose(batched[i], apply(single, carry, x)[1], rtol=1e-5, atol=1e-6)


def test_dynamic_unroll_equals_static_unroll_with_resets():
  core = small_ntm()
  variables, carry = setup_core(core)
  step = functools.partial(core.apply, variables)
  resets = jnp.zeros((BATCH, 6), bool).at[1, 3].set(True)
  dyn_out, dyn_carry = jax.jit(lambda x: dynamic_unroll(step, x, carry, resets))(inputs())
  sta_out, sta_carry = static_unroll(step, inputs(), carry, resets)
  chex.assert_trees_all_close(dyn_out, sta_out, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(dyn_carry, sta_carry, rtol=1e-5, atol=1e-6)
  # After a reset, example 1 behaves like a fresh episode started at t = 3.
  fresh_out, _ = static_unroll(step, inputs()[:, 3:], carry)
  np.testing.assert_allclose(dyn_out[1, 3:], fresh_out[1], rtol=1e-5, atol=1e-6)
  assert not np.allclose(dyn_out[0, 3:], fresh_out[0])


def test_gradients_through_a_full_step_match_finite_differences():
  core = small_ntm(memory_size=6, word_size=3, controller_size=5, num_read_heads=1)
  with jax.enable_x64(True):
    variables, carry = setup_core(core)
    to64 = lambda tree: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)
    variables, carry = to64(variables), to64(carry)
    carry = carry._replace(memory_transposed=jnp.swapaxes(
        carry.memory + 0.1 * jnp.arange(18.0).reshape(1, 6, 3) / 18, -1, -2))
    x = to64(inputs(time=1)[:, 0])

    def step_loss(variables, carry, x):
      new_carry, outputs = core.apply(variables, carry, x)
      return (jnp.sum(outputs ** 2) + jnp.sum(new_carry.memory_transposed ** 2)
              + jnp.sum(new_carry.reads))

    check_grads(jax.jit(step_loss), (variables, carry, x), order=1, modes=("rev",), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("fields,culprit", [
    (dict(memory_size=2, shift_range=1), "model.shift_range"),
    (dict(num_read_heads=0), "model.num_read_heads"),
    (dict(memory_init="zeros"), "model.memory_init"),
    (dict(controller="transformer"), "model.controller"),
    (dict(word_size=0), "model.word_size"),
])
def test_impossible_sizes_name_the_field(fields, culprit):
  with pytest.raises(ValueError, match=culprit):
    init_core(small_ntm(**fields), jax.random.PRNGKey(0), (BATCH, INPUT))


def test_build_core_rejects_unknown_field_and_name():
  with pytest.raises(ValueError, match="model.memory_slots"):
    build_core({"name": "ntm", "memory_slots": 4}, OUTPUT)
  with pytest.raises(ValueError, match="model.name='tape'"):
    build_core({"name": "tape"}, OUTPUT)
  assert isinstance(build_core({"name": "ntm", "memory_size": 16}, OUTPUT), NTM)
