"""Suite-wide setup: one persistent XLA compilation cache per test run, and fast compiles.

Many tests build the same tiny model (e.g. tests/family_configs.py's `tiny_config`)
and so compile the same train step, and the launcher tests compile it again in
subprocesses. With a cache shared by the xdist workers and their subprocesses
(through JAX_COMPILATION_CACHE_DIR), each program compiles once per run. The
cache only skips recompiling an identical program, so no result changes; a
fresh directory per run keeps one run's programs from leaking into the next.
To keep a cache across runs, set MEMJAX_TEST_XLA_CACHE to a directory yourself:
it is then used and never removed.

Tests also compile with XLA's CPU backend at optimisation level 0 (LLVM -O0;
the default is 3). The suite's models are tiny, so it is compile-bound: level
0 took the default suite from 705 s to 456 s on a 2-core machine like CI's
(2026-12-01), all tests passing.
The HLO and its optimisation passes are the same; only the machine code is
less optimised, so results agree with the default build to float rounding
(not bit for bit: LLVM's vectorisation reorders some sums). Comparisons inside
the suite (resume vs straight run, jit vs eager) run under one setting, and the
SIGKILL-and-resume test of the algorithmic family (tests/test_kill_and_resume.py)
runs its processes at the default level, so exact resumption is checked on the
code users run. To test
at full optimisation, set the level in XLA_FLAGS yourself, e.g.
`XLA_FLAGS=--xla_backend_optimization_level=3 python -m pytest`; this file then
leaves it alone.
"""
import gc
import os
import shutil
import tempfile

# Before jax starts its backend; subprocesses of tests inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

# The first process of a run (pytest itself, or xdist's controller) makes the directory;
# xdist workers and test subprocesses inherit it through the environment.
_OWNER = "MEMJAX_TEST_XLA_CACHE" not in os.environ
if _OWNER:
  os.environ["MEMJAX_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="memjax-test-xla-cache-")
CACHE_DIR = os.environ["MEMJAX_TEST_XLA_CACHE"]

os.environ["JAX_COMPILATION_CACHE_DIR"] = CACHE_DIR          # inherited by subprocesses
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_sessionfinish(session, exitstatus):
  # Free the compiled programs while the worker still reports: collected later, during
  # xdist's shutdown of the worker, JAX's garbage-collection hook was interrupted and printed
  # a KeyboardInterrupt traceback after a passing run.
  del session, exitstatus
  jax.clear_caches()
  gc.collect()


def pytest_unconfigure(config):
  # Only the process that made the cache removes it: the controller, after every worker is done.
  if _OWNER:
    shutil.rmtree(CACHE_DIR, ignore_errors=True)
