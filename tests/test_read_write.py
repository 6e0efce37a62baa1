"""Memory read and erase/add write against numpy (Graves et al. 2014, eq. 2-4)."""
import jax
import jax.numpy as jnp
import numpy as np

from memjax.memory import erase_and_add, read


def np_erase_and_add(memory, weights, erase, add):
  out = memory.copy()
  for w, e in zip(weights, erase):
    out = out * (1 - np.outer(w, e))
  for w, a in zip(weights, add):
    out = out + np.outer(w, a)
  return out


def test_read_is_weighted_sum_of_rows():
  memory = np.arange(12, dtype=np.float32).reshape(4, 3)
  weights = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]], np.float32)
  expected = np.stack([sum(w[i] * memory[i] for i in range(4)) for w in weights])
  np.testing.assert_allclose(read(jnp.asarray(memory), jnp.asarray(weights)), expected, rtol=1e-6)


def test_erase_and_add_matches_numpy_with_several_heads():
  rng = np.random.default_rng(1)
  memory = rng.normal(size=(6, 4)).astype(np.float32)
  weights = rng.dirichlet(np.ones(6), size=3).astype(np.float32)
  erase = rng.uniform(size=(3, 4)).astype(np.float32)
  add = rng.normal(size=(3, 4)).astype(np.float32)
  got = jax.jit(erase_and_add)(memory, weights, erase, add)
  np.testing.assert_allclose(got, np_erase_and_add(memory, weights, erase, add), rtol=1e-5, atol=1e-6)


def test_single_head_unbatched_form():
  memory = jnp.ones((3, 2))
  got = erase_and_add(memory, jnp.array([0.0, 1.0, 0.0]), jnp.array([1.0, 0.5]), jnp.array([2.0, 3.0]))
  np.testing.assert_allclose(got, [[1, 1], [2, 3.5], [1, 1]])


def test_write_then_read_recovers_the_written_word():
  memory = jnp.asarray(np.random.default_rng(2).normal(size=(8, 5)), jnp.float32)
  slot = jax.nn.one_hot(5, 8)[None]
  word = jnp.array([[0.5, -1.0, 2.0, 0.0, 3.0]])
  written = erase_and_add(memory, slot, jnp.ones((1, 5)), word)  # full erase, then add
  np.testing.assert_allclose(read(written, slot), word, rtol=1e-6)
  np.testing.assert_allclose(np.delete(np.asarray(written), 5, 0), np.delete(np.asarray(memory), 5, 0))
