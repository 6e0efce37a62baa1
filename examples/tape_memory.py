"""A tape memory with one soft head, written as docs/writing_a_core.md describes.

An LSTM controller reads `[x_t, r_{t-1}]` and drives one head over a tape of
`tape_size` cells of `width` numbers. Each step the head moves (a soft mix of
four actions), writes, then reads where it now is:

    h_t = LSTM([x_t, r_{t-1}])
    a_t = softmax(W_a h_t)                      (left, stay, right, home) [4]
    w_t = a_left S_{-1} w_{t-1} + a_stay w_{t-1} + a_right S_{+1} w_{t-1} + a_home e_0
    e_t = sigmoid(W_e h_t), v_t = tanh(W_v h_t), g_t = sigmoid(w_g h_t)
    T_t = T_{t-1} o (1 - g_t w_t e_t^T) + g_t w_t v_t^T        tape [tape_size, width]
    r_t = T_t^T w_t                                            read [width]
    y_t = W_y [h_t, r_t]                                       logits [output_size]

where `S_{+1} w` shifts the weighting one cell right (circularly) and `e_0` is
the home cell. Copy needs no content addressing: write and step right while the
sequence comes in, jump home at the delimiter, then step right and read.

    python experiments/train.py --import=examples/tape_memory.py \
        --config=examples/copy_tape_memory_config.py --workdir=/tmp/tape
    python experiments/visualize.py --import=examples/tape_memory.py --workdir=/tmp/tape
"""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores import MemoryCore, register_core
from memjax.cores.recurrent import LSTM, LSTMState, lstm_zero_state
from memjax.errors import ConfigError

NUM_ACTIONS = 4  # left, stay, right, home


class TapeState(NamedTuple):
  """The carry; every leaf leads with `[batch]`."""
  controller: LSTMState  # hidden, cell: [batch, controller_size]
  tape: jax.Array        # T: [batch, tape_size, width]
  head: jax.Array        # w: [batch, tape_size], a distribution over cells
  read: jax.Array        # r: [batch, width]


# ---------------------------------------------------------------------------------------------
# The mechanism, as pure functions on one example (vmapped over the batch).

def move_head(head: jax.Array, actions: jax.Array) -> jax.Array:
  """`w' = a_left S_{-1} w + a_stay w + a_right S_{+1} w + a_home e_0`.

  Args:
    head: `[tape_size]`, a distribution over cells.
    actions: `[4]`, (left, stay, right, home), summing to one.

  Returns:
    `[tape_size]`, again a distribution.
  """
  home = jnp.zeros_like(head).at[0].set(1.0)
  return (actions[0] * jnp.roll(head, -1) + actions[1] * head
          + actions[2] * jnp.roll(head, 1) + actions[3] * home)


def write_tape(tape: jax.Array, head: jax.Array, erase: jax.Array, add: jax.Array,
               gate: jax.Array) -> jax.Array:
  """`T' = T o (1 - g w e^T) + g w v^T`: tape `[tape_size, width]`, head `[tape_size]`,
  erase and add `[width]`, gate `[]`."""
  weight = gate * head[:, None]
  return tape * (1.0 - weight * erase[None, :]) + weight * add[None, :]


def read_tape(tape: jax.Array, head: jax.Array) -> jax.Array:
  """`r = T^T w`: `[width]`."""
  return head @ tape


# ---------------------------------------------------------------------------------------------
# The core.

class TapeMemory(MemoryCore):
  """Soft-head tape memory (module docstring). Outputs are logits `[batch, output_size]`."""
  output_size: int
  tape_size: int = 32
  width: int = 16
  controller_size: int = 64

  def check_sizes(self) -> None:
    """One line naming the config key, before any array is made."""
    for key, value, low in (("tape_size", self.tape_size, 2), ("width", self.width, 1),
                            ("controller_size", self.controller_size, 1)):
      if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"TapeMemory: model.{key}={value!r} must be an integer >= {low}"
                          + (" (a head that moves needs two cells)" if key == "tape_size"
                             else ""))

  def initialize_carry(self, rng, input_shape):
    del rng  # the initial state is fixed: an empty tape, the head at home
    self.check_sizes()  # the trainer calls this before any step: refuse bad sizes here
    batch = tuple(input_shape[:-1])
    head = jnp.zeros(batch + (self.tape_size,)).at[..., 0].set(1.0)
    return TapeState(lstm_zero_state(batch, self.controller_size),
                     jnp.zeros(batch + (self.tape_size, self.width)), head,
                     jnp.zeros(batch + (self.width,)))

  @nn.compact
  def __call__(self, carry: TapeState, inputs: jax.Array):
    controller, hidden = LSTM(self.controller_size)(
        carry.controller, jnp.concatenate([inputs, carry.read], axis=-1))
    actions = jax.nn.softmax(nn.Dense(NUM_ACTIONS, name="actions")(hidden))
    erase = jax.nn.sigmoid(nn.Dense(self.width, name="erase")(hidden))
    add = jnp.tanh(nn.Dense(self.width, name="add")(hidden))
    gate = jax.nn.sigmoid(nn.Dense(1, name="gate")(hidden))[..., 0]
    head = jax.vmap(move_head)(carry.head, actions)
    tape = jax.vmap(write_tape)(carry.tape, head, erase, add, gate)
    read = jax.vmap(read_tape)(tape, head)
    outputs = nn.Dense(self.output_size, name="output")(jnp.concatenate([hidden, read], -1))
    return TapeState(controller, tape, head, read), outputs

  def memory_view(self, carries: TapeState):
    """What visualize.py draws (memjax/plots.py): `carries` leaves `[time, ...]`."""
    from memjax.plots import View
    return {"head weighting w_t": View(carries.head.T, "time step", "tape cell"),
            "tape T after the last step": View(carries.tape[-1], "cell element", "tape cell"),
            "read vector r_t": View(carries.read.T, "time step", "cell element")}


register_core("tape_memory", TapeMemory)
