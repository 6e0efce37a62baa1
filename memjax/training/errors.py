"""Errors the launchers turn into one-line messages instead of tracebacks."""


class ConfigError(ValueError):
  """A flag, config key, workdir or input that cannot work; the message names it."""
