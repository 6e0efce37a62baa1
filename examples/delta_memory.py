"""A new memory core in ~40 lines, trained on copy by memjax's own launcher and loop.

A fast-weight associative memory updated by the delta rule (Schlag et al. 2021):

    k_t = softmax(W_k h_t),  v_t = W_v h_t,  beta_t = sigmoid(w_b h_t)
    M_t = M_{t-1} + beta_t (v_t - M_{t-1} k_t) k_t^T      memory [batch, value_size, key_size]
    r_t = M_t softmax(W_q h_t),  y_t = W_y [h_t, r_t]

where h_t is an LSTM controller's output on [x_t, r_{t-1}].

Run (`--import` runs this file first, which registers the core):
    python experiments/train.py --import=examples/delta_memory.py \
        --config=examples/copy_delta_memory_config.py --workdir=/tmp/delta
    python experiments/visualize.py --import=examples/delta_memory.py --workdir=/tmp/delta
It trains in every family that takes cores, e.g. as a character-level LM:
    python experiments/train.py --import=examples/delta_memory.py \
        --config=configs/charlm_core.py --config.model.name=delta_memory --workdir=/tmp/delta_lm
"""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from memjax.cores import MemoryCore, register_core
from memjax.cores.recurrent import LSTM, LSTMState, lstm_zero_state


class DeltaMemoryState(NamedTuple):
  controller: LSTMState
  memory: jax.Array  # [batch, value_size, key_size]
  read: jax.Array    # [batch, value_size]


class DeltaMemory(MemoryCore):
  output_size: int
  controller_size: int = 64
  key_size: int = 32
  value_size: int = 16

  def initialize_carry(self, rng, input_shape):
    batch = tuple(input_shape[:-1])
    return DeltaMemoryState(lstm_zero_state(batch, self.controller_size),
                            jnp.zeros(batch + (self.value_size, self.key_size)),
                            jnp.zeros(batch + (self.value_size,)))

  @nn.compact
  def __call__(self, carry, inputs):
    controller, hidden = LSTM(self.controller_size)(carry.controller,
                                                    jnp.concatenate([inputs, carry.read], -1))
    key = jax.nn.softmax(nn.Dense(self.key_size)(hidden))
    value = nn.Dense(self.value_size)(hidden)
    beta = jax.nn.sigmoid(nn.Dense(1)(hidden))[..., None]
    old_value = jnp.einsum("bvk,bk->bv", carry.memory, key)
    memory = carry.memory + beta * jnp.einsum("bv,bk->bvk", value - old_value, key)
    read = jnp.einsum("bvk,bk->bv", memory, jax.nn.softmax(nn.Dense(self.key_size)(hidden)))
    outputs = nn.Dense(self.output_size)(jnp.concatenate([hidden, read], -1))
    return DeltaMemoryState(controller, memory, read), outputs

  def memory_view(self, carries):
    """What visualize.py draws (memjax/plots.py): the memory is values x keys, not slots."""
    from memjax.plots import View
    return {"fast-weight memory M after the last step": View(
                carries.memory[-1], "key dimension", "value dimension"),
            "read vector r_t": View(carries.read.T, "time step", "value dimension")}


register_core("delta_memory", DeltaMemory)
