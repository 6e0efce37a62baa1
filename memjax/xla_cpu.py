"""XLA CPU settings that memjax's recurrent cores run faster under, applied at `import memjax`.

A recurrent core's training step on CPU is hundreds of small kernels per time step (the
addressing's softmaxes and norms over `[batch, heads, slots]`, erase/add over
`[batch, slots, word]`), run 2 x time steps per sequence. XLA's CPU backend (jaxlib 0.10)
hands some elementwise and reduction fusions to YNNPACK; for these shapes XLA's own loop
fusions are faster. Measured on a 2-core AMD EPYC (Zen 4), one thread, CPU time per copy
sequence (`benchmarks/core_speed.py --threads=1 --clock=cpu`): the NTM step 8-15% and the DNC
step ~18% faster with YNNPACK's `reduce` and `eltwise` fusions off (its matmuls stay on).
The maths is unchanged; the kernels differ, so floats may differ in the last bits.

In a CPU-only process (`JAX_PLATFORMS=cpu`, as `python run.py` sets, or no accelerator
plugin installed) it also compiles XLA's generated loops with LLVM at -O1
(`--xla_backend_optimization_level=1`): on the same machine (2026-12-04, two runs each) the
NTM copy step compiled in 3.8 / 4.1 s instead of 4.9 / 5.3 s and Transformer-XL's char-LM
step in 11.2 / 12.3 s instead of 13.1 / 14.7 s, at step times within noise (NTM 11.4 / 10.2
against 11.6 / 12.6 ms, XL 16.8 / 18.5 against 17.5 / 18.8 ms): on a first launch, seconds
before the first step. The flag sets the GPU backends' LLVM level too, hence CPU-only.

XLA reads `XLA_FLAGS` once, when JAX creates its CPU backend, so the flag is added to the
environment at `import memjax` (before any JAX computation runs) and does nothing where
the backend already exists. It is added only for the jaxlib versions it was measured with
(XLA aborts on a flag it does not know), never over a `--xla_cpu_experimental_ynn_fusion_type`
of the user's own, and not at all with `MEMJAX_XLA_CPU_DEFAULTS=0`.

In a CPU-only process on glibc it also tells `malloc` to keep freed memory for reuse
(`mallopt`: no `mmap` for large blocks, and up to 1 GiB of free heap kept rather than
returned to the system). XLA's CPU runtime allocates a step's temporary buffers (a scan's
stacked residuals: 27 MB per step for the NTM at batch 64) when the step runs and frees
them when it ends; glibc serves blocks this large with `mmap` and unmaps them on `free`,
so every step wrote its buffers into fresh pages, a page fault per 4 KiB. Measured in one
process, toggling the setting between interleaved rounds (2-core AMD EPYC Zen 4,
2026-12-04, `benchmarks/core_speed.py`'s memjax step, median of 6): NTM 1.23 / 1.19 /
1.26 / 1.16 -> 1.12 / 0.88 / 0.83 / 1.08 ms per sequence at batch 16 / 32 / 64 / 256, DNC
0.90 / 0.78 / 0.69 -> 0.82 / 0.64 / 0.66 at batch 16 / 64 / 256. The cost: the process
keeps up to 1 GiB of freed memory mapped (its resident size stays near its peak), as
tcmalloc and jemalloc do. `MEMJAX_XLA_CPU_DEFAULTS=0` leaves malloc alone too.
"""
import ctypes
import os
import platform
from typing import Iterable, Iterator, Tuple

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
CPU_FLAGS = (f"{YNN_FLAG}=-reduce,-eltwise",)
LLVM_FLAG = "--xla_backend_optimization_level"
CPU_ONLY_FLAGS = (f"{LLVM_FLAG}=1",)
# Distributions that give JAX a GPU or TPU backend (by name prefix).
_ACCELERATOR_PLUGINS = ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu")
TESTED_JAXLIB_VERSIONS = ("0.10.2",)
OPT_OUT = "MEMJAX_XLA_CPU_DEFAULTS"
# glibc's mallopt parameters (malloc.h) and the values set: no mmap-served blocks, and
# free memory at the top of the heap returned to the system only beyond 1 GiB.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
MALLOC_SETTINGS = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 1 << 30))


def _jaxlib_version() -> str:
  from importlib import metadata
  try:
    return metadata.version("jaxlib")
  except metadata.PackageNotFoundError:
    return ""


def opted_out(value: str) -> bool:
  """Whether an opt-out environment variable's value says no ("0", "false", "no")."""
  return value.strip().lower() in ("0", "false", "no")


def cpu_only(jax_platforms: str, installed: Iterable[str]) -> bool:
  """Whether JAX will run on CPU alone: `JAX_PLATFORMS` is "cpu", or none of the `installed`
  distribution names is an accelerator plugin."""
  if jax_platforms.strip().lower() == "cpu":
    return True
  return not any(name.lower().startswith(_ACCELERATOR_PLUGINS) for name in installed)


def with_cpu_flags(xla_flags: str, jaxlib_version: str, opt_out: str = "",
                   only_cpu: bool = False) -> str:
  """`xla_flags` with memjax's CPU flags added (a pure function of its arguments):
  `CPU_FLAGS`, and `CPU_ONLY_FLAGS` too where `only_cpu`.

  Unchanged when `opt_out` is "0"/"false", for an untested jaxlib, or for a flag the user
  already sets.
  """
  if opted_out(opt_out) or jaxlib_version not in TESTED_JAXLIB_VERSIONS:
    return xla_flags
  flags = CPU_FLAGS + (CPU_ONLY_FLAGS if only_cpu else ())
  added = [flag for flag in flags if flag.split("=")[0] not in xla_flags]
  return " ".join([xla_flags.strip()] + added).strip()


def _installed_distributions() -> Iterator[str]:
  """The installed distributions' names, read one by one as they are asked for (listing
  them all takes ~30 ms of a launch; `cpu_only` needs none when JAX_PLATFORMS says cpu)."""
  from importlib import metadata
  return (dist.metadata["Name"] or "" for dist in metadata.distributions())


def apply_cpu_defaults() -> None:
  """Adds `CPU_FLAGS` (and, CPU-only, `CPU_ONLY_FLAGS`) to `XLA_FLAGS` in this process's
  environment (see the module docstring)."""
  current = os.environ.get("XLA_FLAGS", "")
  opt_out = os.environ.get(OPT_OUT, "")
  only_cpu = not opted_out(opt_out) and cpu_only(os.environ.get("JAX_PLATFORMS", ""),
                                                 _installed_distributions())
  updated = with_cpu_flags(current, _jaxlib_version(), opt_out, only_cpu)
  if updated != current:
    os.environ["XLA_FLAGS"] = updated
  settings = malloc_settings(platform.libc_ver()[0], opt_out, only_cpu)
  if settings:
    libc = ctypes.CDLL("libc.so.6")
    for parameter, value in settings:
      libc.mallopt(parameter, value)


def malloc_settings(libc: str, opt_out: str = "",
                    only_cpu: bool = False) -> Tuple[Tuple[int, int], ...]:
  """The `mallopt(parameter, value)` calls to make (module docstring): `MALLOC_SETTINGS` in a
  CPU-only process on glibc, none otherwise or with the opt-out."""
  if opted_out(opt_out) or not only_cpu or libc != "glibc":
    return ()
  return MALLOC_SETTINGS
