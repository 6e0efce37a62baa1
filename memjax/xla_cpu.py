"""XLA CPU settings that memjax's recurrent cores run faster under, applied at `import memjax`.

A recurrent core's training step on CPU is hundreds of small kernels per time step (the
addressing's softmaxes and norms over `[batch, heads, slots]`, erase/add over
`[batch, slots, word]`), run 2 x time steps per sequence. XLA's CPU backend (jaxlib 0.10)
hands some elementwise and reduction fusions to YNNPACK; for these shapes XLA's own loop
fusions are faster. Measured on a 2-core AMD EPYC (Zen 4), one thread, CPU time per copy
sequence (`benchmarks/core_speed.py --threads=1 --clock=cpu`): the NTM step 8-15% and the DNC
step ~18% faster with YNNPACK's `reduce` and `eltwise` fusions off (its matmuls stay on).
The maths is unchanged; the kernels differ, so floats may differ in the last bits.

XLA reads `XLA_FLAGS` once, when JAX creates its CPU backend, so the flag is added to the
environment at `import memjax` (before any JAX computation runs) and does nothing where
the backend already exists. It is added only for the jaxlib versions it was measured with
(XLA aborts on a flag it does not know), never over a `--xla_cpu_experimental_ynn_fusion_type`
of the user's own, and not at all with `MEMJAX_XLA_CPU_DEFAULTS=0`.
"""
import os

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
CPU_FLAGS = (f"{YNN_FLAG}=-reduce,-eltwise",)
TESTED_JAXLIB_VERSIONS = ("0.10.2",)
OPT_OUT = "MEMJAX_XLA_CPU_DEFAULTS"


def _jaxlib_version() -> str:
  from importlib import metadata
  try:
    return metadata.version("jaxlib")
  except metadata.PackageNotFoundError:
    return ""


def opted_out(value: str) -> bool:
  """Whether an opt-out environment variable's value says no ("0", "false", "no")."""
  return value.strip().lower() in ("0", "false", "no")


def with_cpu_flags(xla_flags: str, jaxlib_version: str, opt_out: str = "") -> str:
  """`xla_flags` with memjax's CPU flags added (a pure function of its arguments).

  Unchanged when `opt_out` is "0"/"false", for an untested jaxlib, or for a flag the user
  already sets.
  """
  if opted_out(opt_out) or jaxlib_version not in TESTED_JAXLIB_VERSIONS:
    return xla_flags
  added = [flag for flag in CPU_FLAGS if flag.split("=")[0] not in xla_flags]
  return " ".join([xla_flags.strip()] + added).strip()


def apply_cpu_defaults() -> None:
  """Adds `CPU_FLAGS` to `XLA_FLAGS` in this process's environment (see the module docstring)."""
  current = os.environ.get("XLA_FLAGS", "")
  updated = with_cpu_flags(current, _jaxlib_version(), os.environ.get(OPT_OUT, ""))
  if updated != current:
    os.environ["XLA_FLAGS"] = updated
