"""The Differentiable Neural Computer core (Graves et al., Nature 2016, Methods).

One step, given the controller's interface vector xi_t (module doing it on the right):

    u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1})
          o prod_i (1 - f^i_t w^{r,i}_{t-1})                usage        allocation.py
    a_t = allocation from u_t sorted ascending              allocation   allocation.py
    c^w_t = C(M_{t-1}, k^w_t, beta^w_t)                     content      content.py
    w^w_t = g^w_t [g^a_t a_t + (1 - g^a_t) c^w_t]           write weighting
    M_t = M_{t-1} o (1 - w^w_t e_t^T) + w^w_t v_t^T         erase/add    read_write.py
    L_t, p_t from w^w_t                                     linkage      temporal_linkage.py
    f^i_t = L_t w^{r,i}_{t-1},  b^i_t = L_t^T w^{r,i}_{t-1} directions   temporal_linkage.py
    c^{r,i}_t = C(M_t, k^{r,i}_t, beta^{r,i}_t)             content      content.py
    w^{r,i}_t = pi^i_t[1] b^i_t + pi^i_t[2] c^{r,i}_t + pi^i_t[3] f^i_t
    r^i_t = M_t^T w^{r,i}_t                                 read         read_write.py

The controller (an LSTM) sees `[x_t, r_{t-1}]`; the output is
`W [controller_out_t, r_t]`. Squashing as in the paper: strengths
beta = oneplus(.) = 1 + softplus(.), gates and erase vectors sigmoid, read
modes softmax. With several write heads (DeepMind's `dnc`), each has its own
allocation, link matrix and precedence, and each read head has
1 + 2 * num_write_heads read modes.
"""
import itertools
import math
from typing import NamedTuple, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax import addressing
from memjax.addressing import allocation
from memjax.addressing import temporal_linkage
from memjax.addressing.temporal_linkage import TemporalLinkageState
from memjax.cores.base import MemoryCore
from memjax.cores.recurrent import LSTM, LSTMState, dense_dot_general, lstm_zero_state
from memjax.errors import ConfigError
from memjax.memory import read_write


class AccessState(NamedTuple):
  """The DNC's memory and its addressing state; leading dims are batch.

  Attributes:
    memory_transposed: `[batch, word_size, memory_size]` M_t^T: memory stored word-major, as
      the NTM keeps it (cores/ntm.py), so that slots are the contiguous axis and elementwise
      passes over memory vectorise along them. `memory` reads it the paper's way round.
    read_weights: `[batch, num_read_heads, memory_size]` w^r_t.
    write_weights: `[batch, num_write_heads, memory_size]` w^w_t.
    linkage: `TemporalLinkageState` (link `[batch, num_write_heads, N, N]`,
      precedence `[batch, num_write_heads, N]`).
    usage: `[batch, memory_size]` u_t.
  """
  memory_transposed: jax.Array
  read_weights: jax.Array
  write_weights: jax.Array
  linkage: TemporalLinkageState
  usage: jax.Array

  @property
  def memory(self) -> jax.Array:
    """`[..., memory_size, word_size]` M_t (a transposed copy: for reading, not for loops)."""
    return jnp.swapaxes(self.memory_transposed, -1, -2)


class DNCState(NamedTuple):
  """DNC carry; leading dims are batch.

  Attributes:
    controller: the LSTM controller's `LSTMState`.
    access: the `AccessState`.
    reads: `[batch, num_read_heads, word_size]` the last read vectors r_t.
  """
  controller: LSTMState
  access: AccessState
  reads: jax.Array


class Interface(NamedTuple):
  """The interface vector xi_t, split and squashed; unbatched shapes shown.

  R = num_read_heads, H = num_write_heads, W = word_size.
  """
  read_keys: jax.Array          # [R, W]      k^r
  read_strengths: jax.Array     # [R]         beta^r >= 1
  write_keys: jax.Array         # [H, W]      k^w
  write_strengths: jax.Array    # [H]         beta^w >= 1
  erase_vectors: jax.Array      # [H, W]      e in [0, 1]
  write_vectors: jax.Array      # [H, W]      v
  free_gates: jax.Array         # [R]         f in [0, 1]
  allocation_gates: jax.Array   # [H]         g^a in [0, 1]
  write_gates: jax.Array        # [H]         g^w in [0, 1]
  read_modes: jax.Array         # [R, 1 + 2H] pi: backward (H), content (1), forward (H); sums to 1


def interface_size(num_read_heads: int, num_write_heads: int, word_size: int) -> int:
  """Length of the raw interface vector xi_t."""
  reads, writes = num_read_heads, num_write_heads
  return (reads * word_size + reads + writes * word_size + writes + 2 * writes * word_size
          + reads + 2 * writes + reads * (1 + 2 * writes))


def split_interface(flat: jax.Array, num_read_heads: int, num_write_heads: int,
                    word_size: int) -> Interface:
  """`[..., interface_size]` raw controller projection -> squashed `Interface`."""
  reads, writes = num_read_heads, num_write_heads
  sizes = [reads * word_size, reads, writes * word_size, writes, writes * word_size,
           writes * word_size, reads, writes, writes, reads * (1 + 2 * writes)]
  if flat.shape[-1] != sum(sizes):
    raise ValueError(f"interface vector has {flat.shape[-1]} features, expected {sum(sizes)} "
                     f"for {reads} read heads, {writes} write heads, word_size {word_size}")
  parts = jnp.split(flat, list(itertools.accumulate(sizes))[:-1], axis=-1)
  lead = flat.shape[:-1]

  def heads(x, num):
    return x.reshape(lead + (num, -1))

  oneplus = lambda x: 1.0 + jax.nn.softplus(x)
  return Interface(
      read_keys=heads(parts[0], reads),
      read_strengths=oneplus(parts[1]),
      write_keys=heads(parts[2], writes),
      write_strengths=oneplus(parts[3]),
      erase_vectors=jax.nn.sigmoid(heads(parts[4], writes)),
      write_vectors=heads(parts[5], writes),
      free_gates=jax.nn.sigmoid(parts[6]),
      allocation_gates=jax.nn.sigmoid(parts[7]),
      write_gates=jax.nn.sigmoid(parts[8]),
      read_modes=jax.nn.softmax(heads(parts[9], reads), axis=-1))


# The DNC's memory starts at zero and a controller that has seen only zeros emits
# zero keys; `addressing.content_weights_transposed` gives those similarity 0 with a finite
# gradient (`addressing.content.vector_norm`), so no guard is needed here.


def write_weights(memory_t: jax.Array, usage: jax.Array, interface: Interface) -> jax.Array:
  """w^w = g^w [g^a a + (1 - g^a) c^w] for every write head, unbatched.

  Args:
    memory_t: `[word_size, memory_size]` M_{t-1}^T.
    usage: `[memory_size]` u_t.
    interface: unbatched `Interface`.

  Returns:
    `[num_write_heads, memory_size]` write weightings.
  """
  content = addressing.content_weights_transposed(memory_t, interface.write_keys,
                                                  interface.write_strengths)
  alloc = allocation.write_allocation_weights(
      usage, interface.allocation_gates * interface.write_gates)
  allocation_gate = interface.allocation_gates[:, None]
  return interface.write_gates[:, None] * (
      allocation_gate * alloc + (1.0 - allocation_gate) * content)


def read_weights(memory_t: jax.Array, forward: jax.Array, backward: jax.Array,
                 interface: Interface) -> jax.Array:
  """w^r = sum_h pi[h] b_h + pi[H] c^r + sum_h pi[H + 1 + h] f_h for every read head, unbatched.

  Args:
    memory_t: `[word_size, memory_size]` M_t^T (after this step's write).
    forward: `[num_read_heads, num_write_heads, memory_size]` f = L_t w^r_{t-1}.
    backward: `[num_read_heads, num_write_heads, memory_size]` b = L_t^T w^r_{t-1}.
    interface: unbatched `Interface`.

  Returns:
    `[num_read_heads, memory_size]` read weightings.
  """
  num_writes = forward.shape[1]
  content = addressing.content_weights_transposed(memory_t, interface.read_keys,
                                                  interface.read_strengths)
  modes = interface.read_modes
  backward_mode = modes[:, :num_writes, None]
  content_mode = modes[:, num_writes, None]
  forward_mode = modes[:, num_writes + 1:, None]
  return (jnp.sum(backward_mode * backward, axis=1) + content_mode * content
          + jnp.sum(forward_mode * forward, axis=1))


def access_step(state: AccessState, interface: Interface) -> Tuple[AccessState, jax.Array]:
  """One DNC memory step (usage, write, linkage, read) on unbatched arrays.

  Args:
    state: unbatched `AccessState` at t - 1.
    interface: unbatched `Interface` xi_t.

  Returns:
    `(state_t, reads)` with reads `[num_read_heads, word_size]`.
  """
  # As in DeepMind's dnc: usage does not pass gradients back into the previous
  # write weights (it is bookkeeping for allocation, and the paper's
  # experiments used it so).
  usage = allocation.update_usage(state.usage, jax.lax.stop_gradient(state.write_weights),
                                  interface.free_gates, state.read_weights)
  new_write_weights = write_weights(state.memory_transposed, usage, interface)
  memory_t = read_write.erase_and_add_transposed(state.memory_transposed, new_write_weights,
                                                 interface.erase_vectors, interface.write_vectors)
  linkage, forward, backward = temporal_linkage.update_and_follow_links(
      state.linkage, new_write_weights, state.read_weights)
  new_read_weights = read_weights(memory_t, forward, backward, interface)
  reads = read_write.read_transposed(memory_t, new_read_weights)
  return AccessState(memory_t, new_read_weights, new_write_weights, linkage, usage), reads


# Rematerialised in the backward pass (jax.checkpoint): a `lax.scan` over time then keeps
# the step's inputs (M_{t-1}, L_{t-1} and [N]-sized vectors) instead of every intermediate.
# On CPU, writing those per-step residuals costs about what recomputing the step does:
# 0.59 against 0.65 ms per sequence at batch 256, within 2% at batch 16-64 (interleaved
# rounds in one process), for less memory held per time step.
_access_step_batch = jax.checkpoint(jax.vmap(access_step))


class DNC(MemoryCore):
  """Differentiable Neural Computer with an LSTM controller.

  Attributes:
    output_size: logits per step.
    memory_size: N, number of memory slots.
    word_size: W, width of a slot.
    num_read_heads: R read heads.
    num_write_heads: write heads (the paper uses 1).
    controller_size: LSTM hidden units.
    clip_value: controller outputs and the core's outputs are clipped to
      [-clip_value, clip_value] (DeepMind's dnc: stops early saturation); 0 disables.
  """
  output_size: int
  memory_size: int = 16
  word_size: int = 16
  num_read_heads: int = 4
  num_write_heads: int = 1
  controller_size: int = 64
  clip_value: float = 20.0

  def _check(self):
    def fail(message):
      raise ConfigError(f"DNC: {message}")
    if self.output_size < 1:
      fail(f"output_size={self.output_size} (the task's output width) must be >= 1")
    if self.memory_size < 1 or self.word_size < 1:
      fail(f"model.memory_size={self.memory_size} and model.word_size={self.word_size} "
           "must be >= 1")
    if self.num_read_heads < 1:
      fail(f"model.num_read_heads={self.num_read_heads} must be >= 1 (the output reads memory)")
    if self.num_write_heads < 1:
      fail(f"model.num_write_heads={self.num_write_heads} must be >= 1 (linkage follows writes)")
    if self.controller_size < 1:
      fail(f"model.controller_size={self.controller_size} must be >= 1")
    if not math.isfinite(self.clip_value) or self.clip_value < 0:
      fail(f"model.clip_value={self.clip_value} must be a finite number >= 0 (0 disables "
           "clipping)")

  def setup(self):
    self._check()
    self.controller_net = LSTM(self.controller_size)
    # dense_dot_general: the backward pass multiplies by a stored kernel^T (recurrent.py).
    self.interface_projection = nn.Dense(
        interface_size(self.num_read_heads, self.num_write_heads, self.word_size),
        dot_general=dense_dot_general)
    self.readout = nn.Dense(self.output_size, dot_general=dense_dot_general)

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> DNCState:
    del rng  # The DNC starts from an empty memory: everything is zero.
    batch_dims = tuple(input_shape[:-1])
    zeros = lambda *shape: jnp.zeros(batch_dims + shape, jnp.float32)
    access = AccessState(
        memory_transposed=zeros(self.word_size, self.memory_size),
        read_weights=zeros(self.num_read_heads, self.memory_size),
        write_weights=zeros(self.num_write_heads, self.memory_size),
        linkage=temporal_linkage.zero_linkage(batch_dims, self.num_write_heads, self.memory_size),
        usage=zeros(self.memory_size))
    return DNCState(controller=lstm_zero_state(batch_dims, self.controller_size), access=access,
                    reads=zeros(self.num_read_heads, self.word_size))

  def _clip(self, x: jax.Array) -> jax.Array:
    return jnp.clip(x, -self.clip_value, self.clip_value) if self.clip_value > 0 else x

  def __call__(self, carry: DNCState, inputs: jax.Array) -> Tuple[DNCState, jax.Array]:
    if inputs.ndim != 2:
      raise ValueError(f"DNC step expects inputs [batch, features], got shape {inputs.shape}; "
                       "use jax.vmap for extra leading axes")
    batch = inputs.shape[0]
    controller_inputs = jnp.concatenate([inputs, carry.reads.reshape(batch, -1)], axis=-1)
    controller_state, controller_out = self.controller_net(carry.controller, controller_inputs)
    controller_out = self._clip(controller_out)
    interface = split_interface(self.interface_projection(controller_out), self.num_read_heads,
                                self.num_write_heads, self.word_size)
    access, reads = _access_step_batch(carry.access, interface)
    outputs = self._clip(self.readout(
        jnp.concatenate([controller_out, reads.reshape(batch, -1)], axis=-1)))
    return DNCState(controller_state, access, reads), outputs
