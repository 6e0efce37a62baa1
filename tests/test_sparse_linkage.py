"""Sparse temporal linkage (memjax/addressing/sparse_linkage.py) against the dense linkage."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.addressing import sparse_linkage
from tests.test_temporal_linkage import _run_reference, _write_sequence, np_backward, np_forward


def _run_sparse(writes, num_entries):
  size = writes.shape[1]
  state = sparse_linkage.zero_sparse_linkage((), 1, size, num_entries)
  step = jax.jit(sparse_linkage.update_sparse_linkage)
  for w in writes:
    state = step(state, jnp.asarray(w)[None])
  return state


@pytest.mark.parametrize("size", [2, 5, 8])
def test_full_rows_equal_dense_linkage(size):
  writes = _write_sequence(size + 20, 6, size)
  state = _run_sparse(writes, num_entries=size - 1)
  ref_link, ref_precedence = _run_reference(writes)
  np.testing.assert_allclose(sparse_linkage.to_dense(state.values[0], state.indices[0]), ref_link,
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(state.precedence[0], ref_precedence, rtol=1e-5, atol=1e-7)
  reads = _write_sequence(size + 30, 3, size)
  np.testing.assert_allclose(
      sparse_linkage.sparse_forward_weights(state.values[0], state.indices[0], reads),
      np_forward(ref_link, reads), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      sparse_linkage.sparse_backward_weights(state.values[0], state.indices[0], reads),
      np_backward(ref_link, reads), rtol=1e-5, atol=1e-6)


def test_one_entry_per_row_is_exact_for_one_hot_writes():
  writes = np.eye(6, dtype=np.float32)[[4, 1, 5, 0, 2]]
  state = _run_sparse(writes, num_entries=1)
  np.testing.assert_allclose(sparse_linkage.to_dense(state.values[0], state.indices[0]),
                             _run_reference(writes)[0], atol=1e-6)


def test_truncated_rows_keep_the_largest_links():
  size, num_entries = 9, 2
  writes = _write_sequence(40, 7, size)
  state = _run_sparse(writes, num_entries)
  dense = np.asarray(sparse_linkage.to_dense(state.values[0], state.indices[0]))
  assert np.all(np.count_nonzero(dense, axis=1) <= num_entries)
  np.testing.assert_array_equal(np.diag(dense), np.zeros(size))
  assert np.all(np.asarray(state.values) >= 0)
  for row in np.asarray(state.indices[0]):
    assert len(set(row.tolist())) == num_entries  # distinct columns
  # The approximation stays close to the dense link where the dense link is large.
  ref_link, _ = _run_reference(writes)
  largest = np.argmax(ref_link, axis=1)
  np.testing.assert_allclose(dense[np.arange(size), largest],
                             ref_link[np.arange(size), largest], rtol=0.2, atol=1e-3)


def test_bad_number_of_entries_is_named():
  with pytest.raises(ValueError, match="K=5 entries"):
    sparse_linkage.zero_sparse_linkage((), 1, 5, 5)


def test_jit_and_vmap_agree():
  batch, size, num_entries = 3, 7, 3
  writes = _write_sequence(50, batch * 2, size).reshape(2, batch, 1, size)
  state = sparse_linkage.zero_sparse_linkage((batch,), 1, size, num_entries)
  singles = [sparse_linkage.zero_sparse_linkage((), 1, size, num_entries) for _ in range(batch)]
  step = jax.jit(jax.vmap(sparse_linkage.update_sparse_linkage))
  for t in range(2):
    state = step(state, writes[t])
    singles = [sparse_linkage.update_sparse_linkage(s, writes[t, b]) for b, s in enumerate(singles)]
  for b in range(batch):
    for got, want in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(singles[b])):
      np.testing.assert_allclose(got[b], want, rtol=1e-6, atol=1e-7)


def test_gradients_match_finite_differences():
  size, num_entries = 6, 3
  state = _run_sparse(_write_sequence(60, 4, size), num_entries)
  with jax.enable_x64(True):
    values = jnp.asarray(state.values[0], jnp.float64)
    precedence = jnp.asarray(state.precedence[0], jnp.float64)
    write = jnp.asarray(_write_sequence(61, 1, size)[0], jnp.float64)
    reads = jnp.asarray(_write_sequence(62, 2, size), jnp.float64)
    indices = state.indices[0]

    def step(values, precedence, write, reads):
      new_values, new_indices = sparse_linkage.update_sparse_link(values, indices, precedence,
                                                                  write)
      return (sparse_linkage.sparse_forward_weights(new_values, new_indices, reads),
              sparse_linkage.sparse_backward_weights(new_values, new_indices, reads))

    check_grads(jax.jit(step), (values, precedence, write, reads), order=1, modes=("rev",))

