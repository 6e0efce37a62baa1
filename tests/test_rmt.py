"""Recurrent Memory Transformer (memjax/transformer/recurrent_memory.py): read/write token flow,
gradients through memory across k segments and not beyond, resets, jit/vmap, a tiny run."""
import functools
import pathlib

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.cores import dynamic_unroll
from memjax.transformer import RecurrentMemoryTransformer
from memjax.transformer.recurrent_memory import truncate_gradient
from tests.family_configs import tiny_config, write_data

BATCH, QLEN, MEMORY, D_MODEL, VOCAB = 2, 5, 3, 8, 11


def _model(bptt_segments=0):
  return RecurrentMemoryTransformer(vocab_size=VOCAB, d_model=D_MODEL, num_layers=2, num_heads=2,
                                    d_ff=16, num_memory_tokens=MEMORY,
                                    bptt_segments=bptt_segments)


def _setup(bptt_segments=0, num_segments=3):
  model = _model(bptt_segments)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (BATCH, num_segments, QLEN), 0, VOCAB)
  carry = model.initialize_carry(None, (BATCH, QLEN))
  variables = model.init(jax.random.PRNGKey(0), carry, tokens[:, 0])
  return model, variables, tokens, carry


def test_read_and_write_tokens_carry_the_memory_between_segments():
  """H~^0 = [M_s o h^0 o M_s]; M_{s+1} = the write positions of H~^N; logits from the
  segment positions; M_0 is the learned memory_init."""
  model, variables, tokens, carry = _setup()
  params = variables["params"]
  m, scale = MEMORY, D_MODEL ** 0.5
  for segment in range(2):
    (new_carry, logits), sown = model.apply(variables, carry, tokens[:, segment],
                                            mutable=["intermediates"])
    (inputs,) = sown["intermediates"]["memory_inputs"]
    chex.assert_shape(inputs, (BATCH, 2 * m + QLEN, D_MODEL))
    expected_memory = (jnp.broadcast_to(params["memory_init"] * scale, (BATCH, m, D_MODEL))
                       if segment == 0 else carry.memory)
    np.testing.assert_allclose(np.asarray(inputs[:, :m]), np.asarray(expected_memory), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(inputs[:, -m:]), np.asarray(expected_memory),
                               rtol=1e-6)
    embedded = model.apply(variables, tokens[:, segment], method=lambda mdl, t: mdl.embed(t))
    np.testing.assert_allclose(np.asarray(inputs[:, m:m + QLEN]), np.asarray(embedded),
                               rtol=1e-6)
    outputs = model.apply(variables, inputs, method=RecurrentMemoryTransformer.stack)
    np.testing.assert_allclose(np.asarray(new_carry.memory), np.asarray(outputs[:, -m:]),
                               rtol=1e-5, atol=1e-6)
    readout = model.apply(variables, outputs[:, m:m + QLEN], method=lambda mdl, h: mdl.readout(h))
    np.testing.assert_allclose(np.asarray(logits), np.asarray(readout), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(new_carry.segment), segment + 1)
    carry = new_carry


def test_segment_outputs_do_not_see_the_write_tokens():
  """Causal throughout: changing only the write tokens' inputs changes no segment logit."""
  model, variables, tokens, carry = _setup()
  (_, _), sown = model.apply(variables, carry, tokens[:, 0], mutable=["intermediates"])
  (inputs,) = sown["intermediates"]["memory_inputs"]
  outputs = model.apply(variables, inputs, method=RecurrentMemoryTransformer.stack)
  altered = model.apply(variables, inputs.at[:, -MEMORY:].set(7.0),
                        method=RecurrentMemoryTransformer.stack)
  np.testing.assert_allclose(np.asarray(altered[:, :-MEMORY]), np.asarray(outputs[:, :-MEMORY]),
                             rtol=1e-6)


def _per_segment_gradient_norms(bptt_segments, num_segments=4):
  """|d loss_s / d M_0| for each segment s's loss, from a document's start."""
  model, variables, tokens, carry = _setup(bptt_segments, num_segments)

  def segment_loss(memory_init, segment):
    params = {**variables["params"], "memory_init": memory_init}
    logits, _ = dynamic_unroll(functools.partial(model.apply, {"params": params}), tokens, carry)
    return jnp.sum(logits[:, segment] ** 2)

  grad = jax.jit(jax.grad(segment_loss), static_argnums=1)
  return [float(jnp.abs(grad(variables["params"]["memory_init"], s)).max())
          for s in range(num_segments)]


# k = 0 (no truncation), 1 and 3 run with `-m slow`; k = 2 checks both sides of a cut.
@pytest.mark.parametrize("bptt_segments", [pytest.param(0, marks=pytest.mark.slow),
                                           pytest.param(1, marks=pytest.mark.slow), 2,
                                           pytest.param(3, marks=pytest.mark.slow)])
def test_gradient_flows_through_memory_across_k_segments_and_not_beyond(bptt_segments):
  """M_0 feeds segment 0; segment s's loss reaches it through the memory iff s < k."""
  norms = _per_segment_gradient_norms(bptt_segments)
  for segment, norm in enumerate(norms):
    if bptt_segments == 0 or segment < bptt_segments:
      assert norm > 1e-8, (segment, norms)
    else:
      assert norm == 0.0, (segment, norms)


def test_truncate_gradient_cuts_every_k_segments():
  memory = jnp.ones((4, 1, 1))
  segment = jnp.arange(4)
  grads = jax.grad(lambda x: jnp.sum(truncate_gradient(x, segment, 2)))(memory)
  np.testing.assert_array_equal(np.asarray(grads[:, 0, 0]), [0.0, 1.0, 0.0, 1.0])


def test_shapes_resets_jit_and_vmap():
  model, variables, tokens, carry = _setup()
  run = lambda segments, c: dynamic_unroll(functools.partial(model.apply, variables), segments, c)
  logits, final = run(tokens, carry)
  chex.assert_shape(logits, (BATCH, 3, QLEN, VOCAB))
  chex.assert_type(logits, jnp.float32)
  chex.assert_trees_all_equal_shapes_and_dtypes(final, carry)
  chex.assert_trees_all_close(jax.jit(run)(tokens, carry), (logits, final), rtol=1e-5, atol=1e-5)
  mapped, _ = jax.vmap(run, in_axes=(0, None))(jnp.stack([tokens, tokens[::-1]]), carry)
  chex.assert_trees_all_close(mapped[1], run(tokens[::-1], carry)[0], rtol=1e-5, atol=1e-5)
  _, fresh = model.apply(variables, carry, tokens[:, 2])
  after, reset = model.apply(variables, final, tokens[:, 2], jnp.array([True, False]))
  np.testing.assert_allclose(np.asarray(reset[0]), np.asarray(fresh[0]), atol=1e-6)
  assert np.abs(np.asarray(reset[1]) - np.asarray(fresh[1])).max() > 1e-6
  np.testing.assert_array_equal(np.asarray(after.segment), [1, 4])


# A longer training (`python -m pytest -m slow`); the numpy and gradient tests run by default.
@pytest.mark.slow
def test_tiny_long_range_through_the_loop_learns(tmp_path):
  from memjax.training import loop
  config = tiny_config("long_range", write_data(tmp_path / "data"))
  config.model = ml_collections.ConfigDict(dict(name="rmt", d_model=16, num_layers=1,
                                                num_heads=2, d_ff=32, num_memory_tokens=2,
                                                bptt_segments=2))
  config.eval.mem_len = -1
  config.train.update(num_steps=24, eval_every=1, log_every=24, checkpoint_every=0,
                      learning_rate=1e-2)
  results = loop.train_and_evaluate(config, str(pathlib.Path(tmp_path) / "run"))
  first, last = results["history"][0], results["final"]
  assert last["bits_per_token"] < first["bits_per_token"] - 0.5, results["history"]
