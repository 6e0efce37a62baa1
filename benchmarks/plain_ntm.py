"""A plain JAX NTM on copy, written without memjax: the reference that `core_speed.py` times.

Same sizes and equations as `memjax.cores.NTM` with an LSTM controller (Graves et al. 2014):

    [i, f, g, o] = W [x_t, r_{t-1}, h_{t-1}] + b,   c = s(f + 1) c + s(i) tanh(g),  h = s(o) tanh(c)
    w^c = softmax(beta cos(k, M)),  w^g = g w^c + (1 - g) w_{t-1}
    w~(i) = sum_d s(d) w^g(i - d),  w = softmax(gamma log(w~ + 1e-12))
    M_t = M_{t-1} o (1 - w e^T) + w a^T,  r_t = w^T M_t,  y_t = V [h_t, r_t]

one write head addressed on M_{t-1}, then one read head on M_t. One example is a
function of unbatched arrays; `jax.vmap` adds the batch, one `lax.scan` runs time,
and optax's Adam (global-norm clipping 10) updates the parameters. The copy batch
(random bits, lengths 1..max_length, padded to 2 max_length + 1 steps) is drawn
inside the jitted step, as memjax's trainer does.
"""
import jax
import jax.numpy as jnp
import optax


def init_params(rng, num_bits=8, hidden=100, slots=128, word=20, shifts=3):
  """Dense layers as flax's defaults: lecun-normal kernels, zero biases."""
  del slots  # the parameters do not depend on the number of slots
  head = word + 3 + shifts
  sizes = {"lstm": (num_bits + 1 + word + hidden, 4 * hidden),
           "heads": (hidden, 2 * head + 2 * word), "out": (hidden + word, num_bits)}
  keys = jax.random.split(rng, len(sizes))
  return {name: {"w": jax.random.normal(k, shape) / jnp.sqrt(shape[0]), "b": jnp.zeros(shape[1])}
          for k, (name, shape) in zip(keys, sizes.items())}


def address(memory, previous, key, beta, gate, shift, gamma):
  cos = memory @ key / (jnp.linalg.norm(memory, axis=-1) * jnp.linalg.norm(key) + 1e-6)
  w = gate * jax.nn.softmax(beta * cos) + (1.0 - gate) * previous
  w = sum(shift[k] * jnp.roll(w, k - 1) for k in range(3))
  return jax.nn.softmax(gamma * jnp.log(w + 1e-12))


def split_head(p, word):
  return (p[:word], jax.nn.softplus(p[word]), jax.nn.sigmoid(p[word + 1]),
          jax.nn.softmax(p[word + 3:]), 1.0 + jax.nn.softplus(p[word + 2]))


def step(params, carry, x):
  """One example's step: carry = (h, c, memory [N, M], w_read [N], w_write [N], read [M])."""
  h, c, memory, w_read, w_write, read = carry
  word = memory.shape[1]
  gates = jnp.concatenate([x, read, h]) @ params["lstm"]["w"] + params["lstm"]["b"]
  i, f, g, o = jnp.split(gates, 4)
  c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  out = jnp.clip(h, -20.0, 20.0)
  p = out @ params["heads"]["w"] + params["heads"]["b"]
  head = (p.shape[0] - 2 * word) // 2
  w_write = address(memory, w_write, *split_head(p[head:2 * head], word))
  erase, add = jax.nn.sigmoid(p[2 * head:2 * head + word]), p[2 * head + word:]
  memory = memory * (1.0 - w_write[:, None] * erase[None]) + w_write[:, None] * add[None]
  w_read = address(memory, w_read, *split_head(p[:head], word))
  read = w_read @ memory
  y = jnp.concatenate([out, read]) @ params["out"]["w"] + params["out"]["b"]
  return (h, c, memory, w_read, w_write, read), y


def copy_batch(rng, batch, num_bits=8, max_length=20):
  """inputs [B, T, num_bits + 1], targets [B, T, num_bits], mask [B, T]; T = 2 max_length + 1."""
  length_rng, bits_rng = jax.random.split(rng)
  lengths = jax.random.randint(length_rng, (batch, 1), 1, max_length + 1)
  bits = jax.random.bernoulli(bits_rng, 0.5, (batch, max_length, num_bits)).astype(jnp.float32)
  t = jnp.arange(2 * max_length + 1)[None]
  padded = jnp.pad(bits, ((0, 0), (0, max_length + 1), (0, 0)))
  inputs = jnp.concatenate([padded * (t < lengths)[..., None],
                            (t == lengths)[..., None].astype(jnp.float32)], -1)
  targets = jnp.take_along_axis(padded, jnp.clip(t - lengths - 1, 0)[..., None], 1)
  mask = ((t > lengths) & (t <= 2 * lengths)).astype(jnp.float32)
  return inputs, targets * mask[..., None], mask


def loss_fn(params, inputs, targets, mask, slots=128):
  word, hidden = params["out"]["w"].shape[0] - params["heads"]["w"].shape[0], \
      params["heads"]["w"].shape[0]
  focus = jax.nn.one_hot(0, slots)
  memory = jnp.full((slots, word), 1e-6)
  carry = (jnp.zeros(hidden), jnp.zeros(hidden), memory, focus, focus, focus @ memory)
  run = lambda xs: jax.lax.scan(lambda c, x: step(params, c, x), carry, xs)[1]
  logits = jax.vmap(run)(inputs)
  per_bit = optax.sigmoid_binary_cross_entropy(logits, targets)
  return jnp.sum(per_bit.sum(-1) * mask) / (jnp.maximum(mask.sum(), 1.0) * logits.shape[-1])


def make_train_step(batch, slots=128, learning_rate=5e-3, max_length=20):
  """A jitted `(params, opt_state, rng) -> (params, opt_state, loss)` and the optimizer."""
  optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(learning_rate))

  def train_step(params, opt_state, rng):
    inputs, targets, mask = copy_batch(rng, batch, max_length=max_length)
    loss, grads = jax.value_and_grad(loss_fn)(params, inputs, targets, mask, slots)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(train_step, donate_argnums=(0, 1)), optimizer
