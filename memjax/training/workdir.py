"""A run's workdir: its saved config, and the check that a relaunch continues the same run.

`<workdir>/config.json` holds the run's config as flat dotted keys
(`{"model.memory_size": 128, ...}`); `load_config` reads it back as a
ConfigDict, for evaluation, plots and sampling of a finished run.
"""
import json
import pathlib
from typing import Any, Dict, Iterable

import jax
import ml_collections

from memjax.cores.registry import core_source
from memjax.errors import ConfigError

# Fields that may change between a run and its resumption: they do not change the
# maths (`parallel`: a run saved on 8 devices resumes on 4, checkpoints are resharded).
RESUMABLE_FIELDS = ("train.num_steps", "train.log_every", "train.eval_every",
                    "train.checkpoint_every", "train.keep_checkpoints", "train.stop_at_step",
                    "train.max_consecutive_nonfinite", "eval", "workdir_note", "parallel",
                    "label", "machine")
# Keys that configs gained after runs were made, with the value the loop used while
# the key did not exist: a workdir saved without the key resumes when the config holds it.
ADDED_FIELD_DEFAULTS = {"train.debug_nonfinite_steps": [], "train.carry_reset_probability": 0.0,
                        "train.segments_per_step": 1}
# Beside config.json: the file that registered a user's core (`register_core`), named by
# errors of later processes (plots) that have not imported it.
CORE_SOURCE_FILE = "core_source.json"


def flatten_config(config: ml_collections.ConfigDict, prefix: str = "") -> Dict[str, Any]:
  """{"a.b": value} for every leaf; tuples become lists (as JSON writes them)."""
  flat = {}
  for key, value in config.items():
    name = f"{prefix}{key}"
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      flat.update(flatten_config(value, name + "."))
    else:
      flat[name] = value.tolist() if hasattr(value, "tolist") else (
          list(value) if isinstance(value, tuple) else value)
  return flat


def unflatten_config(flat: Dict[str, Any]) -> ml_collections.ConfigDict:
  """The inverse of `flatten_config` (lists become tuples)."""
  config = ml_collections.ConfigDict()
  for name, value in sorted(flat.items()):
    node = config
    *parents, leaf = name.split(".")
    for parent in parents:
      if parent not in node:
        node[parent] = ml_collections.ConfigDict()
      node = node[parent]
    node[leaf] = tuple(value) if isinstance(value, list) else value
  return config


def matches(key: str, fields: Iterable[str]) -> bool:
  """`key` is one of `fields` or lies inside one of them (e.g. "eval.lengths" in "eval")."""
  return any(key == field or key.startswith(field + ".") for field in fields)


def check_workdir(config: ml_collections.ConfigDict, workdir: str,
                  resumable: Iterable[str] = ()) -> pathlib.Path:
  """Creates the workdir, checks it is writable and that it holds no other experiment.

  A workdir with saved checkpoints binds its config: relaunching it with a config
  that differs in anything but `RESUMABLE_FIELDS` (and the family's `resumable`
  fields) is refused. On a multi-host run only process 0 checks and writes
  config.json; the others get the path.

  Raises:
    ConfigError with a one-line message naming the workdir and the differing key.
  """
  if "://" in str(workdir):
    # pathlib would turn gs://b/x into the local folder gs:/b/x, and each host
    # of a slice would then write its own shards to its own disk.
    raise ConfigError(f"--workdir={workdir}: URLs are not supported; mount the bucket (e.g. "
                      "gcsfuse) or a shared filesystem on every host and pass that path")
  path = pathlib.Path(workdir)
  if jax.process_index() != 0:  # every process refuses a URL, only process 0 checks the rest
    return path
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / ".write_test"
    probe.write_text("ok")
    probe.unlink()
  except OSError as error:
    raise ConfigError(f"--workdir={workdir} is not writable: {error.strerror or error}") from None
  saved = path / "config.json"
  current = flatten_config(config)
  resumable = tuple(RESUMABLE_FIELDS) + tuple(resumable)
  # Only saved steps bind the workdir: a run that failed before its first save
  # leaves an empty checkpoints/ behind, and its workdir stays usable. (bAbI's
  # per-task runs keep theirs in task<N>/checkpoints.)
  steps = [step for pattern in ("checkpoints/*", "*/checkpoints/*") for step in path.glob(pattern)]
  if saved.exists() and any(step.is_dir() and step.name.isdigit() for step in steps):
    previous = read_config_json(saved)
    for key in sorted(set(previous) | set(current)):
      if matches(key, resumable):
        continue
      if key not in previous and current.get(key) == ADDED_FIELD_DEFAULTS.get(key, object()):
        continue
      if previous.get(key) != current.get(key):
        raise ConfigError(
            f"--workdir={workdir} holds checkpoints of another experiment: {key} was "
            f"{previous.get(key)!r} there, now {current.get(key)!r}; use a new --workdir")
  saved.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
  source = core_source(str(config.get("model", {}).get("name", "")))
  if source:  # a user's core: later processes (plots) must import this file to rebuild it
    (path / CORE_SOURCE_FILE).write_text(json.dumps({"model.name": config.model.name,
                                                     "file": source}) + "\n")
  return path


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run wrote to `<workdir>/config.json`, as a ConfigDict.

  Raises:
    ConfigError when the workdir has no config.json, or one that is not a saved config.
  """
  path = pathlib.Path(workdir) / "config.json"
  if not path.exists():
    raise ConfigError(f"--workdir={workdir} holds no config.json: is it a memjax run?")
  return unflatten_config(read_config_json(path))


def read_config_json(path: pathlib.Path) -> Dict[str, Any]:
  """The flat {dotted key: value} of a saved config.json.

  Raises:
    ConfigError naming the file when it is not such a JSON object (e.g. damaged on disk).
  """
  try:
    flat = json.loads(path.read_text())
  except UnicodeDecodeError:
    flat = None
  except ValueError as error:  # json's message names a line and column, not the file
    raise ConfigError(f"{path} is not valid JSON ({error}): remove it and relaunch training "
                      "with the run's config (which writes it anew), or use a new "
                      "--workdir") from None
  if not isinstance(flat, dict):
    raise ConfigError(f"{path} does not hold a memjax config (a JSON object of dotted keys): "
                      "remove it and relaunch training with the run's config (which writes it "
                      "anew), or use a new --workdir")
  return flat


def unregistered_core_error(workdir: str, config: ml_collections.ConfigDict,
                            error: Exception) -> Exception:
  """The error to raise when rebuilding a run's model fails: for a core a user registered
  that this process has not imported, a ConfigError naming the file to `--import`."""
  recorded = pathlib.Path(workdir) / CORE_SOURCE_FILE
  if "is not a registered core" not in str(error) or not recorded.exists():
    return error
  source = json.loads(recorded.read_text())["file"]
  return ConfigError(f"model.name={config.model.name!r} is not a registered core in this "
                     f"process; the run registered it from {source}: pass --import={source}")
