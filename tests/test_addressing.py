"""NTM addressing against a numpy transcription of Graves et al. 2014, eq. 5-9."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax import addressing


def np_content_weights(memory, key, beta):
  similarity = np.array([m @ key / (np.linalg.norm(m) * np.linalg.norm(key) + 1e-6) for m in memory])
  exp = np.exp(beta * similarity - np.max(beta * similarity))
  return exp / exp.sum()


def np_circular_shift(weights, shift):
  """The paper's eq. 8 as written: w~(i) = sum_j w(j) s((i - j) mod N), s indexed by offset."""
  n, radius = len(weights), len(shift) // 2
  s_of_offset = {d: shift[d + radius] for d in range(-radius, radius + 1)}
  out = np.zeros(n)
  for i in range(n):
    for j in range(n):
      offset = (i - j) % n
      if offset > n // 2:
        offset -= n  # map to the signed offset in -n/2..n/2
      out[i] += weights[j] * s_of_offset.get(offset, 0.0)
  return out


def np_sharpen(weights, gamma):
  powered = weights ** gamma
  return powered / powered.sum()


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def test_content_weights_match_numpy(rng):
  memory = rng.normal(size=(10, 6)).astype(np.float32)
  key = rng.normal(size=6).astype(np.float32)
  for beta in (0.0, 1.0, 7.5):
    got = addressing.content_weights(jnp.asarray(memory), jnp.asarray(key), beta)
    np.testing.assert_allclose(got, np_content_weights(memory, key, beta), rtol=1e-5, atol=1e-6)
    assert abs(float(got.sum()) - 1.0) < 1e-5


def test_cosine_similarity_is_finite_on_zero_memory():
  similarity = addressing.cosine_similarity(jnp.zeros((4, 3)), jnp.ones(3))
  assert np.all(np.isfinite(similarity)) and np.allclose(similarity, 0.0)


@pytest.mark.parametrize("row, key", [(0.0, 1.0), (1e-23, 1.0), (1.0, 0.0), (1.0, 1e-23),
                                      (0.0, 0.0)])
def test_content_weights_have_finite_gradients_at_zero_and_tiny_vectors(row, key):
  # The DNC starts from zero memory and zero keys; a saturated allocation gate writes
  # rows of ~1e-24, whose squares underflow: d||x||/dx = x/||x|| was NaN / inf there.
  memory = jnp.array([[1.0, 2.0, -1.0], [row, row, -row], [3.0, -1.0, 0.5]])
  keys = jnp.array([0.5, 1.0, 0.25]) * key
  loss = lambda m, k: jnp.sum(addressing.content_weights(m, k, 2.0) * jnp.arange(3.0))
  grads = jax.grad(loss, argnums=(0, 1))(memory, keys)
  assert all(np.all(np.isfinite(g)) for g in grads), grads
  # The tiny row's similarity is ~0, as the exact formula gives.
  similarity = np.asarray(addressing.cosine_similarity(memory, keys))
  memory, keys = np.asarray(memory), np.asarray(keys)
  assert abs(similarity[1]) < 1e-6
  np.testing.assert_allclose(similarity[[0, 2]], [
      m @ keys / (np.linalg.norm(m) * np.linalg.norm(keys) + 1e-6) for m in memory[[0, 2]]],
      rtol=1e-5, atol=1e-7)


def test_vector_norm_of_half_precision_sums_in_float32():
  from memjax.addressing.content import vector_norm
  x = jnp.full((3,), 1e-4, jnp.float16)  # squares 1e-8 underflow to 0 in float16
  assert vector_norm(x).dtype == jnp.float16
  np.testing.assert_allclose(float(vector_norm(x)), np.sqrt(3) * 1e-4, rtol=1e-2)
  np.testing.assert_allclose(np.asarray(jax.grad(lambda v: vector_norm(v).astype(jnp.float32))(x),
                                        np.float32), 3 ** -0.5, rtol=1e-2)


def test_interpolation_gate():
  content, previous = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 0.0, 1.0])
  np.testing.assert_allclose(addressing.interpolate(content, previous, 1.0), content)
  np.testing.assert_allclose(addressing.interpolate(content, previous, 0.0), previous)
  np.testing.assert_allclose(addressing.interpolate(content, previous, 0.25), [0.25, 0.0, 0.75])


@pytest.mark.parametrize("num_slots,shift_range", [(8, 1), (9, 2), (5, 2), (16, 3)])
def test_circular_shift_matches_paper_equation(rng, num_slots, shift_range):
  weights = rng.dirichlet(np.ones(num_slots)).astype(np.float32)
  shift = rng.dirichlet(np.ones(2 * shift_range + 1)).astype(np.float32)
  got = jax.jit(addressing.circular_shift)(jnp.asarray(weights), jnp.asarray(shift))
  np.testing.assert_allclose(got, np_circular_shift(weights, shift), rtol=1e-5, atol=1e-7)


def test_shift_direction_moves_focus_forward_and_wraps():
  focus = jax.nn.one_hot(3, 8)
  forward = jnp.array([0.0, 0.0, 1.0])   # s(+1) = 1
  backward = jnp.array([1.0, 0.0, 0.0])  # s(-1) = 1
  assert int(jnp.argmax(addressing.circular_shift(focus, forward))) == 4
  assert int(jnp.argmax(addressing.circular_shift(focus, backward))) == 2
  last = jax.nn.one_hot(7, 8)
  assert int(jnp.argmax(addressing.circular_shift(last, forward))) == 0  # wraps around


def test_shift_rejects_even_or_oversized_shift():
  with pytest.raises(ValueError, match="odd length"):
    addressing.circular_shift(jnp.ones(8) / 8, jnp.ones(2) / 2)
  with pytest.raises(ValueError, match="at least 5 memory slots"):
    addressing.circular_shift(jnp.ones(3) / 3, jnp.ones(5) / 5)


def test_sharpen_matches_numpy_and_keeps_argmax(rng):
  weights = rng.dirichlet(np.ones(12)).astype(np.float32)
  for gamma in (1.0, 2.0, 10.0):
    got = addressing.sharpen(jnp.asarray(weights), gamma)
    np.testing.assert_allclose(got, np_sharpen(weights, gamma), rtol=1e-4, atol=1e-7)
    assert int(jnp.argmax(got)) == int(np.argmax(weights))


def test_sharpen_gradient_is_finite_at_exact_zero():
  grad = jax.grad(lambda g: addressing.sharpen(jnp.array([0.0, 0.3, 0.7]), g)[1])(2.0)
  assert np.isfinite(grad)


def test_addressing_gradients_match_finite_differences(rng):
  memory = jnp.asarray(rng.normal(size=(6, 4)))
  key = jnp.asarray(rng.normal(size=4))
  weights = jnp.asarray(rng.dirichlet(np.ones(6)))
  shift = jnp.asarray(rng.dirichlet(np.ones(3)))
  with jax.enable_x64(True):
    args = [jnp.asarray(np.asarray(a), jnp.float64) for a in (memory, key, weights, shift)]

    def full(memory, key, weights, shift):
      content = addressing.content_weights(memory, key, 2.0)
      gated = addressing.interpolate(content, weights, 0.7)
      return addressing.sharpen(addressing.circular_shift(gated, shift), 1.5)

    check_grads(full, args, order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


def test_attention_masks_padding_and_sums_to_one(rng):
  keys = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
  query = jnp.asarray(rng.normal(size=3), jnp.float32)
  mask = jnp.array([True, True, False, True, False])
  weights = addressing.attention_weights(query, keys, mask)
  assert np.all(np.asarray(weights)[~np.asarray(mask)] == 0.0)
  np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-6)
  logits = np.asarray(keys) @ np.asarray(query)
  expected = np.exp(logits[[0, 1, 3]]) / np.exp(logits[[0, 1, 3]]).sum()
  np.testing.assert_allclose(np.asarray(weights)[[0, 1, 3]], expected, rtol=1e-5)
  assert np.all(addressing.attention_weights(query, keys, jnp.zeros(5, bool)) == 0.0)


def test_null_slots_join_the_softmax_as_zero_score_slots(rng):
  keys = jnp.asarray(rng.normal(size=(5, 3)) * 20.0, jnp.float32)  # large scores: stability
  query = jnp.asarray(rng.normal(size=3), jnp.float32)
  mask = jnp.array([True, True, False, True, False])
  weights = addressing.attention_weights(query, keys, mask, num_null_slots=jnp.asarray(7))
  logits = np.asarray(keys, np.float64) @ np.asarray(query, np.float64)
  # numpy reference: a softmax over the valid scores and 7 zeros, the zeros' share dropped.
  scores = np.concatenate([logits[[0, 1, 3]], np.zeros(7)])
  reference = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
  np.testing.assert_allclose(np.asarray(weights)[[0, 1, 3]], reference[:3], rtol=1e-5, atol=1e-12)
  assert np.all(np.asarray(weights)[[2, 4]] == 0.0)
  np.testing.assert_allclose(1.0 - float(weights.sum()), reference[3:].sum(), atol=1e-6)
  unscaled = addressing.attention_weights(query, keys / 20.0, mask, jnp.asarray(7))
  assert float(unscaled.sum()) < 0.9  # scores near 0: the 7 null slots take a real share
  # Nothing valid: all weight on the null slots, none on memory.
  empty = addressing.attention_weights(query, keys, jnp.zeros(5, bool), jnp.asarray(3))
  assert np.all(np.asarray(empty) == 0.0)
  # Zero null slots is the plain masked softmax.
  np.testing.assert_allclose(addressing.attention_weights(query, keys, mask, jnp.asarray(0)),
                             addressing.attention_weights(query, keys, mask), rtol=1e-6)
  with pytest.raises(ValueError, match="needs a mask"):
    addressing.attention_weights(query, keys, None, jnp.asarray(1))


def test_sharpen_is_finite_for_huge_gamma_on_blurred_weights():
  # 0.1^500 underflows float32; the direct ratio would give 0/0 = NaN.
  weights = jnp.full((10,), 0.1)
  sharpened = addressing.sharpen(weights.at[3].set(0.1001), 500.0)
  assert np.all(np.isfinite(sharpened)) and int(jnp.argmax(sharpened)) == 3
  grad = jax.grad(lambda g: addressing.sharpen(weights, g)[0])(500.0)
  assert np.isfinite(grad)



def _per_head_reference(memory, previous, raw):
  """address_heads through the per-head modules, vmapped over batch and heads."""
  word = memory.shape[-1]

  def one(memory, previous, raw):
    content = addressing.content_weights(memory, raw[:word], jax.nn.softplus(raw[word]))
    gated = addressing.interpolate(content, previous, jax.nn.sigmoid(raw[word + 1]))
    shifted = addressing.circular_shift(gated, jax.nn.softmax(raw[word + 3:]))
    return addressing.sharpen(shifted, 1.0 + jax.nn.softplus(raw[word + 2]))

  return jax.vmap(jax.vmap(one, in_axes=(None, 0, 0)))(memory, previous, raw)


@pytest.mark.parametrize("num_heads,shift_range,slots",
                         [(1, 1, 12), (3, 2, 12), (2, 1, 100)])
def test_address_heads_matches_the_per_head_modules_and_their_gradients(num_heads, shift_range,
                                                                        slots):
  """100 slots: softmaxes and sums over slots in blocks (addressing/reductions.py)."""
  batch, word = 3, 5
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  memory = jax.random.normal(keys[0], (batch, slots, word)).at[0, 3].set(0.0)  # a zero row
  previous = jax.nn.softmax(jax.random.normal(keys[1], (batch, num_heads, slots)), axis=-1)
  raw = jax.random.normal(keys[2], (batch, num_heads, word + 3 + 2 * shift_range + 1))
  raw = raw.at[1, 0, :word].set(0.0)  # a zero key
  # The same equations; sums in another order (blocks, the key . M(i) dot on M^T) round
  # differently in the last bits.
  np.testing.assert_allclose(addressing.address_heads(memory, previous, raw),
                             _per_head_reference(memory, previous, raw), rtol=2e-6, atol=1e-7)
  cotangent = jax.random.normal(keys[3], (batch, num_heads, slots))
  loss = lambda f: lambda *args: jnp.sum(f(*args) * cotangent)
  # Jitted: eagerly, op by op, the reference's gradient alone takes seconds.
  got = jax.jit(jax.grad(loss(addressing.address_heads), argnums=(0, 1, 2)))(memory, previous, raw)
  want = jax.jit(jax.grad(loss(_per_head_reference), argnums=(0, 1, 2)))(memory, previous, raw)
  for g, w in zip(got, want):
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(w))))
  # Against finite differences away from zero rows and keys (where the norm has a kink).
  with jax.enable_x64(True):
    args = (jax.random.normal(keys[0], (batch, slots, word), jnp.float64), previous,
            jax.random.normal(keys[2], raw.shape, jnp.float64))
    args = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), args)
    check_grads(jax.jit(addressing.address_heads), args, order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


def test_matmul_with_stored_transpose_matches_autodiff_inside_a_scan():
  """The LSTM gates' matmul (memjax/cores/recurrent.py): same values as `x @ W`, gradients
  as autodiff's, under a `lax.scan` (where kernel^T is computed once) and `vmap`; and the
  `nn.Dense` it goes through draws the same parameters as a plain one."""
  import flax.linen as nn
  from memjax.cores.recurrent import dense_dot_general, matmul_transposed_backward
  keys = jax.random.split(jax.random.PRNGKey(2), 3)
  kernel = jax.random.normal(keys[0], (7, 12))
  inputs = jax.random.normal(keys[1], (4, 3, 2))    # [time, batch, features]
  start = jax.random.normal(keys[2], (3, 5))

  def unroll(matmul):
    def loss(kernel, inputs, start):
      def step(hidden, x):
        hidden = jnp.tanh(matmul(jnp.concatenate([x, hidden], -1), kernel))[:, :5]
        return hidden, jnp.sum(hidden ** 2)
      return jax.lax.scan(step, start, inputs)[1].sum()
    return loss

  want = unroll(jnp.matmul)
  got = unroll(matmul_transposed_backward)
  assert got(kernel, inputs, start) == want(kernel, inputs, start)
  for g, w in zip(jax.jit(jax.grad(got, argnums=(0, 1, 2)))(kernel, inputs, start),
                  jax.grad(want, argnums=(0, 1, 2))(kernel, inputs, start)):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
  batched = jax.vmap(jax.grad(got), in_axes=(None, 1, 0))(kernel, inputs[:, :, None], start[:, None])
  one_by_one = [jax.grad(want)(kernel, inputs[:, b:b + 1], start[b:b + 1]) for b in range(3)]
  np.testing.assert_allclose(batched, np.stack(one_by_one), rtol=1e-5, atol=1e-6)
  x64 = (np.random.RandomState(0).randn(3, 7), np.random.RandomState(1).randn(7, 4))
  with jax.enable_x64(True):
    check_grads(matmul_transposed_backward, tuple(jnp.asarray(a) for a in x64), order=1,
                modes=("rev",))
  plain, custom = nn.Dense(12), nn.Dense(12, dot_general=dense_dot_general)
  params = plain.init(jax.random.PRNGKey(3), jnp.ones((3, 7)))
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(
      jnp.array_equal, params, custom.init(jax.random.PRNGKey(3), jnp.ones((3, 7)))))
  assert jnp.array_equal(custom.apply(params, inputs[0, :, :1].repeat(7, -1)),
                         plain.apply(params, inputs[0, :, :1].repeat(7, -1)))


def test_lstm_cell_backward_matches_autodiff():
  from memjax.cores.recurrent import _lstm_cell_forward, lstm_cell
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  gates, cell = jax.random.normal(keys[0], (3, 20)), jax.random.normal(keys[1], (3, 5))
  cotangents = (jax.random.normal(keys[2], (3, 5)), jax.random.normal(keys[3], (3, 5)))
  loss = lambda f: lambda g, c: sum(jnp.sum(o * t) for o, t in zip(f(g, c, 1.0), cotangents))
  got = jax.grad(loss(lstm_cell), argnums=(0, 1))(gates, cell)
  want = jax.grad(loss(lambda g, c, b: _lstm_cell_forward(g, c, b)[0]), argnums=(0, 1))(gates, cell)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [20, 33, 64, 100, 128, 127, 600])
@pytest.mark.parametrize("axis", [-1, -2])
def test_block_reductions_equal_jnp_ones(size, axis):
  """addressing/reductions.py: sums, maxima and softmax in blocks of <= 32, any length."""
  from memjax.addressing import reductions
  shape = (3, size, 4) if axis == -2 else (3, 4, size)
  x = jax.random.normal(jax.random.PRNGKey(size), shape)
  block_sum = jax.jit(reductions.block_sum, static_argnums=(1, 2))
  block_max = jax.jit(reductions.block_max, static_argnums=(1, 2))
  for keepdims in (False, True):
    np.testing.assert_allclose(block_sum(x, axis, keepdims),
                               jnp.sum(x, axis=axis, keepdims=keepdims), rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(block_max(x, axis, keepdims),
                                  jnp.max(x, axis=axis, keepdims=keepdims))
  if axis == -1:
    np.testing.assert_allclose(jax.jit(reductions.block_softmax)(x), jax.nn.softmax(x, axis=-1),
                               rtol=2e-6, atol=1e-8)
    grad = jax.grad(lambda x: jnp.sum(reductions.block_softmax(x) * jnp.arange(size)))(x)
    want = jax.grad(lambda x: jnp.sum(jax.nn.softmax(x, axis=-1) * jnp.arange(size)))(x)
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-5)


def test_block_sums_compile_to_one_fused_kernel_per_reduction_on_cpu():
  """What the blocks are for: XLA on CPU splits a reduction over > 32 elements into a
  windowed reduce and a reduce (TreeReductionRewriter), neither fused with its producer;
  in blocks there is no reduce-window left, and the product fuses into the reduction."""
  from memjax.addressing import reductions
  if jax.default_backend() != "cpu":
    pytest.skip("checks XLA's CPU compiler")
  x = jnp.ones((32, 128))
  compiled = lambda f: jax.jit(f).lower(x).compile().as_text()
  plain = compiled(lambda x: jnp.sum(jnp.exp(x) * x, axis=-1))
  blocked = compiled(lambda x: reductions.block_sum(jnp.exp(x) * x))
  if "reduce-window" not in plain:  # e.g. MEMJAX_XLA_CPU_DEFAULTS=0: YNN takes the reduce
    pytest.skip("this XLA configuration does not split long reductions on CPU")
  assert "reduce-window" not in blocked
