"""Optimizer and learning-rate schedule from a config's `train` block (optax)."""
from typing import Any, Mapping

import optax

from memjax.errors import ConfigError, check_choice, check_float, check_int

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "exponential")
# The keys of config.train that `make_optimizer` reads.
TRAIN_KEYS = ("optimizer", "learning_rate", "schedule", "warmup_steps", "decay_steps",
              "decay_rate", "weight_decay", "momentum", "grad_clip_norm")


def check_config(config, num_steps: int) -> None:
  """Raises ConfigError naming the first optimizer key of `config.train` that cannot work
  (e.g. warm-up as long as the run, which optax would report as `decay_steps=0`)."""
  check_choice(config, "train.optimizer", OPTIMIZERS, "adam")
  schedule = check_choice(config, "train.schedule", SCHEDULES, "constant")
  warmup = check_int(config, "train.warmup_steps", 0, 0)
  if schedule == "warmup_cosine" and warmup >= num_steps:
    raise ConfigError(f"config.train.warmup_steps={warmup} must be < train.num_steps="
                      f"{num_steps} (schedule warmup_cosine: warm-up must end before the run)")
  if schedule == "exponential":
    check_int(config, "train.decay_steps", 1, num_steps)
    check_float(config, "train.decay_rate", 0.5, above=0.0)
  check_float(config, "train.grad_clip_norm", 0.0, minimum=0.0)
  check_float(config, "train.weight_decay", 1e-4, minimum=0.0)
  check_float(config, "train.momentum", 0.0, minimum=0.0)


def make_schedule(train: Mapping[str, Any]) -> optax.Schedule:
  """`train.schedule` over `train.num_steps` at peak `train.learning_rate`."""
  lr, steps = train["learning_rate"], train["num_steps"]
  name = train.get("schedule", "constant")
  if name == "constant":
    return optax.constant_schedule(lr)
  if name == "cosine":
    return optax.cosine_decay_schedule(lr, steps)
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, train.get("warmup_steps", 0), steps)
  if name == "exponential":
    return optax.exponential_decay(lr, train.get("decay_steps", steps), train.get("decay_rate", 0.5),
                                   staircase=True)
  raise ValueError(f"train.schedule={name!r} is not one of {SCHEDULES}")


def make_optimizer(train: Mapping[str, Any]) -> optax.GradientTransformation:
  """Global-norm clipping (`train.grad_clip_norm`, 0 = off) then `train.optimizer`.

  The learning rate is injected as a hyperparameter so that it can be logged.
  """
  name = train.get("optimizer", "adam")
  factories = {
      "adam": lambda learning_rate: optax.adam(learning_rate),
      "adamw": lambda learning_rate: optax.adamw(learning_rate, weight_decay=train.get("weight_decay", 1e-4)),
      "rmsprop": lambda learning_rate: optax.rmsprop(learning_rate, decay=0.95, momentum=0.9),
      "sgd": lambda learning_rate: optax.sgd(learning_rate, momentum=train.get("momentum", 0.0)),
  }
  if name not in factories:
    raise ValueError(f"train.optimizer={name!r} is not one of {OPTIMIZERS}")
  optimizer = optax.inject_hyperparams(factories[name])(learning_rate=make_schedule(train))
  clip = train.get("grad_clip_norm", 0.0)
  if clip and clip > 0:
    return optax.chain(optax.clip_by_global_norm(clip), optimizer)
  return optimizer


def current_learning_rate(opt_state) -> Any:
  """The injected learning rate inside an optimizer state made by `make_optimizer`."""
  for state in (opt_state if isinstance(opt_state, tuple) else (opt_state,)):
    hyperparams = getattr(state, "hyperparams", None)
    if hyperparams is not None:
      return hyperparams["learning_rate"]
  return None
