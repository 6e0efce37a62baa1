"""DNC temporal linkage (memjax/addressing/temporal_linkage.py) against numpy references."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.addressing import temporal_linkage
from memjax.addressing.temporal_linkage import TemporalLinkageState


# ---- numpy references, element by element from Graves et al. 2016 (Methods) ----

def np_precedence(precedence, write_weights):
  """p_t = (1 - sum_i w[i]) p_{t-1} + w."""
  return (1.0 - np.sum(write_weights)) * precedence + write_weights


def np_link(link, precedence, write_weights):
  """L_t[i, j] = (1 - w[i] - w[j]) L[i, j] + w[i] p[j] for i != j, L_t[i, i] = 0."""
  size = len(write_weights)
  result = np.zeros((size, size))
  for i in range(size):
    for j in range(size):
      if i != j:
        result[i, j] = ((1 - write_weights[i] - write_weights[j]) * link[i, j]
                        + write_weights[i] * precedence[j])
  return result


def np_forward(link, read_weights):
  """f[i] = sum_j L[i, j] w^r[j] per read head."""
  return np.array([[sum(link[i, j] * w[j] for j in range(len(w))) for i in range(len(w))]
                   for w in read_weights])


def np_backward(link, read_weights):
  """b[j] = sum_i L[i, j] w^r[i] per read head."""
  return np.array([[sum(link[i, j] * w[i] for i in range(len(w))) for j in range(len(w))]
                   for w in read_weights])


def _write_sequence(seed, steps, size):
  """Random write weightings summing to at most 1, `[steps, size]`."""
  rng = np.random.RandomState(seed)
  logits = rng.normal(size=(steps, size + 1)) * 2
  e = np.exp(logits)
  return (e / e.sum(-1, keepdims=True))[:, :size].astype(np.float32)


def _run_reference(writes):
  size = writes.shape[1]
  link, precedence = np.zeros((size, size)), np.zeros(size)
  for w in writes:
    link = np_link(link, precedence, w)
    precedence = np_precedence(precedence, w)
  return link, precedence


def _run(writes):
  size = writes.shape[1]
  link, precedence = jnp.zeros((size, size)), jnp.zeros(size)
  for w in writes:
    link = temporal_linkage.update_link(link, precedence, w)
    precedence = temporal_linkage.update_precedence(precedence, w)
  return link, precedence


# ---- tests ----

@pytest.mark.parametrize("size", [1, 4, 9])
def test_link_and_precedence_match_reference(size):
  writes = _write_sequence(size, 5, size)
  link, precedence = _run(writes)
  ref_link, ref_precedence = _run_reference(writes)
  np.testing.assert_allclose(link, ref_link, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(precedence, ref_precedence, rtol=1e-5, atol=1e-7)
  assert np.sum(precedence) <= 1 + 1e-6


def test_link_diagonal_stays_zero():
  writes = _write_sequence(3, 8, 6)
  size = 6
  # Start from a link with a non-zero diagonal: the update must still clear it.
  link = jnp.asarray(np.random.RandomState(4).uniform(size=(size, size)), jnp.float32)
  precedence = jnp.zeros(size)
  for w in writes:
    link = temporal_linkage.update_link(link, precedence, w)
    precedence = temporal_linkage.update_precedence(precedence, w)
    np.testing.assert_array_equal(np.diag(np.asarray(link)), np.zeros(size))
  assert np.all(np.asarray(link) >= 0) and np.all(np.asarray(link) <= 1)


def test_one_hot_writes_link_in_write_order():
  # Write slots 2, 0, 3 in turn: forward from 2 is 0, from 0 is 3; backward reverses.
  writes = np.eye(5, dtype=np.float32)[[2, 0, 3]]
  link, precedence = _run(writes)
  expected = np.zeros((5, 5))
  expected[0, 2] = expected[3, 0] = 1.0
  np.testing.assert_allclose(link, expected, atol=1e-6)
  np.testing.assert_allclose(precedence, np.eye(5)[3], atol=1e-6)
  reads = np.eye(5, dtype=np.float32)[[2, 0, 3]]
  np.testing.assert_allclose(temporal_linkage.forward_weights(link, reads),
                             np.stack([np.eye(5)[0], np.eye(5)[3], np.zeros(5)]), atol=1e-6)
  np.testing.assert_allclose(temporal_linkage.backward_weights(link, reads),
                             np.stack([np.zeros(5), np.eye(5)[2], np.eye(5)[0]]), atol=1e-6)


@pytest.mark.parametrize("num_reads", [1, 3])
def test_forward_backward_match_reference(num_reads):
  link, _ = _run(_write_sequence(5, 6, 7))
  reads = _write_sequence(6, num_reads, 7)
  np.testing.assert_allclose(temporal_linkage.forward_weights(link, reads),
                             np_forward(np.asarray(link), reads), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(temporal_linkage.backward_weights(link, reads),
                             np_backward(np.asarray(link), reads), rtol=1e-5, atol=1e-7)


def test_update_linkage_over_write_heads_and_directional_weights():
  num_writes, size, num_reads = 2, 5, 3
  writes = [_write_sequence(7 + h, 4, size) for h in range(num_writes)]
  state = temporal_linkage.zero_linkage((), num_writes, size)
  for t in range(4):
    state = temporal_linkage.update_linkage(state, jnp.stack([w[t] for w in writes]))
  assert state.link.shape == (num_writes, size, size)
  reads = _write_sequence(9, num_reads, size)
  forward, backward = temporal_linkage.directional_weights(state.link, reads)
  assert forward.shape == backward.shape == (num_reads, num_writes, size)
  for h in range(num_writes):
    ref_link, ref_precedence = _run_reference(writes[h])
    np.testing.assert_allclose(state.link[h], ref_link, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state.precedence[h], ref_precedence, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(forward[:, h], np_forward(ref_link, reads), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backward[:, h], np_backward(ref_link, reads), rtol=1e-5, atol=1e-6)


def test_jit_and_vmap_agree():
  batch, num_writes, size = 3, 2, 6
  state = temporal_linkage.zero_linkage((batch,), num_writes, size)
  writes = _write_sequence(10, batch * num_writes * 3, size).reshape(3, batch, num_writes, size)
  step = jax.jit(jax.vmap(temporal_linkage.update_linkage))
  singles = [temporal_linkage.zero_linkage((), num_writes, size) for _ in range(batch)]
  for t in range(3):
    state = step(state, writes[t])
    singles = [temporal_linkage.update_linkage(s, writes[t, b]) for b, s in enumerate(singles)]
  for b in range(batch):
    np.testing.assert_allclose(state.link[b], singles[b].link, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(state.precedence[b], singles[b].precedence, rtol=1e-6, atol=1e-7)


def test_gradients_match_finite_differences():
  with jax.enable_x64(True):
    size = 5
    link, precedence = _run(_write_sequence(11, 3, size).astype(np.float64))
    write = jnp.asarray(_write_sequence(12, 1, size)[0], jnp.float64)
    reads = jnp.asarray(_write_sequence(13, 2, size), jnp.float64)
    check_grads(jax.jit(temporal_linkage.update_link), (link, precedence, write), order=1,
                modes=("rev",))
    check_grads(jax.jit(temporal_linkage.update_precedence), (precedence, write), order=1,
                modes=("rev",))
    check_grads(jax.jit(temporal_linkage.forward_weights), (link, reads), order=1, modes=("rev",))
    check_grads(jax.jit(temporal_linkage.backward_weights), (link, reads), order=1, modes=("rev",))


def test_state_is_typed_namedtuple():
  state = temporal_linkage.zero_linkage((2,), 1, 4)
  assert isinstance(state, TemporalLinkageState)
  assert state.link.shape == (2, 1, 4, 4) and state.precedence.shape == (2, 1, 4)


@pytest.mark.parametrize("num_writes,num_reads", [(1, 1), (2, 3)])
def test_update_and_follow_links_matches_the_separate_ops_and_their_gradients(num_writes,
                                                                               num_reads):
  """One op with a written-out backward pass: the values and every gradient of
  `update_linkage` followed by `directional_weights`, batched and jitted."""
  batch, size = 3, 7
  rng = np.random.default_rng(40 + num_writes)
  state = TemporalLinkageState(
      link=rng.uniform(0, 0.3, (batch, num_writes, size, size)).astype(np.float32)
      * (1 - np.eye(size, dtype=np.float32)),
      precedence=_write_sequence(41, batch * num_writes, size).reshape(batch, num_writes, size))
  writes = 0.9 * _write_sequence(42, batch * num_writes, size).reshape(batch, num_writes, size)
  reads = _write_sequence(43, batch * num_reads, size).reshape(batch, num_reads, size)
  cotangents = [rng.normal(size=s).astype(np.float32) for s in
                [(batch, num_writes, size, size), (batch, num_writes, size),
                 (batch, num_reads, num_writes, size), (batch, num_reads, num_writes, size)]]

  def separate(link, precedence, write, read):
    new = temporal_linkage.update_linkage(TemporalLinkageState(link, precedence), write)
    return (new.link, new.precedence) + temporal_linkage.directional_weights(new.link, read)

  def fused(link, precedence, write, read):
    new, forward, backward = temporal_linkage.update_and_follow_links(
        TemporalLinkageState(link, precedence), write, read)
    return new.link, new.precedence, forward, backward

  def loss(step, *args):
    outputs = jax.vmap(step)(*args)
    return sum(jnp.sum(out * c) for out, c in zip(outputs, cotangents))

  args = (state.link, state.precedence, writes, reads)
  for got, want in zip(jax.jit(jax.vmap(fused))(*args), jax.vmap(separate)(*args)):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  got = jax.jit(jax.grad(loss, argnums=(1, 2, 3, 4)), static_argnums=0)(fused, *args)
  want = jax.grad(loss, argnums=(1, 2, 3, 4))(separate, *args)
  for g, w in zip(got, want):
    chex.assert_shape(g, w.shape)
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
  if num_writes == 1:  # finite differences once (the autodiff comparison covers both)
    with jax.enable_x64(True):
      one = [jnp.asarray(a[0], jnp.float64) for a in args]
      check_grads(fused, one, order=1, modes=("rev",))
