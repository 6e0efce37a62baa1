"""Sums, maxima and softmax over long axes (memory slots) in blocks of at most 32 elements.

XLA's CPU compiler rewrites every reduction over an axis longer than 32 into a windowed
reduction (windows of 32) followed by a reduction of the window results (its
`TreeReductionRewriter`), and neither of the two fuses with the elementwise op that
produces its input: one `jnp.sum` over 128 slots runs as three kernels. A memory core
reduces over its slots about a dozen times per time step (softmaxes, norms, the
backward pass's inner products), and on CPU a small model's step costs per kernel
launched more than per FLOP. Written as blocks, `x.reshape(..., blocks, block)` reduced
over `block` (at most 32, so the rewrite leaves it alone: one kernel, fused with its
producer) and the few block results combined elementwise (which fuses into whatever
consumes the total), the same sums come out of one kernel, in the same order as the
rewrite's: 32-element partials, then their total left to right. On other backends it
is the same arithmetic.

    block_sum(x, axis)     = sum_b (sum_{i in block b} x_i)
    block_max(x, axis)     = max_b (max_{i in block b} x_i)
    block_softmax(x)_i     = exp(x_i - m) / block_sum(exp(x - m)),  m = block_max(x)

Axes of at most 32 elements, or longer than 32 * 16, are reduced as they are.
"""
import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

# XLA CPU's tree-reduction window: reductions over longer axes are split (see above).
_BLOCK = 32
# More blocks than this and the elementwise combine outgrows what the split saves.
_MAX_BLOCKS = 16


def _blockwise(x: jax.Array, axis: int, keepdims: bool, reduce: Callable,
               combine: Callable, identity: float) -> jax.Array:
  axis = axis % x.ndim
  size = x.shape[axis]
  num_blocks = -(-size // _BLOCK)
  if size <= _BLOCK or num_blocks > _MAX_BLOCKS:
    return reduce(x, axis=axis, keepdims=keepdims)
  block = -(-size // num_blocks)  # e.g. 100 slots: 4 blocks of 25, no padding
  padding = num_blocks * block - size
  if padding:
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, padding)
    x = jnp.pad(x, widths, constant_values=identity)
  blocks = x.reshape(x.shape[:axis] + (num_blocks, block) + x.shape[axis + 1:])
  partial = reduce(blocks, axis=axis + 1)                       # [..., num_blocks, ...]
  # Combined elementwise: a reduce over the blocks axis would be merged back into one
  # reduction over `size` elements by XLA's simplifier, and rewritten again.
  parts = [lax.index_in_dim(partial, b, axis, keepdims=keepdims) for b in range(num_blocks)]
  return functools.reduce(combine, parts)


def block_sum(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
  """`jnp.sum(x, axis, keepdims=keepdims)` (one axis), reduced in blocks (module docstring)."""
  return _blockwise(x, axis, keepdims, jnp.sum, jnp.add, 0.0)


def block_max(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
  """`jnp.max(x, axis, keepdims=keepdims)` (one axis), reduced in blocks."""
  return _blockwise(x, axis, keepdims, jnp.max, jnp.maximum, -jnp.inf)


def block_softmax(x: jax.Array) -> jax.Array:
  """`jax.nn.softmax(x, axis=-1)`'s value with its reductions in blocks (no custom JVP:
  for the forward passes of ops whose backward pass is written out)."""
  unnormalized = jnp.exp(x - block_max(x, keepdims=True))
  return unnormalized / block_sum(unnormalized, keepdims=True)
