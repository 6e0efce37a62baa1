"""Running a core over time: a `lax.scan` unroll and its plain-Python twin.

Both take a pure step function `step_fn(carry, inputs_t) -> (carry, outputs_t)`
(e.g. `functools.partial(core.apply, variables)`), batch-major inputs
`[batch, time, ...]`, and optional per-example `resets: [batch, time]`: where
`resets[b, t]` is True, example b's carry is replaced by `initial_carry[b]`
*before* step t runs, so one long stream can hold several episodes or documents.
"""
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp

StepFn = Callable[[Any, jax.Array], Tuple[Any, jax.Array]]


def _reset_where(reset: jax.Array, initial_carry: Any, carry: Any) -> Any:
  """carry[b] <- initial_carry[b] where reset[b]; reset: `[batch]` bool."""

  def select(initial, current):
    mask = reset.reshape(reset.shape + (1,) * (current.ndim - 1))
    return jnp.where(mask, initial, current)

  return jax.tree_util.tree_map(select, initial_carry, carry)


def _time_major(tree: Any) -> Any:
  return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), tree)


def dynamic_unroll(step_fn: StepFn, inputs: jax.Array, initial_carry: Any,
                   resets: Optional[jax.Array] = None,
                   return_carries: bool = False, unroll: int = 1) -> Tuple[Any, Any]:
  """Unrolls `step_fn` over the time axis with `jax.lax.scan`.

  Args:
    step_fn: pure `(carry, inputs_t) -> (carry, outputs_t)`; inputs_t `[batch, ...]`.
    inputs: `[batch, time, ...]` inputs (a pytree of such arrays is fine).
    initial_carry: carry with leading batch dim.
    resets: optional `[batch, time]` bool; resets the carry before step t.
    return_carries: also return every step's carry (`[batch, time, ...]` leaves),
      for visualising read/write weightings.
    unroll: time steps per `lax.scan` iteration; >1 trades compile time for
      less loop overhead (large on CPU, where each step is small).

  Returns:
    `(outputs, final_carry)` with outputs `[batch, time, ...]`, or
    `(outputs, final_carry, carries)` when `return_carries`.
  """
  time_major_inputs = _time_major(inputs)
  time_major_resets = None if resets is None else jnp.swapaxes(resets, 0, 1)

  def scan_step(carry, step_inputs):
    inputs_t, reset_t = step_inputs
    if reset_t is not None:
      carry = _reset_where(reset_t, initial_carry, carry)
    carry, outputs_t = step_fn(carry, inputs_t)
    return carry, (outputs_t, carry if return_carries else None)

  final_carry, (outputs, carries) = jax.lax.scan(
      scan_step, initial_carry, (time_major_inputs, time_major_resets), unroll=unroll)
  outputs = _time_major(outputs)
  if return_carries:
    return outputs, final_carry, _time_major(carries)
  return outputs, final_carry


def static_unroll(step_fn: StepFn, inputs: jax.Array, initial_carry: Any,
                  resets: Optional[jax.Array] = None) -> Tuple[Any, Any]:
  """The plain-Python twin of `dynamic_unroll`, for debugging (prints, pdb, no jit).

  Same arguments and results; use it outside `jax.jit` only, since it
  unrolls the time loop in Python.
  """
  num_steps = jax.tree_util.tree_leaves(inputs)[0].shape[1]
  carry = initial_carry
  outputs = []
  for t in range(num_steps):
    if resets is not None:
      carry = _reset_where(resets[:, t], initial_carry, carry)
    inputs_t = jax.tree_util.tree_map(lambda x: x[:, t], inputs)
    carry, outputs_t = step_fn(carry, inputs_t)
    outputs.append(outputs_t)
  stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs, axis=1), *outputs)
  return stacked, carry
