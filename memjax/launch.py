"""Launcher helpers: one-line errors for a missing, broken or raising config file, for config
overrides that name no existing key, for a `JAX_PLATFORMS` this JAX cannot start, and for bad
input found later; `--import` of a user's file; the final summary every launch prints.

`ml_collections.config_flags` raises a long traceback ending in
`AttributeError: "'memory_slots'"` for `--config.model.memory_slots=4`, and
another for a config path that does not exist or does not parse; these checks
run first and say which key or line, in which file, and what the block holds.
"""
import contextlib
import importlib.util
import os
import runpy
import sys
from typing import Any, Dict, List, Optional

import ml_collections

from memjax import xla_cpu


def _raised(error: BaseException, path: str) -> str:
  """`<path> line N raised <Type>: <first line>`, N the deepest line of `path` in the traceback
  (the user's mistake), else the line that called into other code."""
  import traceback
  target = os.path.abspath(path)
  lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
           if os.path.abspath(frame.filename) == target]
  where = f"{path} line {lines[-1]}" if lines else path
  message = (str(error).splitlines() or [""])[0]
  return f"{where} raised {type(error).__name__}" + (f": {message}" if message else "")


def _load_config(spec: str) -> Optional[ml_collections.ConfigDict]:
  path, _, argument = spec.partition(":")
  if not os.path.isfile(path):
    what = "is a folder, not a config file" if os.path.isdir(path) else "not found"
    sys.exit(f"error: --config={spec}: file {path} {what}")
  module_spec = importlib.util.spec_from_file_location("_memjax_config_check", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except SyntaxError as error:
    sys.exit(f"error: --config={spec}: {path} line {error.lineno}: {error.msg}")
  except Exception as error:  # a NameError, an ImportError...: the file's fault, in one line
    sys.exit(f"error: --config={spec}: {_raised(error, path)}")
  if not hasattr(module, "get_config"):
    sys.exit(f"error: --config={spec}: {path} defines no get_config()")
  try:
    return module.get_config(argument) if argument else module.get_config()
  except ValueError as error:  # e.g. an unknown config argument, named by memjax.config_helpers
    if str(error).startswith(("--config=", "configs/")):  # it names the file already
      sys.exit(f"error: {error}")
    sys.exit(f"error: --config={spec}: {_raised(error, path)}")
  except Exception as error:
    sys.exit(f"error: --config={spec}: {_raised(error, path)}")


def check_config_overrides(argv: List[str], default_config: Optional[str] = None) -> None:
  """Exits with one line if the config file is missing or does not parse, or a
  `--config.a.b=...` override names a key the config lacks."""
  spec = default_config
  overrides = []
  args = argv[1:]
  for index, arg in enumerate(args):
    if arg.startswith(("--config=", "-config=")):
      spec = arg.split("=", 1)[1]
    elif arg in ("--config", "-config") and index + 1 < len(args):  # absl's "--config path"
      spec = args[index + 1]
    elif arg.startswith(("--config.", "-config.")):
      overrides.append(arg.split("config.", 1)[1].split("=", 1)[0])
  if spec is None:
    return
  config = _load_config(spec)  # also when nothing is overridden: the file itself may be bad
  for override in overrides:
    node, walked = config, []
    for part in override.split("."):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        where = ".".join(walked) or "the top level"
        known = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        sys.exit(f"error: --config.{override}: unknown config key '{'.'.join(walked + [part])}' "
                 f"in {spec.split(':')[0]}; {where} has {known}")
      node = node[part]
      walked.append(part)


def run_imports(argv: List[str]) -> None:
  """Runs each `--import=FILE` of `argv` (not as __main__), e.g. a file that registers a
  user's core (`register_core`) or family (`register_family`); a missing file is one line."""
  args = argv[1:]
  paths = [arg.split("=", 1)[1] for arg in args if arg.startswith("--import=")]
  paths += [args[i + 1] for i, arg in enumerate(args) if arg == "--import" and i + 1 < len(args)]
  for path in paths:
    if not os.path.isfile(path):
      sys.exit(f"error: --import={path}: no such file")
    try:
      runpy.run_path(path, run_name="memjax_user_module")
    except SystemExit:
      raise
    except Exception as error:  # the user's file: its error in one line, not a traceback
      sys.exit(f"error: --import={path}: {_raised(error, path)}")


@contextlib.contextmanager
def one_line_errors():
  """Bad flags, sizes or files found while running: one line that names the culprit, no
  traceback (the exit status is 1)."""
  from memjax.checkpoint import CheckpointError, DiskFullError
  from memjax.errors import ConfigError
  try:
    yield
  except DiskFullError as error:
    _drop_orbax_leftovers_at_exit()
    sys.exit(f"error: {error}")
  except (ConfigError, ValueError, FileNotFoundError, CheckpointError) as error:
    sys.exit(f"error: {error}")
  except (RuntimeError, AssertionError) as error:
    message = platform_error(error)
    if message is None:
      raise
    sys.exit(message)


def _drop_orbax_leftovers_at_exit() -> None:
  """After a save that found the disk full, orbax's unfinished writes are finalised while the
  interpreter shuts down, each printing "Exception ignored in <coroutine ...>" and a
  traceback after the one-line error; drop those (and only those) from now on."""
  previous = sys.unraisablehook

  def hook(unraisable):
    tb = unraisable.exc_traceback
    files = []
    while tb is not None:
      files.append(tb.tb_frame.f_code.co_filename)
      tb = tb.tb_next
    if "orbax" in repr(unraisable.object) or any("orbax" in f for f in files):
      return
    previous(unraisable)

  sys.unraisablehook = hook


COMPILATION_CACHE_OPT_OUT = "MEMJAX_COMPILATION_CACHE"


def compilation_cache_dir(environ: Dict[str, str]) -> Optional[str]:
  """Where the launchers keep JAX's persistent compilation cache, or None to leave JAX as is.

  None when the user chose for themselves (`JAX_COMPILATION_CACHE_DIR`) or opted out
  (`MEMJAX_COMPILATION_CACHE=0`); else `$XDG_CACHE_HOME/memjax/xla` (`~/.cache/memjax/xla`).
  """
  if environ.get("JAX_COMPILATION_CACHE_DIR"):
    return None
  if xla_cpu.opted_out(environ.get(COMPILATION_CACHE_OPT_OUT, "")):
    return None
  cache_home = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(cache_home, "memjax", "xla")


def enable_compilation_cache() -> Optional[str]:
  """Turns on JAX's persistent compilation cache for a launch (`compilation_cache_dir`).

  A copy step of the NTM takes ~6 s to compile on a 2-core CPU, a quarter of the time the
  README's run needs to solve copy; a relaunch with the same model and sizes (another seed,
  a resumed run) loads the compiled program instead. The cache is keyed by the program,
  the JAX version and the device, so a cached program is the one XLA would build: results
  do not change. Returns the directory, or None where the user's setting stands.
  """
  directory = compilation_cache_dir(dict(os.environ))
  if directory is None:
    return None
  import jax
  jax.config.update("jax_compilation_cache_dir", directory)
  # JAX's default (1 s) would leave the family's small programs (init, evaluation) out.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  return directory


# What to install for each platform JAX_PLATFORMS may ask for.
_PLATFORM_WHEELS = {"cuda": "jax[cuda12]", "gpu": "jax[cuda12]", "tpu": "jax[tpu]",
                    "rocm": "jax[rocm]"}


def platform_error(error: BaseException) -> Optional[str]:
  """The one line for `error` when it is JAX failing to start the platform `JAX_PLATFORMS`
  asks for, else None.

  JAX itself ends in a bare `AssertionError` (cuda without the CUDA wheel) or a
  `RuntimeError` tens of lines deep (tpu without libtpu, a misspelt name). Recognised after
  the fact, from where it was raised, so that nothing starts JAX before
  `jax.distributed.initialize` may run.
  """
  import traceback
  asked = os.environ.get("JAX_PLATFORMS", "").strip()
  frames = traceback.extract_tb(error.__traceback__)
  if not asked or not any(os.path.basename(f.filename) == "xla_bridge.py" for f in frames):
    return None
  names = [name.strip().lower() for name in asked.split(",") if name.strip()]
  missing = next((name for name in names if name != "cpu"), names[0] if names else asked)
  wheel = _PLATFORM_WHEELS.get(missing)
  detail = str(error).split(" (set JAX_PLATFORMS=")[0].splitlines()
  detail = f" ({detail[0][:200]})" if detail and detail[0] else ""
  fix = (f'install it with pip install -U "{wheel}"' if wheel else
         f"JAX knows {sorted(set(_PLATFORM_WHEELS) | {'cpu'})}")
  return (f"error: JAX_PLATFORMS={asked} asks for platform {missing!r}, which is not available "
          f"in this JAX installation{detail}; {fix}, or unset JAX_PLATFORMS to use what is "
          "available")


def summary(results: Dict[str, Any]) -> str:
  """The lines every launch ends with: the headline figure, why it stopped, where results went."""
  return (f"done: {results.get('experiment')} after {results.get('steps')} "
          f"{results.get('step_unit', 'step')}s: "
          f"{results.get('headline')}\n"
          f"stopped: {results.get('stop_reason')}\n"
          f"results: {results.get('results_path')}")
