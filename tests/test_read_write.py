"""Memory read and erase/add write against numpy (Graves et al. 2014, eq. 2-4)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.memory import erase_and_add, erase_and_add_transposed, read, read_transposed


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


def _unfused_access(memory_t, write_previous, read_previous, write_raw, read_raw, erase, add):
  """The NTM step's memory access as four ops in turn (what `write_then_read` fuses), on M^T."""
  from memjax import addressing
  write_weights = addressing.address_heads(jnp.swapaxes(memory_t, -1, -2), write_previous,
                                           write_raw)
  new_memory_t = erase_and_add_transposed(memory_t, write_weights, erase, add)
  read_weights = addressing.address_heads(jnp.swapaxes(new_memory_t, -1, -2), read_previous,
                                          read_raw)
  return (new_memory_t, write_weights, read_weights,
          read_transposed(new_memory_t, read_weights))


def test_transposed_read_and_write_equal_the_paper_layout_ones():
  """read_transposed / erase_and_add_transposed on M^T give read / erase_and_add's values."""
  rng = np.random.default_rng(3)
  memory = rng.normal(size=(2, 40, 6)).astype(np.float32)
  weights = rng.dirichlet(np.ones(40), size=(2, 3)).astype(np.float32)
  erase = rng.uniform(size=(2, 3, 6)).astype(np.float32)
  add = rng.normal(size=(2, 3, 6)).astype(np.float32)
  memory_t = np.swapaxes(memory, -1, -2)
  np.testing.assert_array_equal(
      jnp.swapaxes(jax.jit(erase_and_add_transposed)(memory_t, weights, erase, add), -1, -2),
      jax.jit(erase_and_add)(memory, weights, erase, add))
  np.testing.assert_allclose(jax.jit(read_transposed)(memory_t, weights),
                             jax.jit(read)(memory, weights), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("num_writes,num_reads", [(1, 1), (2, 3)])
def test_fused_ntm_access_equals_the_four_ops_and_their_gradients(num_writes, num_reads):
  """memory/ntm_access.write_then_read: the same values bit for bit, the same gradients as
  autodiff through the unfused ops (to float32 rounding), and finite differences in float64."""
  from jax.test_util import check_grads
  from memjax.memory.ntm_access import write_then_read
  batch, slots, word, raw_size = 2, 10, 4, 4 + 3 + 3
  keys = jax.random.split(jax.random.PRNGKey(5), 8)
  weights = lambda k, h: jax.nn.softmax(jax.random.normal(k, (batch, h, slots)), axis=-1)
  args = (jax.random.normal(keys[0], (batch, word, slots)),   # M^T
          weights(keys[1], num_writes), weights(keys[2], num_reads),
          jax.random.normal(keys[3], (batch, num_writes, raw_size)),
          jax.random.normal(keys[4], (batch, num_reads, raw_size)),
          jax.nn.sigmoid(jax.random.normal(keys[5], (batch, num_writes, word))),
          jax.random.normal(keys[6], (batch, num_writes, word)))
  fused, unfused = jax.jit(write_then_read)(*args), jax.jit(_unfused_access)(*args)
  for f, u in zip(fused, unfused):
    np.testing.assert_array_equal(f, u)
  cotangents = [jax.random.normal(k, o.shape) for k, o in zip(jax.random.split(keys[7], 4), fused)]
  loss = lambda fn: lambda *a: sum(jnp.sum(o * c) for o, c in zip(fn(*a), cotangents))
  argnums = tuple(range(7))
  got = jax.jit(jax.grad(loss(write_then_read), argnums))(*args)
  want = jax.jit(jax.grad(loss(_unfused_access), argnums))(*args)
  for g, w in zip(got, want):
    assert g.shape == w.shape and g.dtype == w.dtype
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(w))))
  with jax.enable_x64(True):
    args64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), args)
    check_grads(jax.jit(write_then_read), args64, order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
