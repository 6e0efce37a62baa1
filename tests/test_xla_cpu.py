"""memjax's XLA CPU flags (memjax/xla_cpu.py): added once, never over the user's, accepted by XLA."""
import os
import subprocess
import sys

import pytest

from memjax import xla_cpu

_TESTED = xla_cpu.TESTED_JAXLIB_VERSIONS[0]


def test_flags_are_added_to_the_users_for_a_tested_jaxlib():
  assert xla_cpu.with_cpu_flags("", _TESTED) == " ".join(xla_cpu.CPU_FLAGS)
  assert xla_cpu.with_cpu_flags(" --xla_cpu_multi_thread_eigen=false ", _TESTED) == (
      "--xla_cpu_multi_thread_eigen=false " + " ".join(xla_cpu.CPU_FLAGS))


def test_llvm_level_is_added_only_in_a_cpu_only_process():
  everything = " ".join(xla_cpu.CPU_FLAGS + xla_cpu.CPU_ONLY_FLAGS)
  assert xla_cpu.with_cpu_flags("", _TESTED, only_cpu=True) == everything
  assert xla_cpu.with_cpu_flags("", _TESTED, only_cpu=False) == " ".join(xla_cpu.CPU_FLAGS)
  users = f"{xla_cpu.LLVM_FLAG}=3"
  assert xla_cpu.with_cpu_flags(users, _TESTED, only_cpu=True) == (
      users + " " + " ".join(xla_cpu.CPU_FLAGS))
  assert xla_cpu.cpu_only("cpu", ["jax-cuda12-plugin"])
  assert xla_cpu.cpu_only("", ["jax", "jaxlib", "flax"])
  assert not xla_cpu.cpu_only("", ["jax", "jax-cuda12-plugin"])
  assert not xla_cpu.cpu_only("cuda", ["libtpu"])


def test_flags_are_left_alone_for_an_untested_jaxlib_an_opt_out_or_the_users_own_setting():
  users = f"{xla_cpu.YNN_FLAG}=-dot"
  assert xla_cpu.with_cpu_flags(users, _TESTED) == users
  assert xla_cpu.with_cpu_flags("--a=1", "0.0.1") == "--a=1"
  assert xla_cpu.with_cpu_flags("", _TESTED, opt_out="0") == ""
  assert xla_cpu.with_cpu_flags("", _TESTED, opt_out="false") == ""


def test_importing_memjax_sets_the_flags_and_xla_accepts_them():
  """A fresh process: the flag reaches XLA (which aborts on a flag it does not know)."""
  from importlib import metadata
  if metadata.version("jaxlib") not in xla_cpu.TESTED_JAXLIB_VERSIONS:
    pytest.skip(f"jaxlib {metadata.version('jaxlib')} is not one memjax's CPU flags were "
                "measured with; they are not applied")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_cpu.OPT_OUT)}
  code = ("import os, memjax, jax.numpy as jnp; print(float(jnp.arange(4.0).sum())); "
          "print(os.environ['XLA_FLAGS'])")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                        timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  total, flags = done.stdout.split("\n")[:2]
  only_cpu = xla_cpu.cpu_only(env.get("JAX_PLATFORMS", ""), xla_cpu._installed_distributions())
  assert float(total) == 6.0 and flags == " ".join(
      xla_cpu.CPU_FLAGS + (xla_cpu.CPU_ONLY_FLAGS if only_cpu else ()))


def test_malloc_keeps_freed_memory_only_in_a_cpu_only_glibc_process():
  assert xla_cpu.malloc_settings("glibc", only_cpu=True) == xla_cpu.MALLOC_SETTINGS
  assert xla_cpu.malloc_settings("glibc", only_cpu=False) == ()
  assert xla_cpu.malloc_settings("", only_cpu=True) == ()          # macOS, musl: no mallopt
  assert xla_cpu.malloc_settings("glibc", opt_out="0", only_cpu=True) == ()
  # M_MMAP_MAX = 0 and a 1 GiB M_TRIM_THRESHOLD (glibc's malloc.h numbering).
  assert dict(xla_cpu.MALLOC_SETTINGS) == {-4: 0, -1: 1 << 30}
