"""Errors the launchers turn into one-line messages instead of tracebacks."""


class ConfigError(ValueError):
  """A flag, config key, workdir or input that cannot work; the message names it."""


def positive_int(config, key: str, default=None) -> int:
  """`config.<key>` (dotted, e.g. "train.log_every") as an int >= 1, or a ConfigError naming it."""
  node = config
  *parents, leaf = key.split(".")
  for part in parents:
    node = node.get(part, {}) if hasattr(node, "get") else {}
  value = node.get(leaf, default) if hasattr(node, "get") else default
  try:
    number = int(value)
  except (TypeError, ValueError):
    raise ConfigError(f"config.{key}={value!r} must be a positive integer") from None
  if number < 1:
    raise ConfigError(f"config.{key}={value!r} must be >= 1")
  return number
