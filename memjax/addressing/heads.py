"""The NTM's whole addressing (Graves et al. 2014, eq. 5-9) for a set of heads in one batched op.

For each head h, from its raw controller outputs
`raw[h] = [k (M), beta~, g~, gamma~, s~ (2R+1)]` (R = shift range):

    beta = softplus(beta~),  g = sigmoid(g~),  gamma = 1 + softplus(gamma~),  s = softmax(s~)
    K(i)   = M(i) . k / (||M(i)|| ||k|| + 1e-6)                 cosine   (content.py)
    w^c    = softmax(beta K)                                     eq. 5-6
    w^g    = g w^c + (1 - g) w_{t-1}                             eq. 7    (interpolation.py)
    w~(i)  = sum_d s(d) w^g(i - d),  d = -R..R                   eq. 8    (shift.py)
    w      = softmax(gamma log(w~ + 1e-12))                      eq. 9    (sharpen.py)

the same functions as the per-head modules, written on `[..., heads, slots]` arrays so
that every head and batch element goes through one op per equation (no nested vmaps).

The vector-Jacobian product is written out (`jax.custom_vjp`) because inside a
`lax.scan` every intermediate that autodiff keeps becomes one stacked array written per
time step: autodiff keeps about twenty per head, this keeps two (the packed
`[K, w^c, w^g, w]` and the row norms ||M(i)||) besides its inputs, and its backward pass
is a few fused elementwise ops and reductions per equation:

    sharpen:  z = gamma L, L = log(w~ + 1e-12):  dz = w o (dw - <dw, w>),  dgamma = <dz, L>,
              dw~ = gamma dz / (w~ + 1e-12)
    shift:    dw^g(j) = sum_d s(d) dw~(j + d),  ds(d) = sum_i dw~(i) w^g(i - d)
    gate:     dw^c = g dw^g,  dw_{t-1} = (1 - g) dw^g,  dg = <dw^g, w^c - w_{t-1}>
    content:  dz^c = w^c o (dw^c - <dw^c, w^c>),  dbeta = <dz^c, K>,  dK = beta dz^c
    cosine:   with D = ||M(i)|| ||k|| + 1e-6:  d(M(i).k) = dK / D,  dD = -dK K / D,
              dk = sum_i d(M(i).k) M(i) + (sum_i dD(i) ||M(i)||) k / ||k||,
              dM(i) = sum_h d(M(i).k_h) k_h + (sum_h dD_h(i) ||k_h||) M(i) / ||M(i)||
    squashing: softplus' = sigmoid, sigmoid' = g (1 - g), softmax as above

A zero or tiny row or key (squared norm < 1e-30, `content.vector_norm`) has norm 0 and
passes no gradient through its norm, as `content.vector_norm` does.
"""
import jax
import jax.numpy as jnp

from memjax.addressing import content
from memjax.addressing.reductions import block_softmax, block_sum
from memjax.addressing.shift import shift_offsets
from memjax.addressing.sharpen import _EPSILON as _SHARPEN_EPSILON

_COSINE_EPSILON = content._EPSILON


def raw_head_size(word_size: int, shift_range: int) -> int:
  """Length of one head's raw parameters: key, strength, gate, sharpness, shift weights."""
  return word_size + 3 + 2 * shift_range + 1


def _squash(raw: jax.Array, word_size: int):
  key = raw[..., :word_size]
  strength = jax.nn.softplus(raw[..., word_size])
  gate = jax.nn.sigmoid(raw[..., word_size + 1])
  sharpness = 1.0 + jax.nn.softplus(raw[..., word_size + 2])
  shift = jax.nn.softmax(raw[..., word_size + 3:], axis=-1)
  return key, strength, gate, sharpness, shift


def _norm(x: jax.Array, axis: int = -1):
  """(||x||, 1 / ||x|| or 0 where tiny) over `axis`: `content.vector_norm`'s value with one
  reduction (jnp.linalg.norm is sqrt(sum(x * x)), so the value is the same bit for bit)."""
  squared = block_sum(x * x, axis=axis)
  is_tiny = squared < content._TINY_SQUARED_NORM
  norm = jnp.where(is_tiny, 0.0, jnp.sqrt(jnp.where(is_tiny, 1.0, squared)))
  return norm, _inverse(norm)


def _inverse(norm: jax.Array) -> jax.Array:
  """1 / norm, 0 where `_norm` found the vector tiny (its norm is 0 exactly there: a squared
  norm of at least the tiny bound has a positive root)."""
  return jnp.where(norm > 0, 1.0 / jnp.where(norm > 0, norm, 1.0), 0.0)


def _rolls(weights: jax.Array, offsets) -> list:
  """`[jnp.roll(weights, d, axis=-1) for d in offsets]`, each the sum of its two padded
  pieces, `[0.., w(0..N-1-d)] + [w(N-d..N-1), 0..]` (d > 0; mirrored for d < 0).

  Pads, slices and adds fuse into the kernel that consumes the roll; `jnp.roll` is two
  slices and a concatenation, which XLA on CPU runs as kernels of their own.
  """
  num_slots = weights.shape[-1]
  widths = [(0, 0)] * (weights.ndim - 1)

  def roll(d):
    d %= num_slots
    if d == 0:
      return weights
    moved = jnp.pad(weights[..., :num_slots - d], widths + [(d, 0)])
    wrapped = jnp.pad(weights[..., num_slots - d:], widths + [(0, num_slots - d)])
    return moved + wrapped
  return [roll(d) for d in offsets]


def _shift(weights: jax.Array, shift: jax.Array) -> jax.Array:
  """w~(i) = sum_d s(d) w(i - d) over the last axis (as `shift.circular_shift`)."""
  offsets = shift_offsets(shift.shape[-1] // 2)
  return sum(shift[..., k, None] * rolled
             for k, rolled in enumerate(_rolls(weights, offsets)))


def _forward(memory_t, previous, raw):
  word_size = memory_t.shape[-2]
  key, strength, gate, sharpness, shift = _squash(raw, word_size)
  memory_norm, _ = _norm(memory_t, axis=-2)                         # [..., N]
  key_norm, _ = _norm(key)                                          # [..., H]
  dot = jnp.einsum("...hm,...mn->...hn", key, memory_t)            # [..., H, N]
  cosine = dot / (key_norm[..., None] * memory_norm[..., None, :] + _COSINE_EPSILON)
  content_weights = block_softmax(strength[..., None] * cosine)
  gated = gate[..., None] * content_weights + (1.0 - gate[..., None]) * previous
  shifted = _shift(gated, shift)
  weights = block_softmax(sharpness[..., None] * jnp.log(shifted + _SHARPEN_EPSILON))
  return weights, (cosine, content_weights, gated, memory_norm)


def address_heads(memory: jax.Array, previous: jax.Array, raw: jax.Array) -> jax.Array:
  """NTM eq. 5-9 for every head at once.

  Args:
    memory: `[..., num_slots, word_size]` memory M (the heads share it).
    previous: `[..., num_heads, num_slots]` the heads' previous weightings w_{t-1}.
    raw: `[..., num_heads, word_size + 3 + 2 shift_range + 1]` unsquashed head parameters
      `[key, strength, gate, sharpness, shift]` (`raw_head_size`).

  Returns:
    `[..., num_heads, num_slots]` weightings w_t, each summing to one.
  """
  return address_heads_transposed(jnp.swapaxes(memory, -1, -2), previous, raw)


@jax.custom_vjp
def address_heads_transposed(memory_t: jax.Array, previous: jax.Array,
                             raw: jax.Array) -> jax.Array:
  """`address_heads` on M^T, `memory_t`: `[..., word_size, num_slots]`, as the NTM stores its
  memory (slots, the long axis, contiguous: cores/ntm.py). Same values."""
  return _forward(memory_t, previous, raw)[0]


def address_heads_forward(memory_t, previous, raw):
  """`address_heads_transposed`'s weightings and what its backward pass needs,
  `(weights, residuals)`.

  The residuals are the inputs, the packed `[K, w^c, w^g, w]` `[..., H, 4, N]` and the row
  norms ||M(i)|| `[..., N]` (for `address_heads_backward`, or a fused op that builds on it:
  memory/ntm_access.py).
  """
  weights, (cosine, content_weights, gated, memory_norm) = _forward(memory_t, previous, raw)
  # One stacked residual (one write per time step inside a scan) instead of four.
  packed = jnp.stack([cosine, content_weights, gated, weights], axis=-2)  # [..., H, 4, N]
  return weights, (memory_t, previous, raw, packed, memory_norm)


def _softmax_vjp(probabilities, cotangent):
  return probabilities * (cotangent - block_sum(cotangent * probabilities, keepdims=True))


def address_heads_backward(residuals, d_weights):
  """(dM^T, dw_{t-1}, d raw) from `address_heads_forward`'s residuals and dw (the equations
  of the module docstring)."""
  memory_t, previous, raw, packed, memory_norm = residuals
  cosine, content_weights, gated, weights = (packed[..., i, :] for i in range(4))
  word_size = memory_t.shape[-2]
  key, strength, gate, sharpness, shift = _squash(raw, word_size)
  shift_range = shift.shape[-1] // 2
  offsets = shift_offsets(shift_range)

  # Sharpening: w = softmax(gamma L), L = log(w~ + eps).
  shifted = _shift(gated, shift)
  log_shifted = jnp.log(shifted + _SHARPEN_EPSILON)
  d_logits = _softmax_vjp(weights, d_weights)
  d_sharpness = block_sum(d_logits * log_shifted)
  d_shifted = sharpness[..., None] * d_logits / (shifted + _SHARPEN_EPSILON)
  # Circular shift: w~(i) = sum_d s(d) w^g(i - d).
  d_gated = sum(shift[..., k, None] * rolled
                for k, rolled in enumerate(_rolls(d_shifted, [-d for d in offsets])))
  d_shift = jnp.stack([block_sum(d_shifted * rolled) for rolled in _rolls(gated, offsets)],
                      axis=-1)
  # Interpolation gate.
  d_content = gate[..., None] * d_gated
  d_previous = (1.0 - gate[..., None]) * d_gated
  d_gate = block_sum(d_gated * (content_weights - previous))
  # Content weighting: w^c = softmax(beta K).
  d_content_logits = _softmax_vjp(content_weights, d_content)
  d_strength = block_sum(d_content_logits * cosine)
  d_cosine = strength[..., None] * d_content_logits
  # Cosine similarity K = (k . M(i)) / D, D = ||k|| ||M(i)|| + eps.
  key_norm, key_inverse = _norm(key)
  memory_inverse = _inverse(memory_norm)  # from the saved norms: no other pass over memory
  denominator = key_norm[..., None] * memory_norm[..., None, :] + _COSINE_EPSILON
  d_dot = d_cosine / denominator
  d_denominator = -d_dot * cosine
  d_key_norm = block_sum(d_denominator * memory_norm[..., None, :])            # [..., H]
  d_memory_norm = jnp.sum(d_denominator * key_norm[..., None], axis=-2)        # [..., N]
  d_key = (jnp.einsum("...hn,...mn->...hm", d_dot, memory_t)
           + (d_key_norm * key_inverse)[..., None] * key)
  d_memory_t = (jnp.einsum("...hn,...hm->...mn", d_dot, key)
                + (d_memory_norm * memory_inverse)[..., None, :] * memory_t)
  # Squashing of the raw parameters.
  d_raw = jnp.concatenate([
      d_key,
      (d_strength * jax.nn.sigmoid(raw[..., word_size]))[..., None],
      (d_gate * gate * (1.0 - gate))[..., None],
      (d_sharpness * jax.nn.sigmoid(raw[..., word_size + 2]))[..., None],
      _softmax_vjp(shift, d_shift)], axis=-1)
  # Cotangents in the primals' dtypes (raw may be float32 while memory is wider).
  return (d_memory_t.astype(memory_t.dtype), d_previous.astype(previous.dtype),
          d_raw.astype(raw.dtype))


address_heads_transposed.defvjp(address_heads_forward, address_heads_backward)
