"""The memory-core contract every core in memjax follows.

A core is a `flax.linen.RNNCellBase`:

    carry = core.initialize_carry(rng, input_shape)    # input_shape = (batch, features)
    carry, outputs = core(carry, inputs)                # one time step

Leading dims are batch; `carry` is a typed NamedTuple pytree. Once its
parameters are bound, `functools.partial(core.apply, params)` is a pure
function `(carry, inputs) -> (carry, outputs)`, which is what `memjax.cores.unroll`
runs over time. Everything trains through the same trainer, so a new core
needs only these two methods (see docs/new_core.md).
"""
import functools
from typing import Any, Tuple

import flax.linen as nn
import jax

Carry = Any


class MemoryCore(nn.RNNCellBase):
  """Base class: a recurrent core that emits `output_size` logits per step.

  Subclasses define `initialize_carry(rng, input_shape)` and
  `__call__(carry, inputs) -> (carry, outputs)` with `outputs: [batch, output_size]`.
  """

  @property
  def num_feature_axes(self) -> int:
    return 1


def _initialize_and_step(core: MemoryCore, carry_rng: jax.Array, inputs: jax.Array):
  carry = core.initialize_carry(carry_rng, inputs.shape)
  return core(carry, inputs)


def init_core(core: MemoryCore, rng: jax.Array, input_shape: Tuple[int, ...]) -> Any:
  """Creates a core's variables by running one step on zeros.

  Works for cores whose `initialize_carry` uses parameters (e.g. a learned
  initial memory), which `core.init(rng, carry, x)` cannot, because the carry
  would need the parameters first.

  Args:
    core: the memory core.
    rng: PRNG key for parameters and the initial carry.
    input_shape: `(batch, input_size)` of one step's inputs.

  Returns:
    The variables dict (`{'params': ...}`).
  """
  return _jitted_init(core, rng, tuple(input_shape))


# Compiled once per (core, shape): run eagerly, a core's init dispatches hundreds
# of small ops one by one (seconds for an NTM); inside a caller's jit it inlines.
@functools.partial(jax.jit, static_argnums=(0, 2))
def _jitted_init(core: MemoryCore, rng: jax.Array, input_shape: Tuple[int, ...]) -> Any:
  param_rng, carry_rng = jax.random.split(rng)
  inputs = jax.numpy.zeros(input_shape, jax.numpy.float32)
  return core.init(param_rng, carry_rng, inputs, method=_initialize_and_step)


def initial_carry(core: MemoryCore, variables: Any, rng: jax.Array,
                  input_shape: Tuple[int, ...]) -> Carry:
  """`core.initialize_carry` with the core's parameters bound (for learned initial states)."""
  return _jitted_initial_carry(core, variables, rng, tuple(input_shape))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _jitted_initial_carry(core: MemoryCore, variables: Any, rng: jax.Array,
                          input_shape: Tuple[int, ...]) -> Carry:
  return core.apply(variables, rng, input_shape, method=core.initialize_carry)
