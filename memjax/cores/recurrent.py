"""LSTM and GRU baselines under the memory-core contract, and the LSTM used as a controller."""
import functools
from typing import Any, NamedTuple, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.base import MemoryCore
from memjax.errors import ConfigError


class LSTMState(NamedTuple):
  """LSTM carry: `hidden`, `cell` both `[batch, hidden_size]`."""
  hidden: jax.Array
  cell: jax.Array


def lstm_zero_state(batch_dims: Tuple[int, ...], hidden_size: int) -> LSTMState:
  """All-zero `LSTMState` with leading `batch_dims`."""
  zeros = jnp.zeros(tuple(batch_dims) + (hidden_size,), jnp.float32)
  return LSTMState(hidden=zeros, cell=zeros)


@jax.custom_vjp
def matmul_transposed_backward(inputs: jax.Array, kernel: jax.Array) -> jax.Array:
  """`inputs @ kernel` (`[..., in] x [in, out]`) whose backward multiplies by a stored kernel^T.

  Autodiff's input gradient `d_inputs = d_out kernel^T` contracts the kernel along its minor
  axis, and XLA's CPU matmul for that layout took 2-3x as long as the forward one inside a
  `lax.scan` over time (~100-130 us against ~45 for the LSTM-100 controller's `[32, 400] x
  [129, 400]^T`, once per time step). Here the forward pass keeps kernel^T as its residual;
  inside a scan it depends on the parameters alone, so JAX computes it once, outside the
  loop, and the backward pass multiplies by a row-major `[out, in]` array. Same values
  (the forward is the same matmul); gradients as autodiff's to float32 rounding.
  """
  return inputs @ kernel


def _matmul_fwd(inputs, kernel):
  return inputs @ kernel, (inputs, jnp.transpose(kernel))


def _matmul_bwd(residuals, d_out):
  inputs, kernel_transposed = residuals
  d_kernel = jnp.einsum("...i,...o->io", inputs, d_out)
  return (d_out @ kernel_transposed).astype(inputs.dtype), d_kernel.astype(kernel_transposed.dtype)


matmul_transposed_backward.defvjp(_matmul_fwd, _matmul_bwd)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
  """`nn.Dense(dot_general=...)`: its `inputs @ kernel` as `matmul_transposed_backward` (same
  parameters, names and initialisers as a plain `nn.Dense`)."""
  (lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch) = dimension_numbers
  if (tuple(lhs_contracting) != (lhs.ndim - 1,) or tuple(rhs_contracting) != (0,) or lhs_batch
      or rhs_batch or rhs.ndim != 2 or preferred_element_type is not None):
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type)
  return matmul_transposed_backward(lhs, rhs)


class LSTM(nn.Module):
  """One LSTM step (Hochreiter & Schmidhuber 1997) with a single fused matmul.

      [i, f, g, o] = W [x, h_{t-1}] + b
      c_t = sigmoid(f + forget_bias) c_{t-1} + sigmoid(i) tanh(g)
      h_t = sigmoid(o) tanh(c_t)
  """
  hidden_size: int
  forget_bias: float = 1.0  # Jozefowicz et al. 2015: a positive bias helps memory early on.
  dtype: Any = None         # matmul dtype (e.g. jnp.bfloat16); parameters and the cell stay float32

  @nn.compact
  def __call__(self, state: LSTMState, inputs: jax.Array) -> Tuple[LSTMState, jax.Array]:
    gates = nn.Dense(4 * self.hidden_size, dtype=self.dtype, name="gates",
                     dot_general=dense_dot_general)(
        jnp.concatenate([inputs, state.hidden], axis=-1)).astype(jnp.float32)
    hidden, cell = lstm_cell(gates, state.cell, self.forget_bias)
    return LSTMState(hidden=hidden, cell=cell), hidden


def _lstm_cell_forward(gates, cell, forget_bias):
  input_gate, forget_gate, candidate, output_gate = jnp.split(gates, 4, axis=-1)
  input_gate = jax.nn.sigmoid(input_gate)
  forget_gate = jax.nn.sigmoid(forget_gate + forget_bias)
  candidate = jnp.tanh(candidate)
  output_gate = jax.nn.sigmoid(output_gate)
  cell = forget_gate * cell + input_gate * candidate
  squashed_cell = jnp.tanh(cell)
  return (output_gate * squashed_cell, cell), (input_gate, forget_gate, candidate, output_gate,
                                               squashed_cell)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def lstm_cell(gates: jax.Array, cell: jax.Array, forget_bias: float):
  """The LSTM's elementwise part: `(h_t, c_t)` from the pre-activations `[i, f, g, o]`.

      c_t = sigmoid(f + forget_bias) c_{t-1} + sigmoid(i) tanh(g),  h_t = sigmoid(o) tanh(c_t)

  Args:
    gates: `[..., 4 hidden]` pre-activations W [x, h_{t-1}] + b.
    cell: `[..., hidden]` c_{t-1}.
    forget_bias: added to f before its sigmoid.

  Returns:
    `(hidden, cell)`, each `[..., hidden]`.

  The backward pass is written out (`jax.custom_vjp`) so that a `lax.scan` over time keeps
  one packed `[..., 5 hidden]` array per step (the four activations and tanh(c_t)) instead
  of autodiff's dozen separate ones:

      do = dh tanh(c_t),  dc = dc_t + dh o (1 - tanh(c_t)^2),  dc_{t-1} = dc f
      d[i, f, g, o] = [dc g i (1 - i), dc c_{t-1} f (1 - f), dc i (1 - g^2), do o (1 - o)]
  """
  return _lstm_cell_forward(gates, cell, forget_bias)[0]


def _lstm_cell_fwd(gates, cell, forget_bias):
  outputs, activations = _lstm_cell_forward(gates, cell, forget_bias)
  # The empty array only carries the gates' dtype (the packed activations take the cell's
  # when that is wider), so that the cotangent of the gates comes back in it.
  return outputs, (jnp.concatenate(activations, axis=-1), cell, jnp.zeros((0,), gates.dtype))


def _lstm_cell_bwd(forget_bias, residuals, cotangents):
  del forget_bias
  packed, previous_cell, gates_dtype = residuals
  d_hidden, d_cell = cotangents
  input_gate, forget_gate, candidate, output_gate, squashed_cell = jnp.split(packed, 5, axis=-1)
  d_output = d_hidden * squashed_cell
  d_cell = d_cell + d_hidden * output_gate * (1.0 - squashed_cell * squashed_cell)
  d_gates = jnp.concatenate([
      d_cell * candidate * input_gate * (1.0 - input_gate),
      d_cell * previous_cell * forget_gate * (1.0 - forget_gate),
      d_cell * input_gate * (1.0 - candidate * candidate),
      d_output * output_gate * (1.0 - output_gate)], axis=-1)
  return d_gates.astype(gates_dtype.dtype), (d_cell * forget_gate).astype(previous_cell.dtype)


lstm_cell.defvjp(_lstm_cell_fwd, _lstm_cell_bwd)


def _check_hidden_size(hidden_size: int, what: str) -> None:
  if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
    raise ConfigError(f"{what}: model.hidden_size={hidden_size!r} must be an integer >= 1")


class LSTMCore(MemoryCore):
  """LSTM baseline: `outputs = W_out h_t`, shape `[batch, output_size]`."""
  hidden_size: int
  output_size: int

  def setup(self):
    _check_hidden_size(self.hidden_size, "LSTM")
    self.lstm = LSTM(self.hidden_size)
    self.readout = nn.Dense(self.output_size)

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> LSTMState:
    del rng  # The zero state is deterministic.
    return lstm_zero_state(tuple(input_shape[:-1]), self.hidden_size)

  def __call__(self, carry: LSTMState, inputs: jax.Array):
    carry, hidden = self.lstm(carry, inputs)
    return carry, self.readout(hidden)


class GRUState(NamedTuple):
  """GRU carry: `hidden` `[batch, hidden_size]`."""
  hidden: jax.Array


class GRUCore(MemoryCore):
  """GRU baseline (Cho et al. 2014), flax's `GRUCell` plus a linear readout."""
  hidden_size: int
  output_size: int

  def setup(self):
    _check_hidden_size(self.hidden_size, "GRU")
    self.gru = nn.GRUCell(features=self.hidden_size)
    self.readout = nn.Dense(self.output_size)

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> GRUState:
    del rng
    return GRUState(hidden=jnp.zeros(tuple(input_shape[:-1]) + (self.hidden_size,), jnp.float32))

  def __call__(self, carry: GRUState, inputs: jax.Array):
    hidden, _ = self.gru(carry.hidden, inputs)
    return GRUState(hidden=hidden), self.readout(hidden)
