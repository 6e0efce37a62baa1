"""`config.experiment` -> the model family that runs it (a `memjax.training.family.Family`).

Imports are lazy so that a launcher pays only for the family it runs. A user's
family registers with `register_family(name, "module:Class")` (or the class itself).
"""
import importlib
from typing import Dict, Union

import ml_collections

from memjax.errors import ConfigError

_FAMILIES: Dict[str, Union[str, type]] = {
    "algorithmic": "memjax.training.families.algorithmic:AlgorithmicFamily",
    "char_lm": "memjax.training.families.language_model:CharLMFamily",
    "long_range": "memjax.training.families.language_model:LongRangeFamily",
    "mqar": "memjax.training.families.language_model:MQARFamily",
    "haystack": "memjax.training.families.language_model:HaystackFamily",
    "kbqa": "memjax.training.families.kbqa:KBQAFamily",
    "graph": "memjax.training.families.graph:GraphFamily",
    "babi_memnn": "memjax.training.families.babi_memnn:BabiMemNNFamily",
    "babi_recurrent": "memjax.training.families.babi_recurrent:BabiRecurrentFamily",
}
# Experiment names that changed meaning or spelling, refused with what to write instead.
_RENAMED = {"babi": "config.experiment='babi_memnn' (memory networks on bAbI)"}


def register_family(name: str, family: Union[str, type]) -> None:
  """Makes `config.experiment=<name>` train with `family` (a class or "module:Class")."""
  _FAMILIES[name] = family


def registered_families():
  return sorted(_FAMILIES)


def family_class(config: ml_collections.ConfigDict) -> type:
  """The family class of `config.experiment` (default "algorithmic").

  Raises:
    ConfigError for an unknown experiment, or an old name, naming the new one.
  """
  name = config.get("experiment", "algorithmic")
  if name == "kbqa" and str(config.get("task", {}).get("name", "")).startswith("graph_"):
    raise ConfigError(f"config.experiment='kbqa' with task.name={config.task.name!r}: the DNC "
                      "graph tasks are now config.experiment='graph'")
  if name == "char_lm" and config.get("data", {}).get("source", "text") != "text":
    raise ConfigError(f"config.data.source={config.data.source!r}: the synthetic long-range "
                      "task is now config.experiment='long_range' (see configs/long_range_xl.py)")
  if name in _RENAMED:
    raise ConfigError(f"config.experiment={name!r} is now {_RENAMED[name]}")
  if name not in _FAMILIES:
    raise ConfigError(f"config.experiment={name!r} is not one of {registered_families()}")
  family = _FAMILIES[name]
  if isinstance(family, str):
    module, _, class_name = family.partition(":")
    family = getattr(importlib.import_module(module), class_name)
  return family
