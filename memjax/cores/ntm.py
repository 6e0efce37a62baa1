"""The Neural Turing Machine core (Graves et al. 2014; Collier & Beel 2018).

One step, for each head h (reads and writes alike):

    w^c = softmax(beta K[k, M_{t-1}])          content addressing  (addressing/content.py)
    w^g = g w^c + (1 - g) w_{t-1}               interpolation       (addressing/interpolation.py)
    w~(i) = sum_j w^g(j) s((i - j) mod N)      circular shift      (addressing/shift.py)
    w(i) = w~(i)^gamma / sum_j w~(j)^gamma      sharpening          (addressing/sharpen.py)

then the write heads update memory, M_t = M_{t-1} o prod(1 - w e^T) + sum w a^T,
and the read heads read the new memory, r = sum_i w(i) M_t(i) (memory/read_write.py).
The controller sees `[x_t, r_{t-1}]`; the output is `W [controller_out_t, r_t]`.
"""
import math
from typing import Any, NamedTuple, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax import addressing
from memjax.cores.base import MemoryCore
from memjax.cores.recurrent import LSTM, dense_dot_general, lstm_zero_state
from memjax.errors import ConfigError
from memjax.memory import ntm_access

MEMORY_INITS = ("constant", "learned", "random")
CONTROLLERS = ("lstm", "feedforward")
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Collier & Beel 2018 initialise memory to this constant; it converged fastest.
_CONSTANT_MEMORY_VALUE = 1e-6


class NTMState(NamedTuple):
  """NTM carry; leading dims are batch.

  Attributes:
    controller: the controller's state (an `LSTMState`, or `()` for feed-forward).
    memory_transposed: `[batch, word_size, memory_size]` memory M_t, stored transposed
      (word-major) so that the slots, the long axis, are contiguous: every elementwise pass
      over memory (erase/add, row norms and their gradients) then vectorises along them,
      3-5x faster on CPU than along a 20-wide word (docs/benchmarks.md). `memory` reads it
      the paper's way round.
    read_weights: `[batch, num_read_heads, memory_size]`.
    write_weights: `[batch, num_write_heads, memory_size]`.
    reads: `[batch, num_read_heads, word_size]` the last read vectors r_t.
  """
  controller: Any
  memory_transposed: jax.Array
  read_weights: jax.Array
  write_weights: jax.Array
  reads: jax.Array

  @property
  def memory(self) -> jax.Array:
    """`[..., memory_size, word_size]` M_t (a transposed copy: for reading, not for loops)."""
    return jnp.swapaxes(self.memory_transposed, -1, -2)


class HeadParams(NamedTuple):
  """Addressing parameters of a set of heads, `[..., num_heads, ...]`, already squashed."""
  key: jax.Array        # [..., heads, word_size]
  strength: jax.Array   # [..., heads] beta >= 0
  gate: jax.Array       # [..., heads] g in [0, 1]
  shift: jax.Array      # [..., heads, 2 * shift_range + 1], sums to one
  sharpness: jax.Array  # [..., heads] gamma >= 1


def address(memory: jax.Array, previous_weights: jax.Array, head: HeadParams) -> jax.Array:
  """NTM eq. 5-9 for one head on unbatched arrays.

  Args:
    memory: `[memory_size, word_size]`.
    previous_weights: `[memory_size]` w_{t-1}.
    head: one head's `HeadParams` (key `[word_size]`, scalars, shift `[2s+1]`).

  Returns:
    `[memory_size]` weighting w_t.
  """
  content = addressing.content_weights(memory, head.key, head.strength)
  gated = addressing.interpolate(content, previous_weights, head.gate)
  shifted = addressing.circular_shift(gated, head.shift)
  return addressing.sharpen(shifted, head.sharpness)



class NTM(MemoryCore):
  """Neural Turing Machine with any number of read and write heads.

  Attributes:
    output_size: logits per step.
    memory_size: N, number of memory slots.
    word_size: M, width of a slot.
    num_read_heads / num_write_heads: number of heads of each kind.
    controller: "lstm" or "feedforward".
    controller_size: controller hidden units.
    shift_range: heads may move by -shift_range..shift_range slots per step.
    memory_init: "constant" (1e-6, Collier & Beel's best), "learned", or
      "random" (N(0, 0.5^2), redrawn from the carry's rng).
    clip_value: controller outputs are clipped to [-clip_value, clip_value]
      (Collier & Beel: stops saturation early in training); 0 disables.
    compute_dtype: "float32" or "bfloat16" for the controller's and the
      projections' matmuls (mixed precision); parameters, memory, weightings
      and addressing stay float32, where small differences compound over time.
  """
  output_size: int
  memory_size: int = 128
  word_size: int = 20
  num_read_heads: int = 1
  num_write_heads: int = 1
  controller: str = "lstm"
  controller_size: int = 100
  shift_range: int = 1
  memory_init: str = "constant"
  clip_value: float = 20.0
  compute_dtype: str = "float32"

  def _check(self):
    def fail(message):
      raise ConfigError(f"NTM: {message}")
    if self.memory_size < 1 or self.word_size < 1:
      fail(f"model.memory_size={self.memory_size} and model.word_size={self.word_size} must be >= 1")
    if self.num_read_heads < 1:
      fail(f"model.num_read_heads={self.num_read_heads} must be >= 1 (the output reads memory)")
    if self.num_write_heads < 1:  # without one, memory keeps its initial value: an LSTM
      fail(f"model.num_write_heads={self.num_write_heads} must be >= 1 (memory is only read "
           "after it is written)")
    if self.shift_range < 0 or 2 * self.shift_range + 1 > self.memory_size:
      fail(f"model.shift_range={self.shift_range} needs 0 <= 2*shift_range+1 <= "
           f"model.memory_size={self.memory_size}")
    if self.memory_init not in MEMORY_INITS:
      fail(f"model.memory_init={self.memory_init!r} is not one of {MEMORY_INITS}")
    if self.controller not in CONTROLLERS:
      fail(f"model.controller={self.controller!r} is not one of {CONTROLLERS}")
    if self.controller_size < 1:
      fail(f"model.controller_size={self.controller_size} must be >= 1")
    if not math.isfinite(self.clip_value) or self.clip_value < 0:
      fail(f"model.clip_value={self.clip_value} must be a finite number >= 0 (0 disables "
           "clipping)")
    if self.compute_dtype not in COMPUTE_DTYPES:
      fail(f"model.compute_dtype={self.compute_dtype!r} is not one of {tuple(COMPUTE_DTYPES)}")

  def setup(self):
    self._check()
    dtype = COMPUTE_DTYPES[self.compute_dtype]
    if self.controller == "lstm":
      self.controller_net = LSTM(self.controller_size, dtype=dtype)
    else:
      self.controller_net = nn.Dense(self.controller_size, dtype=dtype)
    num_shifts = 2 * self.shift_range + 1
    # key, strength, gate, shift, sharpness per head; writes add erase and add vectors.
    self._address_size = self.word_size + 3 + num_shifts
    num_heads = self.num_read_heads + self.num_write_heads
    # dense_dot_general: the backward pass multiplies by a stored kernel^T (recurrent.py).
    self.head_projection = nn.Dense(
        num_heads * self._address_size + self.num_write_heads * 2 * self.word_size, dtype=dtype,
        dot_general=dense_dot_general)
    self.readout = nn.Dense(self.output_size, dtype=dtype, dot_general=dense_dot_general)
    if self.memory_init == "learned":
      self.initial_memory = self.param(
          "initial_memory", nn.initializers.normal(0.1), (self.memory_size, self.word_size))

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> NTMState:
    batch_dims = tuple(input_shape[:-1])
    shape = batch_dims + (self.memory_size, self.word_size)
    if self.memory_init == "constant":
      memory = jnp.full(shape, _CONSTANT_MEMORY_VALUE, jnp.float32)
    elif self.memory_init == "learned":
      memory = jnp.broadcast_to(self.initial_memory, shape)
    else:  # drawn [slots, word], as before the transposed layout: the same memory per seed
      memory = 0.5 * jax.random.normal(rng, shape, jnp.float32)
    # Heads start focused on slot 0 so that location-based moves have a start.
    focus = jax.nn.one_hot(0, self.memory_size)
    read_weights = jnp.broadcast_to(focus, batch_dims + (self.num_read_heads, self.memory_size))
    write_weights = jnp.broadcast_to(focus, batch_dims + (self.num_write_heads, self.memory_size))
    reads = jnp.einsum("...hn,...nm->...hm", read_weights, memory)
    if self.controller == "lstm":
      controller_state = lstm_zero_state(batch_dims, self.controller_size)
    else:
      controller_state = ()
    return NTMState(controller_state, jnp.swapaxes(memory, -1, -2), read_weights, write_weights,
                    reads)

  def __call__(self, carry: NTMState, inputs: jax.Array) -> Tuple[NTMState, jax.Array]:
    if inputs.ndim != 2:
      raise ValueError(f"NTM step expects inputs [batch, features], got shape {inputs.shape}; "
                       "use jax.vmap for extra leading axes")
    batch = inputs.shape[0]
    controller_inputs = jnp.concatenate([inputs, carry.reads.reshape(batch, -1)], axis=-1)
    if self.controller == "lstm":
      controller_state, controller_out = self.controller_net(carry.controller, controller_inputs)
    else:
      controller_state, controller_out = (), jnp.tanh(
          self.controller_net(controller_inputs).astype(jnp.float32))
    if self.clip_value > 0:
      controller_out = jnp.clip(controller_out, -self.clip_value, self.clip_value)

    projected = self.head_projection(controller_out).astype(jnp.float32)
    num_heads = self.num_read_heads + self.num_write_heads
    num_address = num_heads * self._address_size
    # [batch, heads, address_size], unsquashed: every head of a kind is addressed in one
    # batched op, and the step's whole memory access (write addressing, erase/add, read
    # addressing, read) is one op with a hand-written backward pass that keeps M_{t-1}
    # alone per time step (memory/ntm_access.py).
    raw_heads = projected[:, :num_address].reshape(batch, num_heads, self._address_size)
    erase, add = jnp.split(
        projected[:, num_address:].reshape(batch, self.num_write_heads, 2 * self.word_size),
        2, axis=-1)
    memory_t, write_weights, read_weights, reads = ntm_access.write_then_read(
        carry.memory_transposed, carry.write_weights, carry.read_weights,
        raw_heads[:, self.num_read_heads:], raw_heads[:, :self.num_read_heads],
        jax.nn.sigmoid(erase), add)

    outputs = self.readout(jnp.concatenate([controller_out, reads.reshape(batch, -1)], axis=-1))
    outputs = outputs.astype(jnp.float32)
    return NTMState(controller_state, memory_t, read_weights, write_weights, reads), outputs
