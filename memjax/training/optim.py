"""Optimizer and learning-rate schedule from a config's `train` block (optax)."""
from typing import Any, Mapping

import optax

from memjax.errors import ConfigError, check_choice, check_float, check_int, config_value

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "exponential")
# The keys of config.train that `make_optimizer` reads.
TRAIN_KEYS = ("optimizer", "learning_rate", "schedule", "warmup_steps", "decay_steps",
              "decay_rate", "weight_decay", "momentum", "grad_clip_norm")


def check_config(config, num_steps: int) -> None:
  """Raises ConfigError naming the first optimizer key of `config.train` that cannot work.

  A warm-up as long as the run is not an error: `make_schedule` shortens it (so that
  `--config.train.num_steps=5` works with any config).
  """
  del num_steps  # the schedule adapts to the run's length
  check_choice(config, "train.optimizer", OPTIMIZERS, "adam")
  check_choice(config, "train.schedule", SCHEDULES, "constant")
  check_int(config, "train.warmup_steps", 0, 0)
  check_int(config, "train.decay_steps", 1, 1)
  # A rate in (0, 1] decays (1: constant); above 1 the step size would grow without bound.
  check_float(config, "train.decay_rate", 0.5, above=0.0)
  if float(config_value(config, "train.decay_rate", 0.5)) > 1.0:
    raise ConfigError(f"config.train.decay_rate={config.train.decay_rate!r} must be in (0, 1]")
  check_float(config, "train.grad_clip_norm", 0.0, minimum=0.0)
  check_float(config, "train.weight_decay", 1e-4, minimum=0.0)
  check_float(config, "train.momentum", 0.0, minimum=0.0, below=1.0)


def warmup_length(train: Mapping[str, Any]) -> int:
  """The warm-up `warmup_cosine` uses: `min(train.warmup_steps, train.num_steps - 1)`.

  A run shorter than its config's warm-up (e.g. `--config.train.num_steps=5` with 100
  warm-up steps) warms up over all but its last step, then decays in that one, so that
  short runs of any config work (optax refuses a decay of `num_steps - warmup <= 0` steps).
  """
  return max(0, min(int(train.get("warmup_steps", 0) or 0), int(train["num_steps"]) - 1))


def make_schedule(train: Mapping[str, Any]) -> optax.Schedule:
  """`train.schedule` over `train.num_steps` at peak `train.learning_rate` (lr):

      constant       lr
      cosine         lr (1 + cos(pi t / T)) / 2,                     T = num_steps
      warmup_cosine  lr t / W for t < W, then cosine from lr over T - W steps,
                     W = min(warmup_steps, T - 1) (`warmup_length`)
      exponential    lr decay_rate^floor(t / decay_steps)
  """
  lr, steps = train["learning_rate"], train["num_steps"]
  name = train.get("schedule", "constant")
  if name == "constant":
    return optax.constant_schedule(lr)
  if name == "cosine":
    return optax.cosine_decay_schedule(lr, steps)
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_length(train), steps)
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
