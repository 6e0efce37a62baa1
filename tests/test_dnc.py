"""The DNC core (memjax/cores/dnc.py).

A numpy reference of one memory step, the core contract, gradients through a
full step, jit / no-jit / vmap equality, config errors, and a short learning run.
"""
import functools
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from memjax.cores import dnc as dnc_lib
from memjax.cores import registry
from memjax.cores.base import init_core, initial_carry
from memjax.cores.dnc import DNC, AccessState, DNCState
from memjax.cores.unroll import dynamic_unroll
from memjax.tasks import CopyTask, bits_error_per_sequence, build_task
from tests.test_allocation import np_update_usage, np_write_allocation
from tests.test_temporal_linkage import np_backward, np_forward, np_link, np_precedence

_REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
_SMALL = dict(output_size=3, memory_size=5, word_size=4, num_read_heads=2, num_write_heads=2,
              controller_size=8)


# ---- numpy reference of one access step (Graves et al. 2016, Methods) ----

def np_content(memory, key, strength):
  """c[i] = softmax_i(beta cos(k, M[i]))."""
  similarity = memory @ key / (np.linalg.norm(memory, axis=-1) * np.linalg.norm(key) + 1e-6)
  e = np.exp(strength * similarity - np.max(strength * similarity))
  return e / e.sum()


def np_access_step(state, xi):
  """Unbatched `AccessState` and `Interface` as numpy float64 -> (state, reads)."""
  num_writes = xi.write_gates.shape[0]
  num_reads = xi.free_gates.shape[0]
  usage = np_update_usage(state.usage, state.write_weights, xi.free_gates, state.read_weights)
  allocation = np_write_allocation(usage, xi.allocation_gates * xi.write_gates)
  write_weights = np.stack([
      xi.write_gates[h] * (xi.allocation_gates[h] * allocation[h]
                           + (1 - xi.allocation_gates[h])
                           * np_content(state.memory, xi.write_keys[h], xi.write_strengths[h]))
      for h in range(num_writes)])
  memory = state.memory.copy()
  keep = np.ones_like(memory)
  for h in range(num_writes):
    keep *= 1 - np.outer(write_weights[h], xi.erase_vectors[h])
  memory = memory * keep + write_weights.T @ xi.write_vectors
  links = np.stack([np_link(state.linkage.link[h], state.linkage.precedence[h], write_weights[h])
                    for h in range(num_writes)])
  precedence = np.stack([np_precedence(state.linkage.precedence[h], write_weights[h])
                         for h in range(num_writes)])
  read_weights = []
  for i in range(num_reads):
    modes = xi.read_modes[i]
    w = modes[num_writes] * np_content(memory, xi.read_keys[i], xi.read_strengths[i])
    for h in range(num_writes):
      w = w + modes[h] * np_backward(links[h], state.read_weights[i:i + 1])[0]
      w = w + modes[num_writes + 1 + h] * np_forward(links[h], state.read_weights[i:i + 1])[0]
    read_weights.append(w)
  read_weights = np.stack(read_weights)
  new_state = AccessState(memory.T, read_weights, write_weights,
                          dnc_lib.TemporalLinkageState(links, precedence), usage)
  return new_state, read_weights @ memory


def _random_access_state(seed, num_reads, num_writes, size, word):
  rng = np.random.RandomState(seed)
  def rows(shape):
    e = np.exp(2 * rng.normal(size=shape[:-1] + (shape[-1] + 1,)))
    return (e / e.sum(-1, keepdims=True))[..., :-1].astype(np.float32)
  link = rows((num_writes, size, size)) * (1 - np.eye(size, dtype=np.float32))
  return AccessState(
      memory_transposed=rng.normal(size=(word, size)).astype(np.float32),
      read_weights=rows((num_reads, size)), write_weights=rows((num_writes, size)),
      linkage=dnc_lib.TemporalLinkageState(link, rows((num_writes, size))),
      usage=rng.uniform(size=size).astype(np.float32))


def _random_interface(seed, num_reads, num_writes, word):
  size = dnc_lib.interface_size(num_reads, num_writes, word)
  flat = np.random.RandomState(seed).normal(size=(size,)).astype(np.float32)
  return dnc_lib.split_interface(jnp.asarray(flat), num_reads, num_writes, word)


def _to_numpy64(tree):
  return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


@functools.lru_cache(maxsize=None)
def _build_cached(batch):
  return _build(batch=batch, cache=False)


def _build(seed=0, batch=2, cache=True, **overrides):
  """(core, variables, initial carry) of a small DNC; cached when built with defaults."""
  if cache and seed == 0 and not overrides:
    return _build_cached(batch)
  fields = dict(_SMALL, **overrides)
  core = DNC(**fields)
  input_shape = (batch, 4)
  variables = jax.jit(init_core, static_argnums=(0, 2))(core, jax.random.PRNGKey(seed),
                                                        input_shape)
  carry = initial_carry(core, variables, jax.random.PRNGKey(seed + 1), input_shape)
  return core, variables, carry


# ---- tests ----

@pytest.mark.parametrize("num_reads,num_writes", [(1, 1), (3, 2)])
def test_access_step_matches_numpy_reference(num_reads, num_writes):
  state = _random_access_state(0, num_reads, num_writes, 6, 4)
  xi = _random_interface(1, num_reads, num_writes, 4)
  new_state, reads = jax.jit(dnc_lib.access_step)(jax.tree_util.tree_map(jnp.asarray, state), xi)
  ref_state, ref_reads = np_access_step(_to_numpy64(state), _to_numpy64(xi))
  tolerance = dict(rtol=2e-4, atol=1e-5)
  np.testing.assert_allclose(reads, ref_reads, **tolerance)
  for got, want in zip(jax.tree_util.tree_leaves(new_state), jax.tree_util.tree_leaves(ref_state)):
    np.testing.assert_allclose(got, want, **tolerance)


def test_interface_is_squashed_into_range():
  xi = _random_interface(2, 3, 2, 4)
  assert xi.read_keys.shape == (3, 4) and xi.write_keys.shape == (2, 4)
  assert xi.read_modes.shape == (3, 5)
  np.testing.assert_allclose(np.sum(xi.read_modes, -1), np.ones(3), rtol=1e-6)
  assert np.all(np.asarray(xi.read_strengths) >= 1) and np.all(np.asarray(xi.write_strengths) >= 1)
  for gate in (xi.free_gates, xi.allocation_gates, xi.write_gates, xi.erase_vectors):
    assert np.all((np.asarray(gate) >= 0) & (np.asarray(gate) <= 1))
  with pytest.raises(ValueError, match="interface vector has 7 features"):
    dnc_lib.split_interface(jnp.zeros(7), 3, 2, 4)


def test_core_contract_shapes():
  core, variables, carry = _build(batch=2)
  assert isinstance(carry, DNCState) and isinstance(carry.access, AccessState)
  carry, outputs = jax.jit(core.apply)(variables, carry, jnp.ones((2, 4)))
  assert outputs.shape == (2, 3)
  expected = {"memory": (2, 5, 4), "read_weights": (2, 2, 5), "write_weights": (2, 2, 5),
              "usage": (2, 5)}
  for name, shape in expected.items():
    assert getattr(carry.access, name).shape == shape, name
  assert carry.access.linkage.link.shape == (2, 2, 5, 5)
  assert carry.access.linkage.precedence.shape == (2, 2, 5)
  assert carry.reads.shape == (2, 2, 4)
  # Weightings stay in the simplex (or below it) and the link keeps a zero diagonal.
  assert np.all(np.sum(carry.access.write_weights, -1) <= 1 + 1e-6)
  # Read weights sum to at most 1: the forward/backward modes follow an empty link at first.
  assert np.all(np.sum(carry.access.read_weights, -1) <= 1 + 1e-6)
  np.testing.assert_array_equal(np.diagonal(carry.access.linkage.link, axis1=-2, axis2=-1), 0)


@pytest.mark.parametrize("field,value,match", [
    ("num_read_heads", 0, "model.num_read_heads=0"),
    ("num_write_heads", 0, "model.num_write_heads=0"),
    ("memory_size", 0, "model.memory_size=0"),
    ("controller_size", 0, "model.controller_size=0"),
    ("clip_value", -1.0, "model.clip_value=-1.0"),
])
def test_bad_config_names_the_field(field, value, match):
  with pytest.raises(ValueError, match=match):
    _build(**{field: value})


def test_rejects_unbatched_inputs():
  core, variables, carry = _build()
  with pytest.raises(ValueError, match=r"inputs \[batch, features\]"):
    core.apply(variables, carry, jnp.ones((4,)))


def test_gradients_through_a_full_step():
  core, variables, carry = _build(batch=2)
  inputs = jax.random.normal(jax.random.PRNGKey(3), (2, 5, 4))
  # A few steps first so that usage, link and memory are non-trivial.
  _, carry = dynamic_unroll(functools.partial(core.apply, variables), inputs[:, :4], carry)
  with jax.enable_x64(True):
    params64, carry64, x64 = jax.tree_util.tree_map(
        lambda a: jnp.asarray(a, jnp.float64), (variables["params"], carry, inputs[:, 4]))

    @jax.jit
    def step(params, memory, usage, read_weights, link, x):
      # Previous write weights are excluded: usage stops their gradient on purpose.
      access = carry64.access._replace(
          memory_transposed=memory, usage=usage, read_weights=read_weights,
          linkage=carry64.access.linkage._replace(link=link))
      new_carry, outputs = core.apply({"params": params}, carry64._replace(access=access), x)
      return outputs, new_carry.access.memory_transposed, new_carry.access.read_weights

    a = carry64.access
    check_grads(step, (params64, a.memory_transposed, a.usage, a.read_weights, a.linkage.link, x64),
                order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


def test_jit_unroll_and_vmap_agree():
  # (Op-by-op, un-jitted execution is checked on each mechanism in its own test
  # file; a whole eager DNC step compiles hundreds of tiny kernels.)
  core, variables, carry = _build(batch=2)
  inputs = jax.random.normal(jax.random.PRNGKey(4), (2, 3, 4))
  step = functools.partial(core.apply, variables)

  # vmap over examples, each unrolled with batch 1, equals the batched unroll.
  outputs_batched, _ = jax.jit(lambda x, c: dynamic_unroll(step, x, c))(inputs, carry)

  def one_example(x, c):
    c = jax.tree_util.tree_map(lambda leaf: leaf[None], c)
    outputs, _ = dynamic_unroll(step, x[None], c)
    return outputs[0]
  outputs_vmap = jax.jit(jax.vmap(one_example))(inputs, carry)
  np.testing.assert_allclose(outputs_vmap, outputs_batched, rtol=1e-5, atol=1e-6)


def _train_copy(num_steps, seed=0):
  """Trains a small DNC on copy (lengths 1-4, 4 bits); returns eval bits error per sequence."""
  task = CopyTask(num_bits=4, min_length=1, max_length=4)
  core = DNC(output_size=task.output_size, memory_size=8, word_size=8, num_read_heads=1,
             num_write_heads=1, controller_size=32)
  input_shape = (16, task.input_size)
  variables = init_core(core, jax.random.PRNGKey(seed), input_shape)
  optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(3e-3))
  opt_state = optimizer.init(variables)

  def loss_fn(variables, batch):
    carry = initial_carry(core, variables, jax.random.PRNGKey(0), batch.inputs[:, 0].shape)
    logits, _ = dynamic_unroll(functools.partial(core.apply, variables), batch.inputs, carry)
    losses = optax.sigmoid_binary_cross_entropy(logits, batch.targets).sum(-1)
    return jnp.sum(losses * batch.mask) / jnp.sum(batch.mask), logits

  @jax.jit
  def train_step(variables, opt_state, key):
    batch = task.sample(key, 16)
    grads, _ = jax.grad(loss_fn, has_aux=True)(variables, batch)
    updates, opt_state = optimizer.update(grads, opt_state, variables)
    return optax.apply_updates(variables, updates), opt_state

  keys = jax.random.split(jax.random.PRNGKey(seed + 1), num_steps)
  for key in keys:
    variables, opt_state = train_step(variables, opt_state, key)
  batch = task.sample(jax.random.PRNGKey(12345), 16)
  _, logits = jax.jit(loss_fn)(variables, batch)
  return float(jnp.mean(bits_error_per_sequence(logits, batch.targets, batch.mask)))


@pytest.mark.slow
def test_learns_short_copy():
  # Chance is half the bits wrong: ~5 bits per sequence (4 bits, mean length 2.5).
  # Solved (0 bits) by ~900 steps with seed 0; about a minute with compilation.
  assert _train_copy(num_steps=1500) < 0.5


def _load_config(name):
  """`configs/<name>.py`'s config, with the DNC registered for `build_core`."""
  # Idempotent; memjax.cores.registry may list the DNC already.
  registry.register_core("dnc", DNC)
  spec = importlib.util.spec_from_file_location(name, _REPO_ROOT / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.mark.parametrize("config_name", ["copy_dnc", "repeat_copy_dnc", "associative_recall_dnc",
                                         "priority_sort_dnc"])
def test_configs_build_the_core(config_name):
  """Every DNC config's model block builds a DNC for its task (no training)."""
  config = _load_config(config_name)
  task_fields = dict(config.task)
  task = build_task(task_fields.pop("name"), **task_fields)
  core = registry.build_core(dict(config.model), task.output_size)
  assert isinstance(core, DNC)
  shapes = jax.eval_shape(lambda rng: init_core(core, rng, (2, task.input_size)),
                          jax.random.PRNGKey(0))
  assert shapes["params"]["readout"]["kernel"].shape[-1] == task.output_size


@pytest.mark.slow
def test_trainer_smoke_on_copy(tmp_path):
  """The copy config, shrunk, end to end through the loop (algorithmic family) into a temp dir."""
  from memjax.training import loop
  config = _load_config("copy_dnc")
  config.task.max_length = 3
  config.model.memory_size = 4
  config.model.controller_size = 8
  config.train.num_steps = 4
  config.train.log_every = 2
  config.train.eval_batch_size = 8
  config.eval.lengths = (3,)
  config.eval.num_sequences = 4
  results = loop.train_and_evaluate(config, str(tmp_path))
  assert results["steps"] == 4 and results["model"] == "dnc"
  assert np.isfinite(results["eval_bits_error_median"])
  assert (tmp_path / "results.json").exists()
