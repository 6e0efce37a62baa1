"""Launcher helpers: one-line errors for a missing or broken config file, and for config
overrides that name no existing key.

`ml_collections.config_flags` raises a long traceback ending in
`AttributeError: "'memory_slots'"` for `--config.model.memory_slots=4`, and
another for a config path that does not exist or does not parse; this check
runs first and says which key or line, in which file, and what the block holds.
"""
import importlib.util
import os
import sys
from typing import List, Optional

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
  return module.get_config(argument) if argument else module.get_config()


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
