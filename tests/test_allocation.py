"""DNC usage and allocation (memjax/addressing/allocation.py) vs numpy references of the paper."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.addressing import allocation

_EPSILON = 1e-6


# ---- numpy references, written element by element from Graves et al. 2016 (Methods) ----

def np_retention(free_gates, read_weights):
  """psi[n] = prod_i (1 - f^i w^{r,i}[n])."""
  num_reads, size = read_weights.shape
  psi = np.ones(size)
  for i in range(num_reads):
    for n in range(size):
      psi[n] *= 1.0 - free_gates[i] * read_weights[i, n]
  return psi


def np_update_usage(usage, write_weights, free_gates, read_weights):
  """u_t = (u + w^w - u o w^w) o psi, with w^w = 1 - prod_h (1 - w^{w,h})."""
  written = 1.0 - np.prod(1.0 - write_weights, axis=0)
  return (usage + written - usage * written) * np_retention(free_gates, read_weights)


def np_allocation(usage):
  """a[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]]; ties broken by lower index."""
  usage = _EPSILON + (1.0 - _EPSILON) * np.asarray(usage, np.float64)
  free_list = sorted(range(len(usage)), key=lambda n: (usage[n], n))
  result = np.zeros_like(usage)
  used_before = 1.0
  for slot in free_list:
    result[slot] = (1.0 - usage[slot]) * used_before
    used_before *= usage[slot]
  return result


def np_write_allocation(usage, write_gates):
  usage = np.array(usage, np.float64)
  weights = []
  for gate in write_gates:
    a = np_allocation(usage)
    weights.append(a)
    usage = usage + (1.0 - usage) * gate * a
  return np.stack(weights)


def _uniform(seed, shape):
  return np.random.RandomState(seed).uniform(size=shape).astype(np.float32)


def _softmax_rows(seed, shape):
  logits = np.random.RandomState(seed).normal(size=shape) * 2
  e = np.exp(logits)
  return (e / e.sum(-1, keepdims=True)).astype(np.float32)


# ---- tests ----

@pytest.mark.parametrize("num_reads,size", [(1, 5), (3, 7)])
def test_retention_matches_reference(num_reads, size):
  free_gates = _uniform(0, (num_reads,))
  read_weights = _softmax_rows(1, (num_reads, size))
  np.testing.assert_allclose(allocation.retention(free_gates, read_weights),
                             np_retention(free_gates, read_weights), rtol=1e-6)


@pytest.mark.parametrize("num_writes,num_reads,size", [(1, 1, 4), (2, 3, 6)])
def test_update_usage_matches_reference(num_writes, num_reads, size):
  usage = _uniform(2, (size,))
  write_weights = _softmax_rows(3, (num_writes, size))
  free_gates = _uniform(4, (num_reads,))
  read_weights = _softmax_rows(5, (num_reads, size))
  got = allocation.update_usage(usage, write_weights, free_gates, read_weights)
  np.testing.assert_allclose(got, np_update_usage(usage, write_weights, free_gates, read_weights),
                             rtol=1e-5, atol=1e-7)
  assert np.all((np.asarray(got) >= 0) & (np.asarray(got) <= 1))


def test_usage_closed_free_gates_only_grow():
  usage = _uniform(6, (5,))
  write_weights = _softmax_rows(7, (1, 5))
  got = allocation.update_usage(usage, write_weights, np.zeros(2, np.float32),
                                _softmax_rows(8, (2, 5)))
  assert np.all(np.asarray(got) >= usage - 1e-7)
  # A free gate of 1 on a one-hot read frees that slot completely.
  freed = allocation.update_usage(usage, write_weights, np.ones(1, np.float32),
                                  np.eye(5, dtype=np.float32)[[2]])
  assert freed[2] == 0.0


@pytest.mark.parametrize("seed,size", [(0, 1), (1, 4), (2, 10), (3, 33), (4, 64), (5, 100)])
def test_allocation_matches_reference(seed, size):
  usage = _uniform(seed, (size,))
  np.testing.assert_allclose(allocation.allocation_weights(usage), np_allocation(usage),
                             rtol=1e-5, atol=1e-7)


def test_allocation_with_ties_is_deterministic_lowest_index_first():
  usage = np.array([0.5, 0.2, 0.5, 0.2, 1.0], np.float32)
  # Free list: slots 1, 3 (u=0.2), then 0, 2 (u=0.5), then 4.
  expected = np.array([0.5 * 0.2 * 0.2, 0.8, 0.5 * 0.5 * 0.2 * 0.2, 0.8 * 0.2, 0.0])
  got = allocation.allocation_weights(usage)
  np.testing.assert_allclose(got, expected, atol=1e-5)
  np.testing.assert_allclose(got, np_allocation(usage), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(got, jax.jit(allocation.allocation_weights)(usage), rtol=1e-6)


def test_allocation_of_empty_memory_is_first_slot():
  got = allocation.allocation_weights(np.zeros(6, np.float32))
  np.testing.assert_allclose(got, np.eye(6)[0], atol=1e-5)


def test_allocation_sums_to_one_minus_product_of_usage():
  usage = _uniform(11, (8,))
  got = allocation.allocation_weights(usage)
  squashed = _EPSILON + (1 - _EPSILON) * usage.astype(np.float64)
  np.testing.assert_allclose(np.sum(got), 1.0 - np.prod(squashed), rtol=1e-5)
  # Less-used slots get at least as much allocation.
  order = np.argsort(usage)
  assert np.all(np.diff(np.asarray(got)[order]) <= 1e-7)


def test_allocation_permutes_with_usage():
  usage = _uniform(12, (7,))
  permutation = np.random.RandomState(13).permutation(7)
  np.testing.assert_allclose(allocation.allocation_weights(usage[permutation]),
                             np.asarray(allocation.allocation_weights(usage))[permutation],
                             rtol=1e-6)


@pytest.mark.parametrize("num_writes", [1, 3])
def test_write_allocation_matches_reference(num_writes):
  usage = _uniform(14, (6,))
  gates = _uniform(15, (num_writes,))
  got = allocation.write_allocation_weights(usage, gates)
  assert got.shape == (num_writes, 6)
  np.testing.assert_allclose(got, np_write_allocation(usage, gates), rtol=1e-5, atol=1e-7)
  # Fully gated heads take the free slots one after another, least used first.
  got = allocation.write_allocation_weights(np.array([0.0, 0.3, 0.6, 0.9, 0.95, 0.99], np.float32),
                                            np.ones(num_writes, np.float32))
  np.testing.assert_array_equal(np.argmax(got, axis=-1), np.arange(num_writes))


def test_jit_and_vmap_agree():
  usage = _uniform(16, (4, 9))
  write_weights = _softmax_rows(17, (4, 2, 9))
  free_gates = _uniform(18, (4, 3))
  read_weights = _softmax_rows(19, (4, 3, 9))
  batched = jax.jit(jax.vmap(allocation.update_usage))(usage, write_weights, free_gates,
                                                       read_weights)
  alloc = jax.jit(jax.vmap(allocation.allocation_weights))(batched)
  for b in range(4):
    single = allocation.update_usage(usage[b], write_weights[b], free_gates[b], read_weights[b])
    np.testing.assert_allclose(batched[b], single, rtol=1e-6)
    np.testing.assert_allclose(alloc[b], allocation.allocation_weights(single), rtol=1e-6)


def test_gradients_match_finite_differences():
  with jax.enable_x64(True):
    usage = jnp.asarray(_uniform(20, (6,)), jnp.float64)
    write_weights = jnp.asarray(_softmax_rows(21, (2, 6)), jnp.float64)
    free_gates = jnp.asarray(_uniform(22, (3,)), jnp.float64)
    read_weights = jnp.asarray(_softmax_rows(23, (3, 6)), jnp.float64)
    gates = jnp.asarray(_uniform(24, (2,)), jnp.float64)
    check_grads(jax.jit(allocation.update_usage), (usage, write_weights, free_gates, read_weights),
                order=1, modes=("rev",))
    check_grads(jax.jit(allocation.allocation_weights), (usage,), order=1, modes=("rev",))
    check_grads(jax.jit(allocation.write_allocation_weights), (usage, gates), order=1,
                modes=("rev",))


@pytest.mark.parametrize("size", [5, 40, 64])
def test_pairwise_allocation_equals_the_sorted_one_and_its_gradient(size, monkeypatch):
  """Up to 64 slots allocation compares slots pairwise; beyond, it sorts: the same weighting
  (ties included) and the same gradient either way."""
  usage = _uniform(30 + size, (size,))
  usage[size // 2] = usage[1]  # a tie: the lower index comes first in both
  cotangent = _uniform(31, (size,))
  loss = lambda u: jnp.sum(allocation.allocation_weights(u) * cotangent)
  pairwise = jax.jit(allocation.allocation_weights)(usage), jax.grad(loss)(usage)
  monkeypatch.setattr(allocation, "_PAIRWISE_MAX_SLOTS", 0)
  sorted_ = jax.jit(allocation.allocation_weights)(usage), jax.grad(loss)(usage)
  for got, want in zip(pairwise, sorted_):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
