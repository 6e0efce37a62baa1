"""Launcher helpers: one-line errors for a missing or broken config file, for config
overrides that name no existing key, and for bad input found later; `--import` of a
user's file; the final summary every launch prints.

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
  if not hasattr(module, "get_config"):
    sys.exit(f"error: --config={spec}: {path} defines no get_config()")
  try:
    return module.get_config(argument) if argument else module.get_config()
  except ValueError as error:  # e.g. an unknown config argument, named by configs/common.py
    sys.exit(f"error: {error}")


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
    runpy.run_path(path, run_name="memjax_user_module")


@contextlib.contextmanager
def one_line_errors():
  """Bad flags, sizes or files found while running: one line that names the culprit, no
  traceback (the exit status is 1)."""
  from memjax.checkpoint import CheckpointError
  from memjax.errors import ConfigError
  try:
    yield
  except (ConfigError, ValueError, FileNotFoundError, CheckpointError) as error:
    sys.exit(f"error: {error}")


def summary(results: Dict[str, Any]) -> str:
  """The lines every launch ends with: the headline figure, why it stopped, where results went."""
  return (f"done: {results.get('experiment')} after {results.get('steps')} "
          f"{results.get('step_unit', 'step')}s: "
          f"{results.get('headline')}\n"
          f"stopped: {results.get('stop_reason')}\n"
          f"results: {results.get('results_path')}")
