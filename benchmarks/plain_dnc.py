"""A plain JAX DNC on copy, written without memjax: the reference that `core_speed.py` times.

Same sizes and equations as `memjax.cores.DNC` (Graves et al. 2016, Methods) with one
write head and R read heads; LSTM controller, interface xi = W h + b:

    u_t = (u + w^w_{t-1} - u o w^w_{t-1}) o prod_i (1 - f^i w^{r,i}_{t-1})
    a_t[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]],  phi = argsort(u)
    w^w = g^w [g^a a + (1 - g^a) softmax(beta^w cos(M, k^w))],  M = M o (1 - w^w e^T) + w^w v^T
    L = (1 - w^w_i - w^w_j) L + w^w_i p_j (zero diagonal),  p = (1 - sum w^w) p + w^w
    w^r = pi_1 L^T w^r + pi_2 softmax(beta^r cos(M, k^r)) + pi_3 L w^r,  r = w^r M

One example is a function of unbatched arrays; `jax.vmap` adds the batch, one
`lax.scan` runs time, optax's Adam (global-norm clipping 10) updates the parameters.
"""
import itertools

import jax
import jax.numpy as jnp
import optax

from plain_ntm import copy_batch


def interface_sizes(reads, word):
  return [reads * word, reads, word, 1, word, word, reads, 1, 1, reads * 3]


def init_params(rng, num_bits=8, hidden=64, slots=32, word=16, reads=1):
  """Dense layers as flax's defaults: lecun-normal kernels, zero biases."""
  del slots  # the parameters do not depend on the number of slots
  sizes = {"lstm": (num_bits + 1 + reads * word + hidden, 4 * hidden),
           "interface": (hidden, sum(interface_sizes(reads, word))),
           "out": (hidden + reads * word, num_bits)}
  keys = jax.random.split(rng, len(sizes))
  return {name: {"w": jax.random.normal(k, shape) / jnp.sqrt(shape[0]), "b": jnp.zeros(shape[1])}
          for k, (name, shape) in zip(keys, sizes.items())}


def norm(x):
  """||x|| with a zero gradient at x = 0 (the memory starts at zero)."""
  squared = jnp.sum(x * x, -1)
  tiny = squared < 1e-30
  return jnp.where(tiny, 0.0, jnp.sqrt(jnp.where(tiny, 1.0, squared)))


def content(memory, keys, beta):
  """keys [K, W], beta [K] -> [K, N]."""
  cos = keys @ memory.T / (norm(keys)[:, None] * norm(memory)[None] + 1e-6)
  return jax.nn.softmax(beta[:, None] * cos, -1)


def allocation(usage):
  usage = 1e-6 + (1 - 1e-6) * usage
  order = jnp.argsort(usage, stable=True)
  sorted_usage = usage[order]
  before = jnp.concatenate([jnp.ones(1), jnp.cumprod(sorted_usage[:-1])])
  return jnp.zeros_like(usage).at[order].set((1 - sorted_usage) * before)


def step(params, carry, x):
  """carry = (h, c, memory [N, W], w_read [R, N], w_write [N], link [N, N], precedence [N],
  usage [N], reads [R, W])."""
  h, c, memory, w_read, w_write, link, precedence, usage, reads = carry
  num_reads, word = reads.shape
  gates = jnp.concatenate([x, reads.reshape(-1), h]) @ params["lstm"]["w"] + params["lstm"]["b"]
  i, f, g, o = jnp.split(gates, 4)
  c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  out = jnp.clip(h, -20.0, 20.0)
  xi = out @ params["interface"]["w"] + params["interface"]["b"]
  parts = jnp.split(xi, list(itertools.accumulate(interface_sizes(num_reads, word)))[:-1])
  read_keys, read_beta = parts[0].reshape(num_reads, word), 1 + jax.nn.softplus(parts[1])
  write_key, write_beta = parts[2], 1 + jax.nn.softplus(parts[3])
  erase, vector = jax.nn.sigmoid(parts[4]), parts[5]
  free, alloc_gate, write_gate = (jax.nn.sigmoid(p) for p in parts[6:9])
  modes = jax.nn.softmax(parts[9].reshape(num_reads, 3), -1)
  written = jax.lax.stop_gradient(w_write)
  usage = (usage + written - usage * written) * jnp.prod(1 - free[:, None] * w_read, 0)
  w_write = write_gate * (alloc_gate * allocation(usage)
                          + (1 - alloc_gate) * content(memory, write_key[None], write_beta)[0])
  memory = memory * (1 - w_write[:, None] * erase[None]) + w_write[:, None] * vector[None]
  link = ((1 - w_write[:, None] - w_write[None]) * link + w_write[:, None] * precedence[None]) \
      * (1 - jnp.eye(link.shape[0]))
  precedence = (1 - jnp.sum(w_write)) * precedence + w_write
  w_read = (modes[:, :1] * (w_read @ link) + modes[:, 1:2] * content(memory, read_keys, read_beta)
            + modes[:, 2:] * (w_read @ link.T))
  reads = w_read @ memory
  y = jnp.concatenate([out, reads.reshape(-1)]) @ params["out"]["w"] + params["out"]["b"]
  return (h, c, memory, w_read, w_write, link, precedence, usage, reads), jnp.clip(y, -20, 20)


def loss_fn(params, inputs, targets, mask, slots=32):
  hidden = params["interface"]["w"].shape[0]
  word = params["out"]["w"].shape[0] - hidden  # one read head: [h, r] is hidden + word wide
  zeros = jnp.zeros
  carry = (zeros(hidden), zeros(hidden), zeros((slots, word)), zeros((1, slots)), zeros(slots),
           zeros((slots, slots)), zeros(slots), zeros(slots), zeros((1, word)))
  run = lambda xs: jax.lax.scan(lambda c, x: step(params, c, x), carry, xs)[1]
  logits = jax.vmap(run)(inputs)
  per_bit = optax.sigmoid_binary_cross_entropy(logits, targets)
  return jnp.sum(per_bit.sum(-1) * mask) / (jnp.maximum(mask.sum(), 1.0) * logits.shape[-1])


def make_train_step(batch, slots=32, learning_rate=5e-3, max_length=20):
  """A jitted `(params, opt_state, rng) -> (params, opt_state, loss)` and the optimizer."""
  optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(learning_rate))

  def train_step(params, opt_state, rng):
    inputs, targets, mask = copy_batch(rng, batch, max_length=max_length)
    loss, grads = jax.value_and_grad(loss_fn)(params, inputs, targets, mask, slots)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(train_step, donate_argnums=(0, 1)), optimizer
