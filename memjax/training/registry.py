"""`config.experiment` -> the module whose `train_and_evaluate(config, workdir)` runs it.

Imports are lazy so that a launcher pays only for the experiment it runs.
"""
import importlib
from typing import Callable, Dict

from memjax.training.errors import ConfigError

_EXPERIMENTS: Dict[str, str] = {
    "algorithmic": "memjax.training.trainer",
    "babi": "memjax.training.babi_trainer",
    "babi_recurrent": "memjax.training.babi_recurrent_trainer",
    "char_lm": "memjax.training.lm_trainer",
    "kbqa": "memjax.training.kbqa_trainer",
}


def register_experiment(name: str, module: str) -> None:
  """Makes `config.experiment=<name>` run `<module>.train_and_evaluate`."""
  _EXPERIMENTS[name] = module


def get_train_and_evaluate(name: str) -> Callable:
  if name not in _EXPERIMENTS:
    raise ConfigError(f"config.experiment={name!r} is not one of {sorted(_EXPERIMENTS)}")
  return importlib.import_module(_EXPERIMENTS[name]).train_and_evaluate
