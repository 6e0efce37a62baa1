"""LSTM and GRU baselines under the memory-core contract, and the LSTM used as a controller."""
from typing import Any, NamedTuple, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores.base import MemoryCore


class LSTMState(NamedTuple):
  """LSTM carry: `hidden`, `cell` both `[batch, hidden_size]`."""
  hidden: jax.Array
  cell: jax.Array


def lstm_zero_state(batch_dims: Tuple[int, ...], hidden_size: int) -> LSTMState:
  """All-zero `LSTMState` with leading `batch_dims`."""
  zeros = jnp.zeros(tuple(batch_dims) + (hidden_size,), jnp.float32)
  return LSTMState(hidden=zeros, cell=zeros)


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
    gates = nn.Dense(4 * self.hidden_size, dtype=self.dtype, name="gates")(
        jnp.concatenate([inputs, state.hidden], axis=-1)).astype(jnp.float32)
    input_gate, forget_gate, candidate, output_gate = jnp.split(gates, 4, axis=-1)
    cell = (jax.nn.sigmoid(forget_gate + self.forget_bias) * state.cell
            + jax.nn.sigmoid(input_gate) * jnp.tanh(candidate))
    hidden = jax.nn.sigmoid(output_gate) * jnp.tanh(cell)
    return LSTMState(hidden=hidden, cell=cell), hidden


class LSTMCore(MemoryCore):
  """LSTM baseline: `outputs = W_out h_t`, shape `[batch, output_size]`."""
  hidden_size: int
  output_size: int

  def setup(self):
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
    self.gru = nn.GRUCell(features=self.hidden_size)
    self.readout = nn.Dense(self.output_size)

  def initialize_carry(self, rng: jax.Array, input_shape: Tuple[int, ...]) -> GRUState:
    del rng
    return GRUState(hidden=jnp.zeros(tuple(input_shape[:-1]) + (self.hidden_size,), jnp.float32))

  def __call__(self, carry: GRUState, inputs: jax.Array):
    hidden, _ = self.gru(carry.hidden, inputs)
    return GRUState(hidden=hidden), self.readout(hidden)
