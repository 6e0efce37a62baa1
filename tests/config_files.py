"""Loads `configs/<name>.py` for tests (the configs are files, not a package)."""
import importlib.util
import pathlib

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


def load_config(name: str):
  """`configs/<name>.py`'s `get_config()`."""
  path = CONFIG_DIR / f"{name}.py"
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
