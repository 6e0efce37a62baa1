"""Matmul FLOPs counted from a jaxpr, for the speed benchmarks' GFLOP/s columns.

    flops = matmul_flops(jax.make_jaxpr(fn)(*args).jaxpr)

2 M N K summed over every `dot_general` the jaxpr runs, a `scan` body counted
`length` times. A `while` loop's trip count is unknown, so it is refused; a `cond`
either counts its most expensive branch (`cond="max"`, an upper bound) or is refused
(`cond="raise"`, for paths that should have none).
"""
import math

import jax
import jax.extend  # noqa: F401  (jax.extend.core.Jaxpr)


def _sub_jaxprs(value):
  """The jaxprs inside an equation parameter (a jaxpr, a closed jaxpr, or tuples of them)."""
  if isinstance(value, jax.extend.core.ClosedJaxpr):
    yield value.jaxpr
  elif isinstance(value, jax.extend.core.Jaxpr):
    yield value
  elif isinstance(value, (tuple, list)):
    for item in value:
      yield from _sub_jaxprs(item)


def matmul_flops(jaxpr, cond: str = "raise") -> int:
  """2 M N K summed over every dot_general a jaxpr executes (scan bodies times their length;
  `cond`: "max" counts a cond's most expensive branch, "raise" refuses it)."""
  if cond not in ("max", "raise"):
    raise ValueError(f"cond={cond!r} must be 'max' or 'raise'")
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      (lhs_contract, _), _ = eqn.params["dimension_numbers"]
      lhs_shape = eqn.invars[0].aval.shape
      total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(
          lhs_shape[d] for d in lhs_contract)
    elif name == "cond" and cond == "max":
      total += max(matmul_flops(b.jaxpr, cond) for b in eqn.params["branches"])
    elif name in ("while", "cond"):
      raise NotImplementedError(f"matmul_flops cannot count through {name}")
    else:
      trips = eqn.params["length"] if name == "scan" else 1
      for param in eqn.params.values():
        for sub in _sub_jaxprs(param):
          total += trips * matmul_flops(sub, cond)
  return total
