"""Suite-wide setup: one persistent XLA compilation cache per test run.

Many tests build the same tiny model (e.g. tests/test_trainer.py's `tiny_config`)
and so compile the same train step, and the launcher tests compile it again in
subprocesses. With a cache shared by the xdist workers and their subprocesses
(through JAX_COMPILATION_CACHE_DIR), each program compiles once per run. The
cache only skips recompiling an identical program, so no result changes; a
fresh directory per run keeps one run's programs from leaking into the next.
To keep a cache across runs, set MEMJAX_TEST_XLA_CACHE to a directory yourself:
it is then used and never removed.
"""
import os
import shutil
import tempfile

import jax

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


def pytest_unconfigure(config):
  # Only the process that made the cache removes it: the controller, after every worker is done.
  if _OWNER:
    shutil.rmtree(CACHE_DIR, ignore_errors=True)
