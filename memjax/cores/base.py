"""The memory-core contract every core in memjax follows.

A core is a `flax.linen.RNNCellBase`:

    carry = core.initialize_carry(rng, input_shape)    # input_shape = (batch, features)
    carry, outputs = core(carry, inputs)                # one time step

Leading dims are batch (a family's data is `[batch, time, features]`; `memjax.cores.unroll`
feeds one `[batch, features]` step at a time); `carry` is a typed NamedTuple pytree. Once its
parameters are bound, `functools.partial(core.apply, params)` is a pure
function `(carry, inputs) -> (carry, outputs)`, which is what `memjax.cores.unroll`
runs over time. Every family that takes cores trains them through the same loop,
so a new core needs only these two methods and an `output_size: int` field, which
the family sets from its task (docs/writing_a_core.md). `check_core`
tests a core against this contract without running it; the algorithmic family
calls it first.
"""
import functools
from typing import Any, Tuple

import flax.linen as nn
import jax

Carry = Any


class MemoryCore(nn.RNNCellBase):
  """Base class: a recurrent core that emits `output_size` logits per step.

  Subclasses define

  - a field `output_size: int`, which the family sets from its task;
  - `initialize_carry(rng, input_shape) -> carry`, with `input_shape = (batch, features)`:
    a pytree (a NamedTuple) of arrays leading with `[batch]`. The trainer calls it before
    any step (`init_core`, `check_core`), and a notebook may call it unbound (no `setup`),
    so impossible sizes are refused here, with a `memjax.errors.ConfigError` naming
    `model.<field>`;
  - `__call__(carry, inputs) -> (carry, outputs)` with `inputs: [batch, features]` (one time
    step of the family's `[batch, time, features]`) and `outputs: [batch, output_size]`
    logits; the carry keeps its structure, shapes and dtypes.

  Optionally `memory_view(carries) -> {title: memjax.plots.View}`: what
  `experiments/visualize.py` draws of the state, from one example's carries (leaves
  `[time, ...]`); without it, the carry fields `read_weights`/`write_weights`
  `[time, heads, slots]` and `memory` `[time, slots, word]` are drawn (memjax/plots.py).
  docs/writing_a_core.md walks through a complete core.
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


def check_core(core: MemoryCore, input_shape: Tuple[int, ...], output_size: int) -> None:
  """Checks one step of `core` against the contract, abstractly (`jax.eval_shape`: nothing runs).

  `initialize_carry(rng, input_shape)` must return a pytree of arrays, and
  `core(carry, inputs)` with inputs `[batch, features]` = `input_shape` must
  return outputs `[batch, output_size]` and a carry of the same structure,
  shapes and dtypes (what `lax.scan` over time needs). A wrong output width
  would otherwise broadcast against the targets and train silently.

  Raises:
    ValueError naming the core and the carry leaf or the shape at fault. An
    error raised inside the core's own code propagates with a note saying so.
  """
  name = type(core).__name__
  input_shape = tuple(input_shape)

  def one_step(rng):
    param_rng, carry_rng = jax.random.split(rng)
    inputs = jax.numpy.zeros(input_shape, jax.numpy.float32)
    # The carry alone first (init_with_output: an initial state may use parameters), so a
    # non-array leaf is named before the step trips over it.
    carry, _ = core.init_with_output(param_rng, carry_rng, input_shape,
                                     method=core.initialize_carry)
    not_arrays = [f"{jax.tree_util.keystr(path)}: {type(leaf).__name__}"
                  for path, leaf in jax.tree_util.tree_leaves_with_path(carry)
                  if not isinstance(leaf, jax.Array)]
    if not_arrays:
      raise ValueError(f"core {name}: initialize_carry returned a carry with leaves that are "
                       f"not arrays: {not_arrays}")
    variables = core.init(param_rng, carry_rng, inputs, method=_initialize_and_step)
    carry = core.apply(variables, carry_rng, input_shape, method=core.initialize_carry)
    new_carry, outputs = core.apply(variables, carry, inputs)
    return carry, new_carry, outputs

  try:
    carry, new_carry, outputs = jax.eval_shape(one_step, jax.random.PRNGKey(0))
  except ValueError as error:
    if str(error).startswith(f"core {name}:"):
      raise
    error.add_note(f"(raised by core {name}'s own code, during memjax.cores.base.check_core: "
                   f"one step on zeros of shape {input_shape})")
    raise
  except TypeError as error:  # e.g. a step that returns a non-array
    error.add_note(f"(during memjax.cores.base.check_core of core {name}: one step on zeros of "
                   f"shape {input_shape}; a step returns (carry, outputs), pytrees of arrays)")
    raise
  expected = (input_shape[0], output_size)
  if not isinstance(outputs, jax.ShapeDtypeStruct) or outputs.shape != expected:
    shape = outputs.shape if isinstance(outputs, jax.ShapeDtypeStruct) else type(outputs).__name__
    raise ValueError(f"core {name}: one step on inputs of shape {input_shape} returned outputs "
                     f"of shape {shape}; the contract is [batch, output_size] = {expected}")
  if jax.tree_util.tree_structure(new_carry) != jax.tree_util.tree_structure(carry):
    raise ValueError(f"core {name}: the carry a step returns has structure "
                     f"{jax.tree_util.tree_structure(new_carry)}, but initialize_carry's is "
                     f"{jax.tree_util.tree_structure(carry)}")
  changed = [f"{jax.tree_util.keystr(path)}: {old.dtype}{list(old.shape)} -> "
             f"{new.dtype}{list(new.shape)}"
             for (path, old), new in zip(jax.tree_util.tree_leaves_with_path(carry),
                                         jax.tree_util.tree_leaves(new_carry))
             if (old.shape, old.dtype) != (new.shape, new.dtype)]
  if changed:
    raise ValueError(f"core {name}: a step changes the carry's shapes or dtypes (a scan over "
                     f"time needs them fixed): {changed}")


def initial_carry(core: MemoryCore, variables: Any, rng: jax.Array,
                  input_shape: Tuple[int, ...]) -> Carry:
  """`core.initialize_carry` with the core's parameters bound (for learned initial states)."""
  return _jitted_initial_carry(core, variables, rng, tuple(input_shape))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _jitted_initial_carry(core: MemoryCore, variables: Any, rng: jax.Array,
                          input_shape: Tuple[int, ...]) -> Carry:
  return core.apply(variables, rng, input_shape, method=core.initialize_carry)
