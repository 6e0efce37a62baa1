"""`build_core`: a config's `model` block -> a memory core.

New cores register with `register_core(name, cls)`; the trainer never needs to change.
"""
import dataclasses
import inspect
from typing import Any, Callable, Dict, Mapping, Optional

from memjax.cores.base import MemoryCore
from memjax.cores.dnc import DNC
from memjax.cores.linear_memory import DeltaRuleCore, LinearAttentionCore
from memjax.cores.ntm import NTM
from memjax.cores.recurrent import GRUCore, LSTMCore

_CORES: Dict[str, Callable[..., MemoryCore]] = {
    "ntm": NTM,
    "dnc": DNC,
    "lstm": LSTMCore,
    "gru": GRUCore,
    "linear_attention": LinearAttentionCore,
    "delta_rule": DeltaRuleCore,
}


# Files that registered cores outside memjax, so that a later process (plots, sampling) can
# say which file to import.
_SOURCES: Dict[str, str] = {}


def register_core(name: str, core_class: Callable[..., MemoryCore]) -> None:
  """Makes `model.name=<name>` build `core_class(output_size=..., **model_fields)`."""
  _CORES[name] = core_class
  try:
    _SOURCES[name] = inspect.getsourcefile(core_class) or ""
  except TypeError:  # defined interactively: no file to point at
    _SOURCES[name] = ""


def core_source(name: str) -> Optional[str]:
  """The file defining a core registered with `register_core` (None for memjax's own)."""
  return _SOURCES.get(name) or None


def registered_cores():
  return sorted(_CORES)


def build_core(model_config: Mapping[str, Any], output_size: int) -> MemoryCore:
  """Builds the core named `model_config['name']` with the remaining fields.

  Raises:
    ValueError naming `model.<key>` for an unknown core or a field the core lacks.
  """
  fields = dict(model_config)
  name = fields.pop("name", None)
  if name not in _CORES:
    raise ValueError(f"model.name={name!r} is not a registered core; choose one of "
                     f"{registered_cores()} or call memjax.cores.registry.register_core")
  core_class = _CORES[name]
  field_names = {f.name for f in dataclasses.fields(core_class)}
  if "output_size" not in field_names:
    raise ValueError(f"model.name={name!r}: core class {core_class.__name__} has no field "
                     f"output_size; a memory core declares `output_size: int`, which the trainer "
                     f"sets from the task")
  allowed = field_names - {"parent", "name", "output_size"}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    # Most often a model block written for another core (--config.model.name=<yours> on a
    # config whose block holds the NTM's fields): say how to get a block of its own.
    raise ValueError(f"model.{unknown[0]} is not a field of core {name!r}; "
                     f"its fields are {sorted(allowed)} (a model block written for another "
                     f"core? give the core as the config's argument, e.g. "
                     f"--config=configs/copy_ntm.py:{name}, or write a config with a model "
                     f"block of its own: docs/writing_a_core.md)")
  return core_class(output_size=output_size, **fields)


def core_defaults(name: str) -> Dict[str, Any]:
  """`{"name": name, field: default, ...}`: a model block of a registered core's defaults
  (fields without a default are left out; `output_size` is the family's).

  Raises:
    ValueError for a name that is not registered.
  """
  if name not in _CORES:
    raise ValueError(f"{name!r} is not a registered core; choose one of {registered_cores()} "
                     f"or --import the file that calls register_core")
  block = {"name": name}
  for field in dataclasses.fields(_CORES[name]):
    if field.name not in ("parent", "name", "output_size") and (
        field.default is not dataclasses.MISSING):
      block[field.name] = field.default
  return block
