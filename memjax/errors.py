"""Errors the launchers turn into one-line messages, and the checks that raise them.

Every check names the config key and the range it must be in, e.g.
`config.train.log_every=0 must be >= 1`, so that a bad value stops a launch
before any data is read or anything compiles.
"""
import math
from typing import Any, Optional

_MISSING = object()


class ConfigError(ValueError):
  """A flag, config key, workdir or input that cannot work; the message names it."""


def config_value(config, key: str, default: Any = _MISSING) -> Any:
  """`config.<key>` for a dotted key (e.g. "train.log_every"), else `default`.

  Raises:
    ConfigError naming the key when it is absent and there is no default.
  """
  node = config
  for part in key.split("."):
    if not hasattr(node, "get") or part not in node:
      if default is _MISSING:
        raise ConfigError(f"config.{key} is missing")
      return default
    node = node[part]
  return node


def check_int(config, key: str, minimum: int = 1, default: Any = _MISSING,
              maximum: Optional[int] = None, note: str = "") -> int:
  """`config.<key>` as an int in [minimum, maximum], or a ConfigError naming it."""
  value = config_value(config, key, default)
  if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
    raise ConfigError(f"config.{key}={value!r} must be an integer >= {minimum}")
  if value < minimum:
    raise ConfigError(f"config.{key}={value!r} must be >= {minimum}{note}")
  if maximum is not None and value > maximum:
    raise ConfigError(f"config.{key}={value!r} must be <= {maximum}{note}")
  return int(value)


def check_float(config, key: str, default: Any = _MISSING, minimum: Optional[float] = None,
                above: Optional[float] = None, below: Optional[float] = None) -> float:
  """`config.<key>` as a finite float, `>= minimum`, `> above`, `< below` where given."""
  value = config_value(config, key, default)
  try:
    number = float(value)
  except (TypeError, ValueError):
    raise ConfigError(f"config.{key}={value!r} must be a number") from None
  if not math.isfinite(number):
    raise ConfigError(f"config.{key}={value!r} must be a finite number")
  if minimum is not None and number < minimum:
    raise ConfigError(f"config.{key}={value!r} must be >= {minimum}")
  if above is not None and number <= above:
    raise ConfigError(f"config.{key}={value!r} must be > {above}")
  if below is not None and number >= below:
    raise ConfigError(f"config.{key}={value!r} must be < {below}")
  return number


def check_choice(config, key: str, choices, default: Any = _MISSING) -> Any:
  """`config.<key>` if it is one of `choices`, else a ConfigError listing them."""
  value = config_value(config, key, default)
  if value not in choices:
    raise ConfigError(f"config.{key}={value!r} is not one of {tuple(choices)}")
  return value
